"""A store of decoded images, so that training and prediction skip decoding (and shrinking) image files.

Images are kept as RGB bytes in one file (pixels.bin) with an index (index.json: path -> offset, height, width),
downscaled so that the shorter side is at most `max_side` (smaller images are kept as they are). While a store is
active (`active(store)`), load_image reads the images it holds from it; others are decoded as usual. The key of
a store hashes each file's path, size and modification time and the store's settings, so a changed file or a
changed setting makes a new store."""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager

import numpy as np
from PIL import Image

FORMAT_VERSION = 1
_ACTIVE = None


def store_key(paths: list, max_side: int) -> str:
    digest = hashlib.sha256(json.dumps({"format_version": FORMAT_VERSION, "max_side": max_side}).encode())
    for path in sorted(set(paths)):
        try:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()[:16]


class ImageStore:
    def __init__(self, directory: str):
        self.directory = directory
        with open(os.path.join(directory, "index.json"), encoding="utf-8") as handle:
            self.index = json.load(handle)["images"]
        size = os.path.getsize(os.path.join(directory, "pixels.bin"))
        self.pixels = np.memmap(os.path.join(directory, "pixels.bin"), dtype=np.uint8, mode="r",
                                shape=(size,)) if size else np.zeros(0, np.uint8)

    def get(self, path: str):
        entry = self.index.get(path)
        if entry is None:
            return None
        offset, height, width = entry
        return Image.fromarray(np.asarray(self.pixels[offset:offset + height * width * 3]).reshape(height, width, 3))

    def __contains__(self, path) -> bool:
        return path in self.index

    @classmethod
    def build(cls, directory: str, paths: list, max_side: int, load_image) -> "ImageStore":
        """Decode every readable image once with load_image(path, warned) (data.image's, which reads through this
        store); unreadable ones are left out (they stay missing when read)."""
        staging = f"{directory}.tmp-{os.getpid()}"
        os.makedirs(staging, exist_ok=True)
        index, offset = {}, 0
        with open(os.path.join(staging, "pixels.bin"), "wb") as out:
            for path in sorted(set(paths)):
                image = load_image(path, warned=set())
                if image is None:
                    continue
                shorter = min(image.size)
                if shorter > max_side:
                    scale = max_side / shorter
                    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                         Image.Resampling.BICUBIC)
                pixels = np.asarray(image, dtype=np.uint8)
                out.write(pixels.tobytes())
                index[path] = [offset, pixels.shape[0], pixels.shape[1]]
                offset += pixels.size
        with open(os.path.join(staging, "index.json"), "w", encoding="utf-8") as handle:
            json.dump({"format_version": FORMAT_VERSION, "max_side": max_side, "images": index}, handle)
        os.replace(staging, directory)
        return cls(directory)


def active_store():
    return _ACTIVE


@contextmanager
def active(store: ImageStore | None):
    """Images held by `store` are read from it instead of their files, inside this block."""
    global _ACTIVE
    previous, _ACTIVE = _ACTIVE, store
    try:
        yield store
    finally:
        _ACTIVE = previous
