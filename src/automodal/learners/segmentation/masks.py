"""Mask files: read as arrays of pixel values, what the values mean (decided once, on the training masks), and the
class-index arrays the network trains on.

A mask is an image of the same size as its image; each pixel value is a class. The rule that decides the classes,
applied to the values of all training masks together:

- values exactly {0, 255} while model.sam.ignore_label is 255: a binary data set saved as black-and-white images.
  255 is the foreground there, not ignored (a data set with ignored pixels also holds another value, e.g.
  {0, 1, 255}). Deciding on the whole set, not per file, keeps a class-index mask that happens to hold only 0
  and 255 (background and an ignored border) from being read as binary.
- otherwise every value except ignore_label is a class, in increasing order: {0, 1} is binary with 1 the
  foreground, {0, 128} too, and {0, 1, 2, 255} is three classes with ignored pixels.

Mode "1" files (one bit per pixel) read as {0, 1}; palette ("P") files as their palette indices, the usual way to
save class-index masks. Colour masks are refused, except when every pixel is grey (R = G = B, any alpha fully
opaque): masks exported as RGB are read as their grey value. JPEG masks are refused because lossy compression
changes the values along every edge.

The network's targets hold class c at pixels whose value is label_info["values"][c] and IGNORE_INDEX at ignored
pixels; decode_labels maps predicted classes back to the data's values."""

from __future__ import annotations

import os

import numpy as np

from ...errors import DataError

IGNORE_INDEX = -1          # ignored pixels in class-index targets, whatever value marks them in the files
LOSSY_SUFFIXES = (".jpg", ".jpeg")
RGB_ADVICE = ("Save each mask as a single-channel PNG whose pixel values are class indices (0, 1, 2, ...; "
              "ignore_label for pixels to ignore), or a binary mask with values 0 and 255 (or 0 and 1).")


def read_mask(path: str, column: str) -> np.ndarray:
    """The pixel values of one mask file as a 2-D integer array."""
    from PIL import Image

    if str(path).lower().endswith(LOSSY_SUFFIXES):
        raise DataError(f"Mask '{path}' (column '{column}') is a JPEG: lossy compression changes class values "
                        f"along edges. {RGB_ADVICE}")
    if not os.path.isfile(path):
        raise DataError(f"Mask file '{path}' (column '{column}') does not exist. Check the path; relative paths "
                        f"are read from '{os.getcwd()}'.")
    try:
        with Image.open(path) as image:
            if image.mode == "1":
                return np.asarray(image, dtype=np.uint8)        # bool pixels -> {0, 1}
            values = np.asarray(image)
    except Exception as exc:  # PIL reports bad files with many types (truncated data, unknown format)
        raise DataError(f"Cannot read mask '{path}' (column '{column}'): {type(exc).__name__}: {exc}. Replace "
                        "or remove the file.") from exc
    if values.ndim == 3:
        values = _grey(values, path, column)
    if values.ndim != 2:
        raise DataError(f"Mask '{path}' (column '{column}') has shape {values.shape}, not height x width. "
                        f"{RGB_ADVICE}")
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.array_equal(values, np.round(values)):
            raise DataError(f"Mask '{path}' (column '{column}') holds fractional values; masks hold whole class "
                            f"indices. {RGB_ADVICE}")
        values = values.astype(np.int64)
    return values


def _grey(values: np.ndarray, path: str, column: str) -> np.ndarray:
    colour = values[..., :3] if values.shape[-1] >= 3 else values[..., :1]
    alpha = values[..., 3] if values.shape[-1] == 4 else values[..., 1] if values.shape[-1] == 2 else None
    opaque = alpha is None or np.all(alpha == np.iinfo(values.dtype).max)
    if not opaque or not np.all(colour == colour[..., :1]):
        raise DataError(f"Mask '{path}' (column '{column}') is a colour image ({values.shape[-1]} channels); "
                        f"colours are not read as classes. {RGB_ADVICE}")
    return colour[..., 0]


def _distinct(values: np.ndarray) -> np.ndarray:
    if values.dtype == np.uint8:       # counting 256 bins is several times faster than sorting the pixels
        return np.flatnonzero(np.bincount(values.ravel(), minlength=256))
    return np.unique(values)


def mask_label_info(paths, column: str, ignore_label: int) -> dict:
    """What the training masks' values mean, as JSON data: {"values": the data's value of each class, in class
    order, "num_classes", "binary", "ignore_label": the value of ignored pixels, or None when 255 is the
    foreground of a {0, 255} data set}."""
    seen: set = set()
    for path in paths:
        seen.update(int(v) for v in _distinct(read_mask(path, column)))
    if seen == {0, 255} and ignore_label == 255:
        values, ignored = [0, 255], None
    else:
        values, ignored = sorted(seen - {ignore_label}), ignore_label
    if len(values) < 2:
        only = f"only the value {values[0]}" if values else "no value"
        raise DataError(f"The training masks in column '{column}' hold {only} apart from ignore_label "
                        f"({ignore_label}); segmentation needs at least two classes (e.g. background 0 and "
                        "foreground 255 or 1). Check the masks, or model.sam.ignore_label.")
    return {"values": values, "num_classes": len(values), "binary": len(values) == 2, "ignore_label": ignored}


def encode_mask(values: np.ndarray, label_info: dict, path: str, column: str) -> np.ndarray:
    """Class indices (int64) of a mask's pixel values, IGNORE_INDEX where ignored. Values the training masks did
    not hold are an error: the model has no class for them."""
    known = np.asarray(label_info["values"], dtype=np.int64)
    pixels = values.astype(np.int64, copy=False)
    position = np.clip(np.searchsorted(known, pixels), 0, len(known) - 1)
    found = known[position] == pixels
    ignored = label_info["ignore_label"]
    if ignored is not None:
        ignore = pixels == ignored
        found |= ignore
        position = np.where(ignore, IGNORE_INDEX, position)
    if not found.all():
        unknown = np.unique(pixels[~found])
        raise DataError(f"Mask '{path}' (column '{column}') holds value(s) {unknown[:5].tolist()} that no training "
                        f"mask holds; the model knows the values {label_info['values']} (and ignore_label "
                        f"{ignored}). Remove the file, or train on masks that hold these classes.")
    return position


def decode_labels(classes: np.ndarray, label_info: dict) -> np.ndarray:
    """The data's pixel values of predicted class indices (uint8 when they fit, for saving as PNG)."""
    known = np.asarray(label_info["values"])
    dtype = np.uint8 if known.max() <= 255 and known.min() >= 0 else np.int64
    return known.astype(dtype)[classes]


def check_mask_size(mask_path: str, mask_shape: tuple, image_path: str, image_size: tuple, column: str):
    """A mask must cover its image pixel for pixel. mask_shape is (height, width); image_size is PIL's (width,
    height)."""
    mask_size = (mask_shape[1], mask_shape[0])
    if tuple(mask_size) != tuple(image_size):
        raise DataError(f"Mask '{mask_path}' (column '{column}') is {mask_size[0]}x{mask_size[1]} pixels but its "
                        f"image '{image_path}' is {image_size[0]}x{image_size[1]} (width x height). A mask must "
                        "have the size of its image; resize it with nearest-neighbour interpolation.")


def run_lengths(mask: np.ndarray) -> dict:
    """A mask as runs of equal values in row-major order: {"size": [height, width], "values": [...], "counts":
    [...]}; np.repeat(values, counts).reshape(size) gives it back."""
    flat = np.asarray(mask).ravel()
    if flat.size == 0:
        return {"size": list(np.shape(mask)), "values": [], "counts": []}
    starts = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
    counts = np.diff(np.append(starts, flat.size))
    return {"size": [int(n) for n in np.shape(mask)], "values": [v.item() for v in flat[starts]],
            "counts": [int(n) for n in counts]}
