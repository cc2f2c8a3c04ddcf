"""Reading and writing 8-bit images as float arrays in [0, 1] (Pillow does the decoding)."""

from __future__ import annotations

import os
import tempfile
from importlib import resources

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["ImageError", "read_image", "write_image", "sample_image_path"]


class ImageError(ValueError):
    """An image that cannot be read or written, with the reason in one line."""


def sample_image_path() -> str:
    """Path of the picture bundled with the package (see ``panet/assets/README.md``)."""
    return str(resources.files("panet") / "assets" / "sample.png")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an 8-bit gray or RGB image as ``H x W x C`` float32 in [0, 1]."""
    path = os.fspath(path)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("P", "RGBA", "CMYK"):
                image = image.convert("RGB")   # alpha dropped: only the smoke job reads here
            elif image.mode == "LA":
                image = image.convert("L")
            elif image.mode not in ("L", "RGB"):
                raise ImageError(f"{path}: {image.mode} images (16-bit, float, ...) are not "
                                 "supported yet; use an 8-bit gray or RGB image")
            array = np.asarray(image, dtype=np.float32) / 255.0
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{path}: not a readable image ({error})") from None
    return array[..., None] if array.ndim == 2 else array


def write_image(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``H x W x C`` values in [0, 1] as an 8-bit image, atomically."""
    path = os.fspath(path)
    pixels = np.clip(np.round(np.asarray(array, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    folder = os.path.dirname(os.path.abspath(path))
    suffix = os.path.splitext(path)[1] or ".png"
    handle, temporary = tempfile.mkstemp(prefix=".partial-", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        Image.fromarray(pixels).save(temporary)
        os.replace(temporary, path)
    except BaseException as error:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(error, (OSError, ValueError, KeyError)):
            raise ImageError(f"{path}: cannot write ({error})") from None
        raise
