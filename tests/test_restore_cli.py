"""`panet restore` on files and folders: outputs, refusals, bad files, alpha, 16-bit."""

import os

import numpy as np
import pytest
import torch

from panet import create_model, save_model
from panet.cli import main
from panet.io import load_image, save_image


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    paths = {}
    for name, model in {"color": create_model("panet-s", n_resblocks=2, n_feats=8),
                        "gray": create_model("panet-s", n_resblocks=2, n_feats=8, in_channels=1),
                        "x2": create_model("pa-edsr-x2", n_resblocks=2, n_feats=8,
                                           reduction=2)}.items():
        paths[name] = str(folder / f"{name}.safetensors")
        save_model(model, paths[name])
    return paths


def _image(path, shape=(20, 24, 3), **kwargs):
    save_image(path, np.random.default_rng(0).random(shape), **kwargs)
    return str(path)


def test_one_file_with_explicit_output(tmp_path, weights):
    source = _image(tmp_path / "in.png")
    out = tmp_path / "out.png"
    assert main(["restore", source, "-o", str(out), "--task", "denoise", "--model",
                 weights["color"], "--quiet"]) == 0
    assert load_image(out).pixels.shape == (20, 24, 3)
    before = out.read_bytes()
    # A rerun skips the existing output; --overwrite replaces it.
    assert main(["restore", source, "-o", str(out), "--task", "denoise", "--model",
                 weights["color"], "--quiet"]) == 0
    assert out.read_bytes() == before
    assert main(["restore", source, "-o", str(out), "--task", "denoise", "--model",
                 weights["color"], "--quiet", "--overwrite"]) == 0


def test_folder_with_a_broken_file(tmp_path, weights, capsys):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    _image(folder / "a.png")
    _image(folder / "sub" / "b.tif")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    out = tmp_path / "restored"
    code = main(["restore", str(folder), "-o", str(out), "--task", "denoise", "--model",
                 weights["color"], "--recursive", "--quiet"])
    assert code == 1                                      # something failed, and it says so
    assert "broken.png" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == ["a.png", "sub"] and os.listdir(out / "sub") == ["b.tif"]
    leftovers = [f for d, _, fs in os.walk(out) for f in fs if f.startswith(".partial")]
    assert leftovers == []


def test_default_output_name_never_the_input(tmp_path, weights):
    source = _image(tmp_path / "photo.png")
    assert main(["restore", source, "--task", "denoise", "--model", weights["color"],
                 "--quiet"]) == 0
    assert (tmp_path / "photo_panet.png").exists()
    assert main(["restore", source, "-o", source, "--task", "denoise", "--model",
                 weights["color"], "--quiet", "--overwrite"]) == 1


def _expected(path, weights):
    """What the library restores from ``path`` (float32, ``panet restore``'s default
    precision, before the output is quantised)."""
    from panet.inference import model_tiling, restore_pixels
    from panet.restorer import RestoreOptions
    from panet.tasks import get_task
    from panet import load_model

    model = load_model(weights)
    options = RestoreOptions()
    assert options.dtype is None
    task = get_task("denoise")
    return restore_pixels(model, load_image(path).pixels, task=task,
                          tiling=model_tiling(model, task, 48, 8), dtype=options.dtype)[0]


@pytest.mark.parametrize("name", ["deep.png", "deep.tif"])
def test_16_bit_values_alpha_exif_and_icc_survive_a_restore(tmp_path, weights, name):
    from PIL import Image
    import png
    import tifffile

    rng = np.random.default_rng(1)
    alpha = rng.random((20, 24, 1))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "panet-camera", "model-7"      # Make, Model
    source = tmp_path / name
    save_image(source, rng.random((20, 24, 3)), alpha=alpha, bit_depth=16,
               exif=exif.tobytes(), icc_profile=b"an ICC profile")
    out = tmp_path / ("out" + os.path.splitext(name)[1])
    assert main(["restore", str(source), "-o", str(out), "--task", "denoise", "--model",
                 weights["color"], "--quiet", "--tile", "48", "--overlap", "8"]) == 0
    restored = load_image(out)
    assert restored.bit_depth == 16
    # the values at 16-bit precision: the network's output rounded to 1/65535, not to 1/255
    want = np.round(np.clip(_expected(source, weights["color"]).astype(np.float64), 0, 1) * 65535)
    levels = np.round(restored.pixels.astype(np.float64) * 65535)
    assert np.array_equal(levels, want)
    inside = levels[(levels > 0) & (levels < 65535)]          # the random net clips many
    assert inside.size > 100 and np.mean(inside % 257 != 0) > 0.9   # not 8-bit levels
    assert np.allclose(restored.alpha, np.round(alpha * 65535) / 65535, atol=1e-7)
    # the metadata, read back from the written file by other readers than panet's
    if name.endswith(".png"):
        chunks = dict(png.Reader(filename=str(out)).chunks())
        assert b"panet-camera" in chunks[b"eXIf"] and b"model-7" in chunks[b"eXIf"]
        assert chunks[b"iCCP"].startswith(b"ICC Profile\0\0")
    else:
        with tifffile.TiffFile(out) as tiff:
            page = tiff.pages[0]
            assert page.iccprofile == b"an ICC profile"
            assert page.tags[271].value == "panet-camera" and page.tags[272].value == "model-7"
    assert restored.icc_profile == b"an ICC profile"


def test_exif_and_icc_of_an_8_bit_jpeg_survive_a_restore(tmp_path, weights):
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "panet-camera", 6     # Make; shown turned 90° clockwise
    pixels = (np.random.default_rng(2).random((16, 24, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in.jpg", exif=exif.tobytes(), quality=95,
                                 icc_profile=b"an ICC profile")
    out = tmp_path / "out.jpg"
    assert main(["restore", str(tmp_path / "in.jpg"), "-o", str(out), "--task", "denoise",
                 "--model", weights["color"], "--quiet"]) == 0
    with Image.open(out) as written:
        assert written.size == (16, 24)                # upright: the orientation applied
        assert written.getexif().get(0x010F) == "panet-camera"
        assert written.getexif().get(0x0112, 1) == 1
        assert written.info.get("icc_profile") == b"an ICC profile"


def test_overwrite_really_rewrites_and_its_absence_really_keeps(tmp_path, weights, capsys):
    source = _image(tmp_path / "in.png")
    out = tmp_path / "out.png"
    out.write_bytes(b"an older output")
    command = ["restore", source, "-o", str(out), "--task", "denoise", "--model",
               weights["color"], "--tile", "48", "--overlap", "8"]
    assert main(command) == 0
    assert out.read_bytes() == b"an older output"
    assert "1 output(s) already existed and were skipped" in capsys.readouterr().out
    assert main(command + ["--overwrite", "--quiet"]) == 0
    want = np.round(np.clip(_expected(source, weights["color"]).astype(np.float64), 0, 1) * 255)
    assert np.array_equal(np.round(load_image(out).pixels * 255), want)


def test_channel_mismatches_and_sr(tmp_path, weights, capsys):
    colour, gray = _image(tmp_path / "c.png"), _image(tmp_path / "g.png", (20, 24, 1))
    assert main(["restore", colour, "-o", str(tmp_path / "c1.png"), "--task", "jpeg",
                 "--model", weights["gray"]]) == 0
    assert "each colour channel" in capsys.readouterr().out
    assert load_image(tmp_path / "c1.png").pixels.shape == (20, 24, 3)
    assert main(["restore", gray, "-o", str(tmp_path / "g1.png"), "--task", "denoise",
                 "--model", weights["color"], "--quiet"]) == 0
    assert load_image(tmp_path / "g1.png").pixels.shape == (20, 24, 1)
    assert main(["restore", colour, "-o", str(tmp_path / "big.png"), "--task", "sr",
                 "--scale", "2", "--model", weights["x2"], "--quiet"]) == 0
    assert load_image(tmp_path / "big.png").pixels.shape == (40, 48, 3)
    capsys.readouterr()
    assert main(["restore", colour, "--task", "sr", "--scale", "4", "--model", weights["x2"]]) == 2
    assert "x2, not x4" in capsys.readouterr().err
    assert main(["restore", colour, "--task", "denoise", "--model", weights["x2"]]) == 2
    assert main(["restore", colour, "--task", "denoise", "--model", "panett"]) == 2
    assert "unknown model 'panett'" in capsys.readouterr().err
    assert main(["restore", colour, "--task", "sr", "--scale", "5"]) == 2
    assert "scale 5: the shipped models are x2, x3, x4" in capsys.readouterr().err


def test_tiling_equals_whole_image_when_the_tile_covers_it(tmp_path, weights):
    source = _image(tmp_path / "in.png")
    for tile, name in ((64, "tiled.png"), (None, "whole.png")):
        options = ["--tile", str(tile)] if tile else ["--max-memory", "8"]
        assert main(["restore", source, "-o", str(tmp_path / name), "--task", "denoise",
                     "--model", weights["color"], "--quiet", *options]) == 0
    assert np.array_equal(load_image(tmp_path / "tiled.png").pixels,
                          load_image(tmp_path / "whole.png").pixels)


def test_ensemble_with_the_paper_chop_is_the_mean_of_eight_transformed_restorations(
        tmp_path, weights):
    """The self-ensemble, computed by hand: each of the 8 flips/rotations of the input run
    through the authors' chop (6800 pixels for denoising), turned back, averaged, then
    clamped (the mean of the raw outputs, as the authors' code takes it)."""
    from panet import load_model
    from panet.data.datasets import dihedral
    from panet.tiling import PaperChop

    source = _image(tmp_path / "in.png", shape=(90, 100, 3))    # chopped twice over
    out = tmp_path / "ensemble.png"
    assert main(["restore", source, "-o", str(out), "--task", "denoise", "--model",
                 weights["color"], "--quiet", "--ensemble", "--protocol", "paper"]) == 0
    model, pixels = load_model(weights["color"]), load_image(source).pixels
    with torch.no_grad():
        outputs = [dihedral(PaperChop(6800)(model, torch.from_numpy(np.ascontiguousarray(
            dihedral(pixels, k).transpose(2, 0, 1)))[None])[0].numpy().transpose(1, 2, 0),
            k, inverse=True) for k in range(8)]
    want = np.round(np.clip(np.mean(outputs, axis=0).astype(np.float64), 0, 1) * 255)
    got = np.round(load_image(out).pixels.astype(np.float64) * 255)
    assert np.abs(got - want).max() <= 1           # float sums in another order: one level
    single = np.round(np.clip(outputs[0].astype(np.float64), 0, 1) * 255)
    assert np.abs(got - single).max() > 2           # and it is not the plain restoration


def test_a_one_channel_raw_bayer_frame_equals_its_three_channel_mosaic(tmp_path, weights):
    from panet.degradations import mosaic

    rgb = np.random.default_rng(3).random((20, 24, 3))
    three = mosaic(rgb, "GRBG")
    save_image(tmp_path / "raw.png", three.sum(axis=2, keepdims=True))   # one value a pixel
    save_image(tmp_path / "mosaic.png", three)
    for name in ("raw", "mosaic"):
        assert main(["restore", str(tmp_path / f"{name}.png"), "-o",
                     str(tmp_path / f"{name}_out.png"), "--task", "demosaic", "--pattern",
                     "GRBG", "--model", weights["color"], "--quiet"]) == 0
    raw, full = (load_image(tmp_path / f"{n}_out.png").pixels for n in ("raw", "mosaic"))
    assert raw.shape == (20, 24, 3) and np.array_equal(raw, full)


def test_glob_patterns_restore_what_they_match_and_nothing_else(tmp_path, weights, capsys):
    for name in ("a1.png", "a2.png", "b1.png"):
        _image(tmp_path / name)
    out = tmp_path / "out"
    assert main(["restore", str(tmp_path / "a?.png"), "-o", str(out), "--task", "denoise",
                 "--model", weights["color"], "--quiet"]) == 0
    assert sorted(os.listdir(out)) == ["a1.png", "a2.png"]
    assert main(["restore", str(tmp_path / "c*.png"), "-o", str(out), "--task", "denoise",
                 "--model", weights["color"]]) == 2
    assert "c*.png: no file matches" in capsys.readouterr().err


def test_a_sigma_above_the_training_range_is_warned_about(tmp_path, capsys):
    source = _image(tmp_path / "in.png")
    assert main(["restore", source, "-o", str(tmp_path / "out.png"), "--task", "denoise",
                 "--sigma", "80", "--quiet"]) == 0
    assert "sigma 80 is outside that range" in capsys.readouterr().err
    assert main(["restore", source, "-o", str(tmp_path / "out2.png"), "--task", "denoise",
                 "--sigma", "75", "--quiet"]) == 0
    assert "outside that range" not in capsys.readouterr().err


def test_an_image_too_large_for_the_memory_budget_is_reported(tmp_path, weights, capsys):
    source = _image(tmp_path / "in.png")
    out = tmp_path / "out.png"
    assert main(["restore", source, "-o", str(out), "--task", "denoise", "--model",
                 weights["color"], "--max-memory", "0.5", "--quiet"]) == 1
    assert "raise --max-memory" in capsys.readouterr().err and not out.exists()
    for option, message in [(["--max-memory", "0"], "must be from 0 to 1048576 GiB"),
                            (["--tile", "16", "--overlap", "16"],
                             "--tile (16) must be larger than the overlap (16)")]:
        assert main(["restore", source, "-o", str(out), "--task", "denoise", "--model",
                     weights["color"], *option]) == 2
        assert message in capsys.readouterr().err


def test_jpeg_quality_of_a_jpeg_input_is_reported(tmp_path, weights, capsys):
    from panet.degradations import encode_jpeg

    source = tmp_path / "photo.jpg"
    source.write_bytes(encode_jpeg(np.random.default_rng(0).random((20, 24, 3)), 23))
    assert main(["restore", str(source), "-o", str(tmp_path / "out.png"), "--task", "jpeg",
                 "--model", weights["gray"]]) == 0
    assert "JPEG quality 23 read from the file" in capsys.readouterr().out


def test_restore_file_library_call_equals_the_command(tmp_path, weights):
    """The command is a thin loop over panet.restore_files: calling the library directly
    writes the same pixels, keeps alpha and 16 bits, and reports the tile plan."""
    from panet.checkpoints import load_model
    from panet.restore_files import output_target, restore_file
    from panet.restorer import ModelPool, RestoreOptions
    from panet.tasks import get_task

    rng = np.random.default_rng(1)
    source = _image(tmp_path / "in.png", (20, 24, 3), alpha=rng.random((20, 24, 1)),
                    bit_depth=16)
    by_command = tmp_path / "command.png"
    assert main(["restore", source, "-o", str(by_command), "--task", "denoise", "--model",
                 weights["color"], "--tile", "16", "--overlap", "4", "--quiet"]) == 0
    model = load_model(weights["color"]).eval()
    planned = []
    target = output_target(source, "in.png", None)
    assert target == str(tmp_path / "in_panet.png")
    restore_file(source, target, ModelPool(model, get_task("denoise"), None, fixed=True),
                 RestoreOptions(task="denoise", tile=16, overlap=4, level=10),
                 on_plan=lambda total: planned.append(total))
    direct, command = load_image(target), load_image(by_command)
    assert planned == [4]            # 20x24 in 16-px tiles overlapping by 4: 2 x 2 tiles
    assert direct.bit_depth == command.bit_depth == 16
    assert np.array_equal(direct.pixels, command.pixels)
    assert np.array_equal(direct.alpha, command.alpha)


def test_restore_and_eval_use_the_models_own_overlap(tmp_path):
    """A model whose weights name ``restore_overlap`` is restored with it (scaled to the
    tile) when no --overlap is given, by panet restore and by panet eval alike."""
    import json

    from panet.checkpoints import load_model
    from panet.evaluate import Network
    from panet.inference import model_tiling, preferred_overlap, restore_pixels
    from panet.restore_files import output_target, restore_file
    from panet.restorer import ModelPool, RestoreOptions
    from panet.tasks import get_task

    path = str(tmp_path / "mine.safetensors")
    save_model(create_model("panet-s", n_resblocks=1, n_feats=8), path,
               {"task": json.dumps({"type": "denoise", "sigma": [0, 75]}),
                "restore_tile": "16", "restore_overlap": "12"})
    model = load_model(path).eval()
    assert [preferred_overlap(model, t) for t in (16, 32, 8)] == [12, 24, 6]
    plain = load_model(path).eval()
    plain.card = type(plain.card)(architecture="panet")   # names no overlap: a sixth
    assert preferred_overlap(plain, 48) == 8
    source = _image(tmp_path / "in.png", (20, 40, 3))
    planned = []
    restore_file(source, output_target(source, "in.png", None),
                 ModelPool(model, get_task("denoise"), None, fixed=True),
                 RestoreOptions(task="denoise", tile=16, level=10),
                 on_plan=lambda total: planned.append(total))
    # 20 x 40 in 16-px tiles overlapping by 12 (step 4): 2 rows x 7 columns; by the
    # sixth-of-a-tile default (8) it would be 2 x 4
    assert planned == [14]
    calls = []
    forward = model.forward
    model.forward = lambda x: calls.append(1) or forward(x)
    noisy = np.random.default_rng(0).random((20, 40, 3)).astype(np.float32)
    Network(model=model, task="denoise", protocol="default", tile=16)(noisy, "denoise", 10)
    assert len(calls) == 14
    denoise = get_task("denoise")
    restore_pixels(model, noisy, task=denoise,                # the library call, as the CLI
                   tiling=model_tiling(model, denoise, 16))
    assert len(calls) == 28


def _png_header_only(path, width, height, depth):
    """A PNG whose header claims ``width x height`` pixels with almost no data (a bomb)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" +
                     chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 2, 0, 0, 0)) +
                     chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return str(path)


@pytest.mark.parametrize("depth", [8, 16])
def test_decompression_bombs_are_refused_before_decoding(tmp_path, weights, capsys, depth):
    bomb = _png_header_only(tmp_path / "bomb.png", 100_000, 100_000, depth)
    before = open(bomb, "rb").read()
    assert main(["restore", bomb, "-o", str(tmp_path / "out.png"), "--task", "denoise",
                 "--model", weights["color"], "--quiet"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "bomb.png" in error and "Traceback" not in error
    assert "10000000000" in error.replace(",", "") or "10000 MP" in error.replace(",", "")
    assert not (tmp_path / "out.png").exists() and open(bomb, "rb").read() == before
    assert os.listdir(tmp_path) == ["bomb.png"]          # no partial output either


@pytest.mark.parametrize("option, value, words", [
    ("--sigma", "nan", "not a finite number"), ("--max-memory", "inf", "not a finite number"),
    ("--max-memory", "-1", "must be from 0 to 1048576 GiB"), ("--device", "tpu", "not a device name"),
    ("--device", "cuda:7", "cuda:7")])
def test_impossible_options_are_one_line_errors(tmp_path, weights, capsys, option, value,
                                                words):
    source = _image(tmp_path / "in.png")
    if option == "--device" and value == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    with pytest.raises(SystemExit) if "finite" in words else _no_exit() as caught:
        status = main(["restore", source, "--task", "denoise", "--model", weights["color"],
                       option, value])
    status = caught.value.code if "finite" in words else status
    assert status == 2
    error = capsys.readouterr().err
    assert words in error and "Traceback" not in error
    assert os.listdir(tmp_path) == ["in.png"]


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_folder_without_images_is_an_error(tmp_path, weights, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    assert main(["restore", str(tmp_path / "empty"), "--task", "denoise", "--model",
                 weights["color"]]) == 2
    assert "no images in" in capsys.readouterr().err


@pytest.mark.parametrize("tile", ["0", "-5", "15"])
def test_tiles_too_small_are_refused_before_any_work(tmp_path, weights, capsys, tile):
    source = _image(tmp_path / "in.png")
    assert main(["restore", source, "--task", "denoise", "--model", weights["color"],
                 "--tile", tile]) == 2
    assert "--tile must be at least 16 pixels" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["in.png"]


@pytest.mark.parametrize("pattern", ["RGGB", "GRBG", "BGGR"])
def test_the_tile_plan_counts_the_calls_a_shifted_mosaic_takes(tmp_path, pattern):
    """A mosaic whose phase differs from the model's is padded by a row and/or column;
    the announced number of network calls is the number made."""
    import json

    from panet.degradations import mosaic
    from panet.restore_files import restore_file
    from panet.restorer import ModelPool, RestoreOptions
    from panet.tasks import get_task

    model = create_model("panet-s", n_resblocks=1, n_feats=8)
    model.metadata = {"task": json.dumps({"type": "demosaic", "pattern": "RGGB"})}
    source = tmp_path / "mosaic.png"
    save_image(source, mosaic(np.random.default_rng(0).random((32, 40, 3)), pattern))
    planned, made = [], []

    def plan(total):
        planned.append(total)
        return lambda: made.append(1)

    restore_file(str(source), str(tmp_path / "out.png"),
                 ModelPool(model, get_task("demosaic"), None, fixed=True),
                 RestoreOptions(task="demosaic", level=pattern, tile=16, overlap=4),
                 on_plan=plan)
    assert len(planned) == 1 and planned[0] == len(made)
    assert load_image(tmp_path / "out.png").pixels.shape == (32, 40, 3)


PEAK_SCRIPT = r"""
import sys
def peak():   # this process's own high-water mark (ru_maxrss would carry the parent's)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))
import PIL.Image, png, tifffile, tqdm
import panet.inference, panet.restorer, panet.restore_files
from panet.cli import main
base = peak()
status = main(sys.argv[1:])
print(base, peak())
sys.exit(status)
"""


@pytest.mark.parametrize("task, side", [("denoise", 2048), ("sr", 1024), ("jpeg", 2048)])
def test_restore_stays_within_max_memory_at_the_tightest_budget_it_accepts(tmp_path, task,
                                                                           side):
    """A 4-MP output (its buffers dominate) at the smallest --max-memory the planner accepts:
    the whole process's measured peak stays within it, and what the restore adds to a
    process with the libraries loaded stays within the planner's own accounting (image
    buffers, weights and tiles: the budget less the 600 MiB it assumes for the process).
    SR at x2 keeps its output consistent with the input, as by default, and so does JPEG
    (its luma into the file's quantisation intervals): those projections run on the
    full-size output after the tiles, so they must fit the same accounting."""
    import subprocess
    import sys

    from PIL import Image

    from panet.inference import PROCESS_BASE_BYTES, tile_for_memory

    torch.manual_seed(0)
    architecture = "pa-edsr-x2" if task == "sr" else "panet-s"
    model = create_model(architecture, n_resblocks=2, n_feats=8, attention_positions=[])
    weights = str(tmp_path / "convolutional.safetensors")
    save_model(model, weights)
    yy, xx = np.mgrid[0:side, 0:side] / side
    picture = np.stack([np.sin(9 * xx) * 0.4 + 0.5, yy, xx * yy], 2)
    picture = np.clip(picture + np.random.default_rng(0).normal(0, 0.05, picture.shape), 0, 1)
    source = tmp_path / ("big.jpg" if task == "jpeg" else "big.png")
    if task == "jpeg":
        Image.fromarray(np.round(picture * 255).astype(np.uint8)).save(source, quality=30)
    else:
        save_image(source, picture)
    low, high = 0.1, 8.0                     # GiB: bisect the planner's smallest budget
    for _ in range(24):
        middle = (low + high) / 2
        try:
            tile_for_memory(model, side, side, 3, int(middle * 2**30))
            high = middle
        except ValueError:
            low = middle
    budget = high + 0.01
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, "restore", str(source), "-o",
         str(tmp_path / "out.png"), "--task", task, "--model", weights, "--quiet",
         "--max-memory", f"{budget:.4f}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    base, peak = map(int, done.stdout.split()[-2:])
    assert peak <= budget * 2**30
    accounted = budget * 2**30 - PROCESS_BASE_BYTES
    assert peak - base <= accounted, (peak - base) / accounted
