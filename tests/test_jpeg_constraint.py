"""Keeping a JPEG restoration within the file's quantisation intervals: the projection is
checked against an independent DCT, against the original (a fixed point: the original lies
in the intervals) and as a projection (never farther from the original, idempotent), on
upright and EXIF-turned files, and end to end through `panet restore` and `panet eval`."""

import json
import os

import numpy as np
import pytest
import scipy.fft
from PIL import Image

from panet.cli import main
from panet.degradations import jpeg_roundtrip
from panet.degradations.jpeg import jpeg_bytes
from panet.degradations.jpeg_constraint import (JPEGGrid, dct8, project_onto_jpeg, read_grid,
                                                standard_grid)
from panet.io import load_image, sample_image_path

JFIF_LUMA = np.array([0.299, 0.587, 0.114])


def _photo(shape=(61, 83)) -> np.ndarray:
    """A real picture (the bundled one), cropped to a size that is not a multiple of 8."""
    pixels = np.asarray(Image.open(sample_image_path()).convert("RGB"))
    return pixels[10:10 + shape[0], 20:20 + shape[1]]


def _blurred(image: np.ndarray) -> np.ndarray:
    """A restoration that smoothed detail away: a 5x5 box blur."""
    padded = np.pad(image, ((2, 2), (2, 2), (0, 0)), mode="edge")
    rows, cols = image.shape[:2]
    return sum(padded[i:i + rows, j:j + cols] for i in range(5) for j in range(5)) / 25


def _luma(image: np.ndarray) -> np.ndarray:
    return image[..., 0] if image.shape[2] == 1 else image @ JFIF_LUMA


def test_the_dct_is_the_orthonormal_dct_ii():
    assert np.allclose(dct8(), scipy.fft.dct(np.eye(8), norm="ortho", axis=0))


def test_standard_grid_is_the_table_pillow_writes():
    # the IJG luminance table at quality 50 is the standard table itself (Annex K)
    assert standard_grid(50).luma_table[0].tolist() == [16, 11, 10, 16, 24, 40, 51, 61]
    assert standard_grid(50).luma_table[:, 0].tolist() == [16, 12, 14, 14, 18, 24, 49, 72]


@pytest.mark.parametrize("quality", [10, 40, 75])
@pytest.mark.parametrize("colour", [False, True])
def test_the_original_is_a_fixed_point(quality, colour):
    photo = _photo()
    clean = (photo if colour else np.round(photo @ JFIF_LUMA)[..., None]).astype(np.uint8)
    decoded = jpeg_roundtrip(clean, quality)
    kept = project_onto_jpeg(clean / 255.0, decoded, standard_grid(quality))
    change = np.abs(kept - clean / 255.0) * 255
    # The original lies in the intervals up to the encoder's integer DCT (and, in colour,
    # its luma rounding): a fraction of a level, where a wrong table or grid moves it by many.
    assert change.max() < (1.0 if colour else 0.5)
    assert change.mean() < 0.02


@pytest.mark.parametrize("quality", [10, 40])
@pytest.mark.parametrize("colour", [False, True])
def test_a_smoothed_restoration_comes_closer_to_the_original_and_stays(quality, colour):
    photo = _photo()
    clean = (photo if colour else np.round(photo @ JFIF_LUMA)[..., None]) / 255.0
    decoded = jpeg_roundtrip(clean, quality)
    smoothed = _blurred(decoded)
    grid = standard_grid(quality)
    kept = project_onto_jpeg(smoothed, decoded, grid)

    def error(image):
        return float(((_luma(image) - _luma(clean)) ** 2).mean())

    assert error(kept) < 0.8 * error(smoothed)
    # a projection: applying it again changes nothing (in colour, nearly: where R, G or B
    # hit 0 or 1, the clip moves the luma a little off again)
    again = np.abs(project_onto_jpeg(kept, decoded, grid) - kept) * 255
    assert again.max() < (1.0 if colour else 1e-4) and again.mean() < (0.01 if colour else 1e-4)
    if colour:   # the change is luma only: R, G and B move together
        moved = kept - smoothed
        unclipped = ((kept > 0) & (kept < 1)).all(axis=2)
        assert np.abs(moved[..., 0] - moved[..., 2])[unclipped].max() < 1e-6


def test_images_taller_than_one_band_of_blocks():
    photo = np.round(_photo((96, 40)) @ JFIF_LUMA)
    tall = np.concatenate([photo, photo[::-1]] * 4)[:, :, None] / 255   # 768 rows: 2 bands
    decoded = jpeg_roundtrip(tall, 20)
    smoothed = _blurred(decoded)
    kept = project_onto_jpeg(smoothed, decoded, standard_grid(20))
    for part in (slice(0, 512), slice(512, 768)):   # both bands come closer
        before = ((smoothed - tall)[part] ** 2).mean()
        assert ((kept - tall)[part] ** 2).mean() < 0.8 * before
    assert np.abs(project_onto_jpeg(tall, decoded, standard_grid(20)) - tall).max() < 0.5 / 255


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_turned_files_are_projected_in_the_files_own_blocks(tmp_path, orientation):
    clean = _photo((45, 70))
    path = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(clean).save(path, "JPEG", quality=30, exif=exif.tobytes())
    upright = load_image(path).pixels   # what panet restore works on
    grid = read_grid(str(path))
    assert grid is not None and grid.file_size == (45, 70) and grid.orientation == orientation
    turned = Image.fromarray(clean).transpose(_PILLOW_TURN[orientation]) if orientation > 1 \
        else Image.fromarray(clean)
    clean_upright = np.asarray(turned) / 255.0
    assert clean_upright.shape == upright.shape
    kept = project_onto_jpeg(clean_upright, upright, grid)
    assert np.abs(kept - clean_upright).max() * 255 < 1.0
    # A smoothed restoration comes closer in the file's blocks. In blocks where the file
    # has none, the decoded pixels do not rebuild from any steps, so nothing moves.
    smoothed = _blurred(upright)

    def error(image):
        return float(((_luma(image) - _luma(clean_upright)) ** 2).mean())

    assert error(project_onto_jpeg(smoothed, upright, grid)) < 0.8 * error(smoothed)
    if orientation > 1:   # 45 x 70: turned blocks are off the grid or transposed
        misplaced = project_onto_jpeg(smoothed, upright, JPEGGrid(grid.luma_table))
        assert error(misplaced) > 0.98 * error(smoothed)


#: Pillow's turn for each EXIF orientation (written out here, independently of panet).
_PILLOW_TURN = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                8: Image.Transpose.ROTATE_90}


def test_files_without_a_luma_grid_get_none(tmp_path):
    png = tmp_path / "a.png"
    Image.fromarray(_photo()).save(png)
    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(_photo()).convert("CMYK").save(cmyk, "JPEG", quality=50)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    assert read_grid(str(png)) is None and read_grid(str(cmyk)) is None
    assert read_grid(str(text)) is None
    gray = tmp_path / "gray.jpg"
    gray.write_bytes(jpeg_bytes(_photo()[..., :1], 20))
    assert np.array_equal(read_grid(str(gray)).luma_table, standard_grid(20).luma_table)


def test_a_grid_for_other_pixels_is_refused():
    grid = JPEGGrid(standard_grid(20).luma_table, orientation=6, file_size=(4, 4))
    with pytest.raises(ValueError, match="maps"):
        project_onto_jpeg(np.zeros((8, 8, 1)), np.zeros((8, 8, 1)), grid)


def _in_intervals(restored: np.ndarray, decoded: np.ndarray, quality: int) -> bool:
    """Whether ``restored`` (8-bit, as written) already keeps to the intervals: projecting
    it again moves no pixel by more than the 8-bit rounding."""
    again = project_onto_jpeg(restored, decoded, standard_grid(quality))
    return float(np.abs(again - restored).max()) * 255 <= 0.51


def test_restore_keeps_a_jpeg_file_to_its_intervals_unless_told_not_to(tmp_path, capsys):
    source = tmp_path / "photo.jpg"
    source.write_bytes(jpeg_bytes(_photo((48, 64)), 30))
    decoded = load_image(source).pixels
    kept, free = tmp_path / "kept.png", tmp_path / "free.png"
    assert main(["restore", str(source), "-o", str(kept), "--task", "jpeg"]) == 0
    assert "kept to the JPEG's quantisation" in capsys.readouterr().out
    assert main(["restore", str(source), "-o", str(free), "--task", "jpeg",
                 "--no-consistency"]) == 0
    assert "quantisation" not in capsys.readouterr().out
    assert _in_intervals(load_image(kept).pixels, decoded, 30)
    assert not _in_intervals(load_image(free).pixels, decoded, 30)
    # the paper's protocol is the authors' method: no constraint
    paper = tmp_path / "paper.png"
    assert main(["restore", str(source), "-o", str(paper), "--task", "jpeg", "--protocol",
                 "paper"]) == 0
    assert "quantisation" not in capsys.readouterr().out
    # a PNG says nothing about JPEG blocks: no constraint
    png = tmp_path / "photo.png"
    Image.fromarray(np.round(decoded * 255).astype(np.uint8)).save(png)
    assert main(["restore", str(png), "-o", str(tmp_path / "p.png"), "--task", "jpeg"]) == 0
    assert "quantisation" not in capsys.readouterr().out


def test_eval_keeps_jpeg_outputs_to_the_intervals_of_its_degradation(tmp_path):
    from panet.evaluate.setup import networks_from_text

    from panet.pretrained import weights_folder

    decoded = jpeg_roundtrip(_photo((48, 64)), 20)
    # the colour network alone (shipped jpeg-color takes luma from jpeg-y, which happens to
    # stay inside the intervals on this picture); it leaves them
    colour = os.path.join(weights_folder(), "jpeg-color.safetensors")
    (kept,), _ = networks_from_text("jpeg-color", [20], colour, protocol="default", tile=48,
                                    overlap=8)
    (free,), _ = networks_from_text("jpeg-color", [20], colour, protocol="default", tile=48,
                                    overlap=8, consistency=False)
    assert _in_intervals(kept(decoded, "jpeg-color", 20), decoded, 20)
    assert not _in_intervals(free(decoded, "jpeg-color", 20), decoded, 20)
    (paper,), _ = networks_from_text("jpeg-color", [20], colour, protocol="paper")
    assert not _in_intervals(paper(decoded, "jpeg-color", 20), decoded, 20)
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(_photo((48, 64))).save(folder / "a.png")
    assert main(["eval", "--task", "jpeg-color", "--levels", "20", "--baselines", "input",
                 "--no-consistency", "--protocol", "default", "--tile", "48", "--overlap",
                 "8", "--dataset", str(folder), "--out", str(tmp_path / "e"), "--quiet"]) == 0
    report = json.loads((tmp_path / "e" / "results.json").read_text())
    assert report["metadata"]["consistency"] is False
