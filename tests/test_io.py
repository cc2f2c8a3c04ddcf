"""Image I/O: lossless round trips, alpha, 16-bit, EXIF orientation, metadata, bad files."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from panet.io import ImageError, load_image, save_image


def _levels(shape, top, seed=0):
    return np.random.default_rng(seed).integers(0, top + 1, size=shape)


@pytest.mark.parametrize("name, depth, channels", [
    ("a.png", 8, 1), ("a.png", 8, 3), ("a.png", 16, 1), ("a.png", 16, 3),
    ("a.tif", 8, 3), ("a.tif", 16, 1), ("a.tif", 16, 3), ("a.bmp", 8, 3), ("a.webp", 8, 3),
])
def test_lossless_round_trips(tmp_path, name, depth, channels):
    top = 2 ** depth - 1
    levels = _levels((7, 9, channels), top)
    path = tmp_path / name
    if name.endswith(".webp"):
        Image.fromarray(levels.astype(np.uint8)).save(path, lossless=True)
    else:
        save_image(path, levels / top, bit_depth=depth)
    loaded = load_image(path)
    assert loaded.bit_depth == depth and loaded.pixels.shape == (7, 9, channels)
    assert np.array_equal(np.round(loaded.pixels * top), levels)


def test_float_tiff_keeps_unclipped_values(tmp_path):
    values = np.array([[[-0.25], [1.5]]], dtype=np.float32)
    save_image(tmp_path / "f.tif", values, bit_depth=32)
    loaded = load_image(tmp_path / "f.tif")
    assert loaded.bit_depth == 32 and np.array_equal(loaded.pixels, values)


@pytest.mark.parametrize("name, depth, channels", [("a.png", 8, 3), ("a.png", 16, 3), ("a.tif", 16, 3),
                                                   ("a.tif", 8, 1), ("a.png", 16, 1)])
def test_alpha_is_carried_unchanged(tmp_path, name, depth, channels):
    top = 2 ** depth - 1
    rgb, alpha = _levels((5, 6, channels), top, 1) / top, _levels((5, 6, 1), top, 2) / top
    save_image(tmp_path / name, rgb, alpha=alpha, bit_depth=depth)
    loaded = load_image(tmp_path / name)
    assert np.allclose(loaded.pixels, rgb, atol=1e-7) and np.allclose(loaded.alpha, alpha, atol=1e-7)


def test_palette_with_transparency_becomes_rgb_and_alpha(tmp_path):
    image = Image.new("P", (4, 3))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.info["transparency"] = 0
    image.save(tmp_path / "p.png", transparency=0)
    loaded = load_image(tmp_path / "p.png")
    assert loaded.pixels.shape == (3, 4, 3) and loaded.alpha is not None
    assert loaded.alpha[1, 1, 0] == 1.0 and loaded.alpha[0, 0, 0] == 0.0
    assert loaded.pixels[1, 1].tolist() == [0.0, 0.0, 1.0]


def test_exif_orientation_is_applied_and_metadata_kept(tmp_path):
    image = Image.fromarray(_levels((4, 10, 3), 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6                       # rotate 90 degrees clockwise to display
    exif[0x010F] = "panet-test-camera"     # Make
    image.save(tmp_path / "o.jpg", exif=exif.tobytes(), quality=95,
               icc_profile=b"fake-icc-profile")
    loaded = load_image(tmp_path / "o.jpg")
    assert loaded.pixels.shape == (10, 4, 3)
    save_image(tmp_path / "copy.png", loaded.pixels, exif=loaded.exif,
               icc_profile=loaded.icc_profile)
    with Image.open(tmp_path / "copy.png") as copy:
        assert copy.getexif().get(0x010F) == "panet-test-camera"
        assert copy.getexif().get(0x0112, 1) == 1          # orientation already applied
        assert copy.info.get("icc_profile") == b"fake-icc-profile"


def _broken_files(tmp_path):
    good_png, good_jpg = io.BytesIO(), io.BytesIO()
    Image.fromarray(_levels((32, 32, 3), 255).astype(np.uint8)).save(good_png, "PNG")
    Image.fromarray(_levels((32, 32, 3), 255).astype(np.uint8)).save(good_jpg, "JPEG")
    files = {"empty.png": b"", "text.png": b"hello, not an image",
             "truncated.png": good_png.getvalue()[:200],
             "truncated.jpg": good_jpg.getvalue()[:300],
             "truncated.tif": b"II*\x00" + b"\x00" * 6}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return list(files)


def test_bad_files_give_one_line_errors_naming_the_file(tmp_path):
    for name in _broken_files(tmp_path) + ["missing.png"]:
        with pytest.raises(ImageError) as caught:
            load_image(tmp_path / name)
        message = str(caught.value)
        assert name in message and "\n" not in message


def test_writes_that_cannot_work_are_refused_without_leftovers(tmp_path):
    rgb = np.zeros((4, 4, 3))
    with pytest.raises(ImageError, match="alpha"):
        save_image(tmp_path / "a.jpg", rgb, alpha=np.ones((4, 4, 1)))
    with pytest.raises(ImageError, match="16-bit"):
        save_image(tmp_path / "a.jpg", rgb, bit_depth=16)
    with pytest.raises(ImageError, match="extension"):
        save_image(tmp_path / "a.xyz", rgb)
    assert os.listdir(tmp_path) == []
