"""JPEG compression round trips with Pillow's encoder (libjpeg-turbo, standard tables)."""

from __future__ import annotations

import functools
import io

import numpy as np
import torch
from PIL import Image as PILImage

from panet.degradations._arrays import Image, as_float, channels_of
from panet.metrics import quantize, rgb_to_y


def jpeg_bytes(levels: np.ndarray, quality: int) -> bytes:
    """Encode ``H x W x C`` uint8 (C = 1 or 3; colour as 4:2:0) at ``quality``."""
    pixels = levels[..., 0] if levels.shape[2] == 1 else levels
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=int(quality), subsampling=2)
    return buffer.getvalue()


def encode_jpeg(image: np.ndarray, quality: int, *, gray_y: bool = False) -> bytes:
    """The JPEG file for ``H x W x C`` float-in-[0, 1] or uint8 data (Y only with ``gray_y``)."""
    if not 1 <= int(quality) <= 100 or int(quality) != quality:
        raise ValueError(f"JPEG quality must be an integer from 1 to 100, got {quality}")
    levels = quantize(image)
    if levels.shape[2] not in (1, 3):
        raise ValueError(f"JPEG needs gray or RGB images, got {levels.shape[2]} channels")
    if gray_y and levels.shape[2] == 3:
        levels = np.round(rgb_to_y(levels))
    return jpeg_bytes(levels.astype(np.uint8), int(quality))


def _roundtrip_one(image: np.ndarray, quality: int, gray_y: bool) -> np.ndarray:
    data = encode_jpeg(image, quality, gray_y=gray_y)
    with PILImage.open(io.BytesIO(data)) as decoded:
        out = np.asarray(decoded, dtype=np.float32) / 255.0
    return out[..., None] if out.ndim == 2 else out


def jpeg_roundtrip(image: Image, quality: int, *, gray_y: bool = False) -> Image:
    """Compress and decode. ``gray_y`` compresses only the BT.601 Y channel (the paper's
    CAR setting) and returns that one channel.

    >>> out = jpeg_roundtrip(np.full((16, 16, 3), 0.5), 10)
    >>> out.shape, bool(abs(out.mean() - 0.5) < 0.01)
    ((16, 16, 3), True)
    """
    image = as_float(image)
    channels_of(image)
    if not isinstance(image, torch.Tensor):
        return _roundtrip_one(image, quality, gray_y)
    flat = image.detach().reshape(-1, *image.shape[-3:]).cpu().double().numpy()
    outs = [_roundtrip_one(item.transpose(1, 2, 0), quality, gray_y) for item in flat]
    stacked = torch.from_numpy(np.stack(outs).transpose(0, 3, 1, 2).copy())
    return stacked.reshape(*image.shape[:-3], *stacked.shape[1:]).to(image.device, image.dtype)


@functools.lru_cache(maxsize=1)
def _standard_luma_tables() -> dict[int, tuple[int, ...]]:
    """The luminance table Pillow's encoder writes at every quality 1-100 (IJG scaling of
    the standard table), read back from real files so no table order is assumed."""
    tables = {}
    for quality in range(1, 101):
        with PILImage.open(io.BytesIO(jpeg_bytes(np.zeros((8, 8, 1), np.uint8), quality))) as im:
            tables[quality] = tuple(im.quantization[0])
    return tables


def jpeg_quality(path: str) -> tuple[int, bool] | None:
    """Estimate the IJG quality a JPEG file was saved with from its luminance quantisation
    table: ``(quality, exact)``, where ``exact`` says the table is the standard one at that
    quality; ``None`` for a file that is not a JPEG.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "q.jpg")
    >>> _ = open(path, "wb").write(encode_jpeg(np.random.rand(16, 16, 3), 37))
    >>> jpeg_quality(path)
    (37, True)
    """
    with PILImage.open(path) as image:
        if image.format != "JPEG" or not getattr(image, "quantization", None):
            return None
        table = np.asarray(image.quantization[0], dtype=np.float64)
    distances = {q: float(np.abs(table - np.asarray(t)).sum())
                 for q, t in _standard_luma_tables().items()}
    best = min(distances, key=lambda q: (distances[q], -q))
    return best, distances[best] == 0
