"""What the image-task families (detection, segmentation) share: the contract on per-family hooks, the Lightning fit
and module, and reading image files."""
