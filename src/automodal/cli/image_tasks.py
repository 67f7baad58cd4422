"""Object detection and semantic segmentation tasks of a project: their data read, checked and stored as the
project stores tables, the problem type detected where the data leave no doubt, folds over images, the data a fold's
fit reads, and predictions written per image.

Stored tables hold one row per image with its absolute path in `image`:
    detection      the label column (`rois` unless data.NAME.label says otherwise) as JSON text
                   [[x1, y1, x2, y2, class], ...] in pixels, boxes outside the image clipped, rows of the same image
                   merged; `image_id` as the COCO file numbered it (COCO data)
    segmentation   the label column as absolute paths of mask images, each checked to be its image's size

Predictions of a fold's model, under predictions/TASK/foldK/:
    detection      SPLIT.parquet: row, split, image, bboxes (JSON text: [{class, class_id, bbox, score}, ...], bbox
                   in model.mmdet_image.output_bbox_format, named in column bbox_format), boxes (their number);
                   SPLIT.coco.json: COCO results [{image_id, category_id, bbox: [x, y, width, height], score}]
    segmentation   SPLIT.parquet: row, split, image, mask (path of the mask PNG, in the training masks' values),
                   run_lengths (JSON text {size, values, counts}: np.repeat(values, counts).reshape(size));
                   SPLIT.masks/ROW.png; SPLIT.proba.npz: per row (key: the row number) the per-pixel class
                   probabilities (classes, height, width) as float16, which `post ensemble` averages
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
from PIL import Image

from ..errors import AutomodalError, DataError
from ..learners.contract import json_value
from ..learners.detection.coco import coco_results, is_coco
from ..learners.image_tasks.images import IMAGE_COLUMN, absolute_paths, image_size
from ..learners.registry import family_of
from ..learners.segmentation import masks
from .options import OptionError
from .workspace import write_parquet

DETECTION, SEGMENTATION = "object_detection", "semantic_segmentation"
IMAGE_TASKS = (DETECTION, SEGMENTATION)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_IGNORE_LABEL = 255          # model.sam.ignore_label's default: mask values read at create time
NO_BOXES = "(no boxes)"


def is_image_task(problem_type) -> bool:
    return problem_type in IMAGE_TASKS


def family_name(problem_type: str) -> str:
    return family_of(problem_type).family


# ---------------------------------------------------------------- the problem type
def declared_problem_type(spec: dict, name: str) -> str | None:
    """data.NAME.problem_type, checked against the registered families."""
    value = spec.get("problem_type")
    if value is None:
        return None
    try:
        family_of(value)
    except DataError as error:
        raise OptionError(f"data.{name}.problem_type: {error}") from None
    return str(value).lower()


def _box_list(value) -> list | None:
    """The value as a list of boxes (5-element lists), or None when it is not one."""
    if isinstance(value, str):
        if not value.strip().startswith("["):
            return None
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, (list, tuple, np.ndarray)):
        return None
    boxes = list(value)
    if all(isinstance(b, (list, tuple, np.ndarray)) and len(b) == 5 for b in boxes):
        return boxes
    return None


def detect_problem_type(table: pd.DataFrame, label: str) -> str | None:
    """object_detection when the label column holds box lists, semantic_segmentation when it holds image files
    beside an `image` column; None otherwise (a table task, whose type the label's values decide)."""
    if label not in table.columns:
        return None
    values = table[label].dropna().head(200)
    if values.empty:
        return None
    boxes = [_box_list(v) for v in values]
    if all(b is not None for b in boxes) and any(len(b) for b in boxes):
        return DETECTION
    if IMAGE_COLUMN in table.columns and values.map(lambda v: isinstance(v, str)).all() \
            and values.str.lower().str.endswith(IMAGE_SUFFIXES).all():
        return SEGMENTATION
    return None


# ---------------------------------------------------------------- reading and storing a split
def read_split(problem_type: str, source: str, files: list | None, table: pd.DataFrame | None, label: str,
               what: str, labelled: bool) -> tuple[pd.DataFrame, dict]:
    """(the split as stored: one row per image, absolute paths, checked labels; what the data set records: COCO
    categories). `files` / `table` are the split's CSV / Parquet files as read; None for a COCO file."""
    try:
        if problem_type == DETECTION:
            return _detection_split(source, files, table, label, what, labelled)
        return _segmentation_split(source, files, table, label, what, labelled)
    except DataError as error:
        raise DataError(str(error).replace("Pass label=", "Set data.NAME.label to ")) from None


def _resolve_images(table: pd.DataFrame, files: list, what: str, column: str = IMAGE_COLUMN) -> list:
    if column not in table.columns:
        raise DataError(f"{what}: no '{column}' column; its columns are {list(table.columns)[:20]}. An image task "
                        f"needs a column '{IMAGE_COLUMN}' of image paths (relative ones are read from the table's "
                        "directory).")
    roots = tuple(dict.fromkeys(os.path.dirname(os.path.abspath(f)) for f in files))
    return absolute_paths(table[column], what, roots, column=column)


def _detection_split(source, files, table, label, what, labelled):
    # deferred: the detection reader loads torch (3 s measured), which creating a table task does without
    from ..learners.detection.data import BOXES, CLASSES
    from ..learners.detection.data import read_frame as read_detection_frame

    extra = {}
    if is_coco(source):
        frame, categories = read_detection_frame(os.path.abspath(source), label, what, labelled=True)
        extra = {"categories": _plain(categories), "category_ids": _plain(frame.attrs.get("category_ids"))}
        if not labelled:
            frame = frame.drop(columns=[label, BOXES, CLASSES])
    else:
        table = table.copy()
        table[IMAGE_COLUMN] = _resolve_images(table, files, what)
        if labelled and label not in table.columns:
            raise DataError(f"{what}: label column '{label}' of boxes is not in {files[0]}; its columns are "
                            f"{list(table.columns)[:20]}. Set data.NAME.label to the column of "
                            "[[x1, y1, x2, y2, class], ...] lists.")
        frame, _ = read_detection_frame(table, label, what, labelled=labelled)
    if labelled:
        frame[label] = [json.dumps([[*map(float, box), _plain(cls)] for box, cls in zip(boxes.tolist(), classes)])
                        for boxes, classes in zip(frame[BOXES], frame[CLASSES])]
        frame = frame.drop(columns=[BOXES, CLASSES])
    elif label in frame.columns:
        frame = frame.drop(columns=[label])
    frame.attrs = {}
    return _merge_duplicates(frame, label if labelled else None, what), extra


def _merge_duplicates(frame: pd.DataFrame, label: str | None, what: str) -> pd.DataFrame:
    """One row per image: rows of the same image have their boxes joined (the first row's other cells kept)."""
    repeated = frame[IMAGE_COLUMN].duplicated(keep=False)
    if not repeated.any():
        return frame.reset_index(drop=True)
    merged = frame.drop_duplicates(IMAGE_COLUMN).reset_index(drop=True)
    if label is not None:
        joined = frame.groupby(IMAGE_COLUMN, sort=False)[label].agg(
            lambda cells: json.dumps([box for cell in cells for box in json.loads(cell)]))
        merged[label] = merged[IMAGE_COLUMN].map(joined)
    merged.attrs["merged"] = int(repeated.sum())
    return merged


def _segmentation_split(source, files, table, label, what, labelled):
    if is_coco(source):
        raise OptionError(f"{what}: {source} is a COCO file; semantic segmentation reads a CSV or Parquet table of "
                          f"'{IMAGE_COLUMN}' paths and a label column of mask-image paths.")
    table = table.copy()
    table[IMAGE_COLUMN] = _resolve_images(table, files, what)
    duplicated = table[IMAGE_COLUMN][table[IMAGE_COLUMN].duplicated()]
    if len(duplicated):
        raise DataError(f"{what}: image {duplicated.iloc[0]} has more than one row; segmentation takes one mask per "
                        "image (merge its masks into one class-index mask).")
    if not labelled:
        return table.drop(columns=[c for c in (label,) if c in table.columns]).reset_index(drop=True), {}
    if label not in table.columns:
        raise DataError(f"{what}: label column '{label}' of mask images is not in {files[0]}; its columns are "
                        f"{list(table.columns)[:20]}. Set data.NAME.label to the column of mask paths.")
    table[label] = _resolve_images(table, files, what, column=label)
    for image, mask in zip(table[IMAGE_COLUMN], table[label]):
        masks.check_mask_size(mask, image_size(mask, what)[::-1], image, image_size(image, what), label)
    return table.reset_index(drop=True), {}


def _plain(value):
    """NumPy scalars (and lists of them) as plain JSON values."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return json_value(value)


# ---------------------------------------------------------------- tasks: classes and folds
def rois(cell) -> list:
    return json.loads(cell) if isinstance(cell, str) else []


def task_labels(problem_type: str, table: pd.DataFrame, label: str, dataset: dict) -> tuple[list, list]:
    """(the task's classes, a stratum per image for balanced folds).

    detection: the COCO categories in id order, else the box classes as the detector orders them; an image's
    stratum is its most frequent class. segmentation: the masks' values (model.sam.ignore_label's default left out);
    an image's stratum is the set of classes its mask holds."""
    if problem_type == DETECTION:
        per_image = [[box[4] for box in rois(cell)] for cell in table[label]]
        seen = {str(c): c for classes in per_image for c in classes}
        if dataset.get("categories"):
            classes = list(dataset["categories"])
        else:
            if not seen:
                raise DataError(f"the data set has no boxes in '{label}'; a detector needs boxes to learn from.")
            classes = sorted(seen.values(), key=lambda c: (isinstance(c, str), c))
        strata = [str(pd.Series(c).astype(str).mode().iloc[0]) if c else NO_BOXES for c in per_image]
        return classes, strata
    info = masks.mask_label_info(table[label], label, DEFAULT_IGNORE_LABEL)
    classes = [int(v) for v in info["values"]]
    strata = [",".join(str(v) for v in np.unique(masks.read_mask(path, label)).tolist() if v in classes)
              for path in table[label]]
    return classes, strata


def label_summary(problem_type: str, classes: list, table: pd.DataFrame, label: str) -> str:
    if problem_type == DETECTION:
        count = sum(len(rois(cell)) for cell in table[label])
        return f"{len(classes)} classes ({', '.join(map(str, classes[:8]))}), {count} boxes"
    return f"{len(classes)} mask values ({', '.join(map(str, classes[:8]))})"


# ---------------------------------------------------------------- what a fit reads
def coco_file(frame: pd.DataFrame, label: str, classes: list, category_ids: list | None, path: str) -> str:
    """The frame's images and boxes as a COCO file whose categories are the task's classes, so that every fold's
    detector knows every class in one order (a class missing from a fold's images included)."""
    ids = category_ids or list(range(1, len(classes) + 1))
    index = {str(c): i for i, c in zip(ids, classes)}
    images, annotations = [], []
    image_ids = frame["image_id"].tolist() if "image_id" in frame.columns else list(range(len(frame)))
    for image_id, image, cell in zip(image_ids, frame[IMAGE_COLUMN], frame[label]):
        images.append({"id": _plain(image_id), "file_name": image})
        for x1, y1, x2, y2, cls in rois(cell):
            annotations.append({"id": len(annotations) + 1, "image_id": _plain(image_id), "category_id": index[str(cls)],
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"images": images, "annotations": annotations,
                   "categories": [{"id": i, "name": c} for i, c in zip(ids, classes)]}, handle)
    return path


# ---------------------------------------------------------------- predictions
def write_predictions(predictor, frame: pd.DataFrame, split: str, directory: str, rows: np.ndarray,
                      category_ids: list | None = None):
    """A fold model's predictions of one split's images, in the files the module docstring lists."""
    features = frame[[c for c in frame.columns if c not in (predictor.label,)]]
    if predictor.problem_type == DETECTION:
        return _detection_predictions(predictor, features, split, directory, rows, category_ids)
    proba = predictor.predict_proba(features, as_pandas=False)
    write_masks(directory, split, rows, frame[IMAGE_COLUMN].tolist(), proba, predictor.learner.labels)


def _detection_predictions(predictor, features, split, directory, rows, category_ids):
    boxes = predictor.predict(features)["bboxes"].tolist()
    fmt = predictor.learner.config["model.mmdet_image.output_bbox_format"]
    write_boxes(directory, split, rows, features[IMAGE_COLUMN].tolist(), boxes, fmt,
                features["image_id"].tolist() if "image_id" in features.columns else list(rows),
                category_ids or list(range(1, len(predictor.class_labels) + 1)))


def write_boxes(directory: str, split: str, rows, images: list, boxes: list, fmt: str, image_ids: list,
                category_ids: list):
    out = pd.DataFrame({"row": np.asarray(rows), "split": split, "image": images,
                        "bboxes": [json.dumps(b) for b in boxes], "boxes": [len(b) for b in boxes],
                        "bbox_format": fmt})
    write_parquet(out, os.path.join(directory, f"{split}.parquet"))
    with open(os.path.join(directory, f"{split}.coco.json"), "w", encoding="utf-8") as handle:
        json.dump(coco_results(boxes, image_ids, category_ids, fmt), handle)


def write_masks(directory: str, split: str, rows, images: list, proba: list, labels: dict):
    """Mask PNGs, run lengths and float16 probabilities of per-image class probabilities (classes, H, W)."""
    folder = os.path.join(directory, f"{split}.masks")
    os.makedirs(folder, exist_ok=True)
    paths, lengths, arrays = [], [], {}
    for row, p in zip(rows, proba):
        p = np.asarray(p, dtype=np.float32)
        mask = masks.decode_labels(p.argmax(0), labels)
        path = os.path.join(folder, f"{int(row)}.png")
        save_mask(mask, path)
        paths.append(path)
        lengths.append(json.dumps(masks.run_lengths(mask)))
        arrays[str(int(row))] = p.astype(np.float16)
    write_parquet(pd.DataFrame({"row": np.asarray(rows), "split": split, "image": images, "mask": paths,
                                "run_lengths": lengths}), os.path.join(directory, f"{split}.parquet"))
    temporary = os.path.join(directory, f"{split}.proba.tmp-{os.getpid()}.npz")
    np.savez_compressed(temporary, **arrays)
    os.replace(temporary, os.path.join(directory, f"{split}.proba.npz"))


def save_mask(mask: np.ndarray, path: str):
    if mask.dtype != np.uint8:
        if mask.min() < 0 or mask.max() > 65535:
            raise AutomodalError(f"mask values {mask.min()}..{mask.max()} do not fit a PNG; {path} not written.")
        mask = mask.astype(np.uint16)
    Image.fromarray(mask).save(path)


def read_probabilities(directory: str, split: str) -> dict:
    """{row: (classes, H, W) float32} of a stored split."""
    with np.load(os.path.join(directory, f"{split}.proba.npz"), allow_pickle=False) as stored:
        return {int(key): stored[key].astype(np.float32) for key in stored.files}
