"""Semantic segmentation: image and mask files in, per-pixel classes out, with Segment Anything as the network."""
