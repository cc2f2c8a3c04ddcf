"""The `panet` command: models, smoke, env, and one-line errors."""

import numpy as np
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

