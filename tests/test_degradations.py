"""Degradations: noise, Bayer mosaics, JPEG and Matlab-style bicubic resizing."""

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from panet.degradations import (add_gaussian_noise, bayer_masks, imresize, jpeg_roundtrip,
                                matlab_resize_weights, mosaic)
from panet.metrics import psnr


@pytest.fixture
def image():
    rng = np.random.default_rng(3)
    return np.round(rng.random((24, 20, 3)) * 255) / 255


# ---- noise ----------------------------------------------------------------------------

def test_noise_is_reproducible_clipped_and_8_bit(image):
    a, b = add_gaussian_noise(image, 30, seed=5), add_gaussian_noise(image, 30, seed=5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, add_gaussian_noise(image, 30, seed=6))
    assert a.min() >= 0 and a.max() <= 1 and np.array_equal(a * 255, np.round(a * 255))


def test_unclipped_noise_has_the_requested_level():
    flat = np.full((200, 200, 3), 0.5)
    noisy = add_gaussian_noise(flat, 50, clip=False, seed=0)
    assert np.std(noisy - flat) * 255 == pytest.approx(50, rel=0.01)


def test_torch_noise_per_image_levels():
    batch = torch.full((2, 3, 64, 64), 0.5)
    noisy = add_gaussian_noise(batch, torch.tensor([10.0, 40.0]), clip=False, seed=1)
    stds = (noisy - batch).flatten(1).std(dim=1) * 255
    assert stds[0].item() == pytest.approx(10, rel=0.05)
    assert stds[1].item() == pytest.approx(40, rel=0.05)
    with pytest.raises(ValueError):
        add_gaussian_noise(batch, -1)


# ---- mosaic ---------------------------------------------------------------------------

@pytest.mark.parametrize("pattern, red_at", [("RGGB", (0, 0)), ("BGGR", (1, 1)),
                                             ("GRBG", (0, 1)), ("GBRG", (1, 0))])
def test_bayer_patterns(image, pattern, red_at):
    masks = bayer_masks(4, 4, pattern)
    assert masks.sum(axis=0).tolist() == np.ones((4, 4)).tolist()   # one colour per pixel
    assert masks[0][red_at] and masks[1].sum() == 8
    out = mosaic(image, pattern)
    assert np.array_equal(out[red_at[0]::2, red_at[1]::2, 0], image[red_at[0]::2, red_at[1]::2, 0])
    assert np.count_nonzero(out.sum(axis=2) == out.max(axis=2)) == out.shape[0] * out.shape[1]
    tensor = mosaic(torch.from_numpy(image.transpose(2, 0, 1))[None], pattern)
    assert np.array_equal(tensor[0].numpy().transpose(1, 2, 0), out)


def test_mosaic_errors(image):
    with pytest.raises(ValueError, match="unknown Bayer pattern"):
        mosaic(image, "RGBG")
    with pytest.raises(ValueError, match="RGB image"):
        mosaic(image[..., :1])


# ---- JPEG -----------------------------------------------------------------------------

def test_jpeg_matches_pillow_and_quality_orders(image):
    big = imresize(image, 4)                 # smooth enough for JPEG to make sense
    levels = np.clip(np.round(big * 255), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(levels).save(buffer, format="JPEG", quality=20, subsampling=2)
    expected = np.asarray(Image.open(io.BytesIO(buffer.getvalue())), dtype=np.float32) / 255
    assert np.array_equal(jpeg_roundtrip(levels, 20), expected)
    clean = levels / 255.0
    assert psnr(jpeg_roundtrip(clean, 10), clean) < psnr(jpeg_roundtrip(clean, 90), clean)


def test_jpeg_gray_y_and_batches(image):
    out = jpeg_roundtrip(image, 30, gray_y=True)
    assert out.shape == (24, 20, 1)
    batch = torch.from_numpy(image.transpose(2, 0, 1).copy()).float()[None].repeat(2, 1, 1, 1)
    tensor = jpeg_roundtrip(batch, 30, gray_y=True)
    assert tensor.shape == (2, 1, 24, 20)
    assert np.allclose(tensor[1].numpy().transpose(1, 2, 0), out)
    for quality in (0, 101, 2.5):
        with pytest.raises(ValueError, match="quality"):
            jpeg_roundtrip(image, quality)


# ---- Matlab imresize ------------------------------------------------------------------

def _keys(x):
    x = abs(x)
    if x <= 1:
        return 1.5 * x ** 3 - 2.5 * x ** 2 + 1
    if x <= 2:
        return -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2
    return 0.0


def _reflect(index, n):
    """Matlab's symmetric padding for a 1-based index."""
    while index < 1 or index > n:
        index = 1 - index if index < 1 else 2 * n + 1 - index
    return index


def _matlab_resize_loop(signal, scale):
    """Matlab imresize along one axis, one output sample at a time (1-based, as in its docs)."""
    n = len(signal)
    out_n = math.ceil(n * scale - 1e-9)
    width = 4 / scale if scale < 1 else 4
    result = []
    for x in range(1, out_n + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        first = math.floor(u - width / 2)
        taps = [(j, (scale * _keys(scale * (u - j)) if scale < 1 else _keys(u - j)))
                for j in range(first, first + math.ceil(width) + 2)]
        total = sum(w for _, w in taps)
        result.append(sum(w * signal[_reflect(j, n) - 1] for j, w in taps) / total)
    return np.array(result)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 0.7, 2.0])
def test_imresize_matches_matlab_kernel_weights(image, scale):
    levels = image * 255
    got = imresize(levels / 255, scale) * 255
    rows = np.stack([_matlab_resize_loop(levels[:, c, k], scale)
                     for c in range(levels.shape[1]) for k in range(3)], axis=1)
    rows = rows.reshape(rows.shape[0], levels.shape[1], 3)
    expected = np.stack([_matlab_resize_loop(rows[r, :, k], scale)
                         for r in range(rows.shape[0]) for k in range(3)])
    expected = expected.reshape(rows.shape[0], 3, -1).transpose(0, 2, 1)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-4


def test_imresize_hand_values_and_shapes():
    # Interior x1/2 weights: half-width Keys cubic at distances 0.5, 1.5, ..., 3.5 from the
    # output's centre, normalised: input pixels 14..21 contribute, nothing else does.
    row = matlab_resize_weights(32, 16, 0.5)[8]
    centre = 2 * 9 - 0.5   # output 9 (1-based) sits at input coordinate 17.5
    expected = np.zeros(32)
    for j in range(14, 22):
        expected[j - 1] = _keys((centre - j) / 2) / 2
    assert row == pytest.approx(expected / expected.sum(), abs=1e-12)
    ramp = np.tile(np.arange(40, dtype=np.float64)[None, :, None], (8, 1, 1))
    halved = imresize(ramp, 0.5)[0, 4:-4, 0]                # away from the borders
    assert np.allclose(np.diff(halved), 2.0)                # cubic kernels keep ramps linear
    assert imresize(np.ones((99, 60, 3)), 1 / 3).shape == (33, 20, 3)
    tensor = imresize(torch.ones(2, 3, 12, 12), 0.5)
    assert tensor.shape == (2, 3, 6, 6) and torch.allclose(tensor, torch.ones(1))


@pytest.mark.parametrize("quality", [5, 10, 20, 37, 50, 75, 90, 95])
@pytest.mark.parametrize("gray_y", [False, True])
def test_jpeg_quality_is_read_back_from_the_file(tmp_path, quality, gray_y):
    from panet.degradations import encode_jpeg, jpeg_quality

    path = tmp_path / "x.jpg"
    path.write_bytes(encode_jpeg(np.random.default_rng(0).random((24, 24, 3)), quality,
                                 gray_y=gray_y))
    assert jpeg_quality(str(path)) == (quality, True)


def test_jpeg_quality_of_other_files(tmp_path):
    from PIL import Image

    from panet.degradations import jpeg_quality

    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    assert jpeg_quality(str(tmp_path / "a.png")) is None
    # a camera-style custom table: the standard quality-50 table with every entry + 1
    base = Image.open(_jpeg_at(tmp_path, 50)).quantization
    custom = {k: [v + 1 for v in t] for k, t in base.items()}
    Image.new("RGB", (16, 16)).save(tmp_path / "c.jpg", qtables=custom)
    quality, exact = jpeg_quality(str(tmp_path / "c.jpg"))
    assert not exact and 45 <= quality <= 50


def _jpeg_at(folder, quality):
    from PIL import Image

    path = folder / f"q{quality}.jpg"
    Image.new("RGB", (16, 16)).save(path, quality=quality)
    return path


@pytest.mark.parametrize("photo", ["astronaut", "coffee", "chelsea", "camera", "rocket"])
def test_noise_estimate_on_real_photos(photo):
    """Photos that scikit-image (a test dependency) ships, noised at known levels: within
    10 % + 2 levels at sigma 5-50 unclipped and 5-30 clipped to 8 bits (docs/restore.md);
    clipped sigma 50 reads low (clipping removes the tails), by at most 20 %."""
    import skimage.data

    from panet.degradations import add_gaussian_noise, estimate_noise_sigma

    clean = np.asarray(getattr(skimage.data, photo)(), np.float32) / 255
    clean = clean[..., None] if clean.ndim == 2 else clean
    for sigma in (5, 15, 30, 50):
        for clip in (False, True):
            found = estimate_noise_sigma(add_gaussian_noise(clean, sigma, seed=1, clip=clip))
            if clip and sigma == 50:
                assert 0.8 * sigma <= found <= 1.1 * sigma + 2, (sigma, clip, found)
            else:
                assert abs(found - sigma) <= 0.1 * sigma + 2, (sigma, clip, found)
