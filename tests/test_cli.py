"""The `panet` command: models, smoke, env, and one-line errors."""

import os

import numpy as np
import pytest
from PIL import Image

from panet.cli import main
from panet.io import read_image, sample_image_path


def test_models_lists_names_tasks_and_counts(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "5,957,255" in out and "639,623" in out and "pa-edsr-x4" in out


def test_smoke_runs_and_writes_output(tmp_path, capsys):
    image = tmp_path / "tiny.png"
    Image.fromarray((np.random.default_rng(0).random((12, 16, 3)) * 255).astype(np.uint8)).save(image)
    out = tmp_path / "out.png"
    assert main(["smoke", "--image", str(image), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "input (1, 3, 12, 16) -> output (1, 3, 12, 16)" in printed
    assert "RANDOM weights" in printed
    assert read_image(out).shape == (12, 16, 3)
    before = out.read_bytes()
    assert main(["smoke", "--image", str(image), "-o", str(out)]) == 2   # no silent overwrite
    assert out.read_bytes() == before
    assert main(["smoke", "--image", str(image), "-o", str(out), "--overwrite"]) == 0


def test_smoke_refuses_bad_images(tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    assert main(["smoke", "--image", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "broken.png" in err and err.count("\n") == 1
    assert main(["smoke", "--image", str(tmp_path / "none.png")]) == 2
    assert main(["smoke", "--sigma", "-1"]) == 2


def test_bundled_sample_is_readable():
    assert read_image(sample_image_path()).shape == (96, 128, 3)


def test_env(capsys):
    assert main(["env"]) == 0
    assert "fast bfloat16" in capsys.readouterr().out



def _sample_copy(tmp_path):
    path = tmp_path / "clean.png"
    path.write_bytes(open(sample_image_path(), "rb").read())
    return path


def test_degrade_commands_write_what_the_library_computes(tmp_path):
    from panet.degradations import add_gaussian_noise, imresize, mosaic
    from panet.io import load_image

    clean_path = _sample_copy(tmp_path)
    clean = read_image(clean_path)
    cases = {"noise.png": (["--noise", "25", "--seed", "3"], add_gaussian_noise(clean, 25, seed=3)),
             "mosaic.png": (["--mosaic", "GRBG"], mosaic(clean, "GRBG")),
             "small.png": (["--downscale", "4"], np.clip(imresize(clean, 0.25), 0, 1))}
    for name, (options, expected) in cases.items():
        assert main(["degrade", str(clean_path), str(tmp_path / name), *options]) == 0
        assert np.abs(read_image(tmp_path / name) - expected).max() <= 0.5 / 255 + 1e-6
    assert main(["degrade", str(clean_path), str(tmp_path / "f.tif"), "--noise", "50",
                 "--float"]) == 0
    unclipped = load_image(tmp_path / "f.tif")
    assert unclipped.bit_depth == 32 and unclipped.pixels.min() < 0
    assert main(["degrade", str(clean_path), str(tmp_path / "q.jpg"), "--jpeg", "15"]) == 0
    with Image.open(tmp_path / "q.jpg") as jpeg:
        assert jpeg.format == "JPEG"
    assert main(["degrade", str(clean_path), str(tmp_path / "y.png"), "--jpeg", "15",
                 "--gray-y"]) == 0
    assert read_image(tmp_path / "y.png").shape == (96, 128, 1)


def test_degrade_refusals(tmp_path, capsys):
    clean_path = _sample_copy(tmp_path)
    before = clean_path.read_bytes()
    assert main(["degrade", str(clean_path), str(clean_path), "--noise", "5",
                 "--overwrite"]) == 2                                     # never the input
    assert clean_path.read_bytes() == before
    gray = tmp_path / "gray.png"
    Image.fromarray(np.zeros((12, 12), dtype=np.uint8)).save(gray)
    assert main(["degrade", str(gray), str(tmp_path / "m.png"), "--mosaic", "RGGB"]) == 2
    assert main(["degrade", str(clean_path), str(tmp_path / "x.gif"), "--noise", "5"]) == 2
    assert main(["degrade", str(clean_path), str(tmp_path / "j.png"), "--jpeg", "0"]) == 2
    assert main(["degrade", str(clean_path), str(tmp_path / "d.png"), "--downscale", "0"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 5 and all(line.startswith("panet: error:") for line in errors)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.png", "gray.png"]


def test_metrics_command(tmp_path, capsys):
    import json

    clean_path = _sample_copy(tmp_path)
    assert main(["degrade", str(clean_path), str(tmp_path / "n.png"), "--noise", "30"]) == 0
    capsys.readouterr()
    assert main(["metrics", str(tmp_path / "n.png"), str(clean_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    from panet.metrics import psnr, ssim

    noisy, clean = read_image(tmp_path / "n.png"), read_image(clean_path)
    assert result["psnr"] == psnr(noisy, clean) and result["ssim"] == ssim(noisy, clean)
    assert main(["metrics", str(tmp_path / "n.png"), str(clean_path), "--y", "--shave", "4"]) == 0
    assert "PSNR" in capsys.readouterr().out
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((5, 5, 3), dtype=np.uint8)).save(small)
    assert main(["metrics", str(small), str(clean_path)]) == 2


def test_degrade_keeps_16_bit_data_and_alpha(tmp_path):
    from panet.io import load_image, save_image

    rng = np.random.default_rng(0)
    rgb, alpha = rng.random((20, 24, 3)), rng.random((20, 24, 1))
    save_image(tmp_path / "deep.png", rgb, alpha=alpha, bit_depth=16)
    assert main(["degrade", str(tmp_path / "deep.png"), str(tmp_path / "m.png"),
                 "--mosaic", "RGGB"]) == 0
    out = load_image(tmp_path / "m.png")
    assert out.bit_depth == 16
    assert np.allclose(out.alpha, np.round(alpha * 65535) / 65535, atol=1e-7)
    assert main(["degrade", str(tmp_path / "deep.png"), str(tmp_path / "m.jpg"),
                 "--mosaic", "RGGB"]) == 2                   # JPEG cannot keep the alpha
    assert not (tmp_path / "m.jpg").exists()


def test_demo_restores_the_bundled_picture_with_shipped_weights(tmp_path, capsys):
    import re

    assert main(["demo", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    noisy = float(re.search(r"noisy input \(sigma 25\): ([\d.]+) dB", out).group(1))
    restored = float(re.search(r"restored: ([\d.]+) dB", out).group(1))
    assert "denoise-color" in out and restored > noisy + 3.0
    assert sorted(os.listdir(tmp_path)) == ["demo-denoise-degraded.png",
                                            "demo-denoise-restored.png"]
    assert main(["demo", "-o", str(tmp_path)]) == 2          # no silent overwrite
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--task", "sr", "--level", "5"], ["--task", "sr", "--level", "1"],
                                  ["--task", "jpeg", "--level", "0"],
                                  ["--task", "demosaic", "--level", "XYZW"],
                                  ["--level", "abc"],
                                  ["--image", "/nonexistent.png"]])
def test_demo_refuses_bad_levels_and_images_in_one_line(args, capsys):
    assert main(["demo", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("panet: error:") and len(err.strip().splitlines()) == 1
