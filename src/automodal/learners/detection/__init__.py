"""Object detection on torchvision detectors: problem_type="object_detection"."""
