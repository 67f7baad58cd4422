"""Detection data as AutoGluon takes it: a COCO json file, or a frame with an `image` column and a label column
(`rois`) of boxes [[x1, y1, x2, y2, class], ...] per image (a list, or the same as a JSON string). An image with no
boxes has an empty list.

Boxes are in pixels of the image. A box reaching outside its image is clipped to it; a box with no area left
(x2 <= x1 or y2 <= y1, or wholly outside) is dropped; each is counted in one warning per data set."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pandas as pd
import torch

from ...data.frames import read_frame as read_table
from ...errors import DataError
from ..image_tasks.images import IMAGE_COLUMN, absolute_paths, image_column, image_size, read_rgb
from .coco import is_coco

logger = logging.getLogger("automodal")

BOXES, CLASSES = "_boxes", "_classes"      # parsed columns added to the frame


def read_coco(path: str, label: str) -> tuple[pd.DataFrame, list]:
    """A COCO json as a frame (image, label) and its category names in id order."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"COCO annotation file '{path}' does not exist.")
    try:
        with open(path, encoding="utf-8") as handle:
            coco = json.load(handle)
        images, categories = coco["images"], sorted(coco.get("categories", []), key=lambda c: c["id"])
        names = {c["id"]: c["name"] for c in categories}
        boxes: dict = {image["id"]: [] for image in images}
        for note in coco.get("annotations", []):
            x, y, w, h = note["bbox"]
            boxes[note["image_id"]].append([x, y, x + w, y + h, names.get(note["category_id"],
                                                                            note["category_id"])])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"'{path}' is not a COCO detection file ({type(exc).__name__}: {exc}); it needs 'images' "
                        "(id, file_name), 'annotations' (image_id, bbox as [x, y, width, height], category_id) "
                        "and 'categories' (id, name).") from exc
    # file names are relative to the json's folder or to its parent (an annotations/ folder beside images/)
    folder = os.path.dirname(os.path.abspath(path))
    frame = pd.DataFrame({IMAGE_COLUMN: [image["file_name"] for image in images],
                          label: [boxes[image["id"]] for image in images],
                          "image_id": [image["id"] for image in images]})
    frame.attrs["roots"] = (folder, os.path.dirname(folder))
    frame.attrs["category_ids"] = [c["id"] for c in categories]
    return frame, [c["name"] for c in categories]


def _parse_rois(value, row, label: str, what: str) -> list:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise DataError(f"{what}: row {row!r} of '{label}' is not a list of boxes: {value[:80]!r}. Give "
                            "[[x1, y1, x2, y2, class], ...] (a list or its JSON text).") from None
    if value is None or (not isinstance(value, (list, tuple, np.ndarray)) and pd.isna(value)):
        return []
    rois = []
    for roi in value:
        if not isinstance(roi, (list, tuple, np.ndarray)) or len(roi) != 5:
            raise DataError(f"{what}: row {row!r} of '{label}' has {roi!r}, not a box [x1, y1, x2, y2, class].")
        try:
            coordinates = [float(v) for v in roi[:4]]
        except (TypeError, ValueError):
            raise DataError(f"{what}: row {row!r} of '{label}' has box {list(roi)!r} whose coordinates are not "
                            "numbers.") from None
        cls = roi[4]
        rois.append(coordinates + [cls.item() if isinstance(cls, np.generic) else cls])
    return rois


def read_frame(data, label: str, what: str, labelled: bool) -> tuple[pd.DataFrame, list | None]:
    """(frame with absolute image paths and, when labelled, parsed BOXES / CLASSES, the COCO category names)."""
    categories = None
    if is_coco(data):
        frame, categories = read_coco(data, label)
    elif isinstance(data, (str, os.PathLike)) and not os.fspath(data).lower().endswith((".csv", ".parquet", ".pq")):
        frame = pd.DataFrame({IMAGE_COLUMN: [os.fspath(data)]})      # one image file
    elif isinstance(data, (list, tuple)):
        frame = pd.DataFrame({IMAGE_COLUMN: list(data)})              # image files
    else:
        frame = read_table(data, what).copy()
    roots = frame.attrs.get("roots", ("",))
    frame[IMAGE_COLUMN] = absolute_paths(image_column(frame, what), what, roots)
    if not labelled:
        return frame, categories
    if label not in frame.columns:
        raise DataError(f"{what} has no label column '{label}' of boxes; its columns are {list(frame.columns)}. "
                        "Pass label=<the column of [[x1, y1, x2, y2, class], ...] lists> to the predictor.")
    clipped = dropped = 0
    all_boxes, all_classes = [], []
    for row, path, value in zip(frame.index, frame[IMAGE_COLUMN], frame[label]):
        rois = _parse_rois(value, row, label, what)
        width, height = image_size(path, what) if rois else (0, 0)
        boxes, classes = [], []
        for x1, y1, x2, y2, cls in rois:
            inside = [min(max(x1, 0.0), width), min(max(y1, 0.0), height),
                      min(max(x2, 0.0), width), min(max(y2, 0.0), height)]
            if inside[2] <= inside[0] or inside[3] <= inside[1]:
                dropped += 1
                continue
            clipped += inside != [x1, y1, x2, y2]
            boxes.append(inside)
            classes.append(cls)
        all_boxes.append(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
        all_classes.append(classes)
    if clipped or dropped:
        logger.warning("%s: clipped %d box(es) reaching outside their image; dropped %d with no area inside it "
                       "(x2 <= x1, y2 <= y1, or wholly outside).", what, clipped, dropped)
    frame[BOXES], frame[CLASSES] = all_boxes, all_classes
    return frame, categories


class DetectionDataset(torch.utils.data.Dataset):
    """Items: (image as float CHW in [0, 1], {"boxes": xyxy pixels, "labels": class index + 1}); 0 is background.
    Training flips half of the images left to right, boxes with them."""

    def __init__(self, frame: pd.DataFrame, classes: list | None, training: bool):
        self.paths = frame[IMAGE_COLUMN].tolist()
        self.boxes = frame[BOXES].tolist() if BOXES in frame.columns and classes is not None else None
        if self.boxes is not None:
            index = {str(c): i + 1 for i, c in enumerate(classes)}
            self.labels = [np.asarray([index[str(c)] for c in row], dtype=np.int64) for row in frame[CLASSES]]
        self.training = training

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        pixels = read_rgb(self.paths[i])
        image = torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255)
        if self.boxes is None:
            return image, None
        boxes = torch.from_numpy(self.boxes[i].copy())
        if self.training and torch.rand(()) < 0.5:
            image = image.flip(-1)
            width = image.shape[-1]
            boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)
        return image, {"boxes": boxes, "labels": torch.from_numpy(self.labels[i])}


def collate(items: list) -> dict:
    images = [image for image, _ in items]
    targets = [target for _, target in items]
    return {"image": images, "label": None if targets[0] is None else targets}
