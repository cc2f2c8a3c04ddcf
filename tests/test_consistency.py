"""Outputs kept consistent with their input: SR outputs shrink back to it (least change),
demosaiced outputs keep the mosaic's samples; on by default in restore, eval and the demo,
never with the paper's protocol."""

import json

import numpy as np
import pytest
import torch

from panet import create_model
from panet.cli import main
from panet.degradations import bayer_masks, imresize, matlab_resize_weights, mosaic
from panet.degradations.resize import project_onto_downscale
from panet.io import load_image, save_image
from panet.inference import CONSISTENT_NOTE, model_tiling, restore_pixels
from panet.tasks import get_task


def _smooth(shape, seed=0):
    """A smooth colour picture (what bicubic shrinking is made for), values in [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    rows, cols = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    planes = [0.5 + 0.2 * np.sin(rows / rng.uniform(2, 5) + rng.uniform(0, 6))
              * np.cos(cols / rng.uniform(2, 5)) + 0.1 * np.sin((rows + cols) / 3.0 + c)
              for c in range(shape[2])]
    return np.stack(planes, axis=-1)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("small", [(6, 5), (1, 1), (1, 7), (7, 1)])
def test_projection_is_the_least_change_that_shrinks_back(scale, small):
    clean = _smooth((small[0] * scale, small[1] * scale, 2), seed=scale)
    low = imresize(clean, 1 / scale)
    guess = 0.5 + 0.3 * np.random.default_rng(1).random(clean.shape)
    moved = project_onto_downscale(guess, low, scale)
    # naive reference: the whole resize as one matrix, and its pseudo-inverse
    down = np.kron(matlab_resize_weights(clean.shape[0], low.shape[0], 1 / scale),
                   matlab_resize_weights(clean.shape[1], low.shape[1], 1 / scale))
    for c in range(clean.shape[2]):
        flat = guess[..., c].ravel()
        want = flat + np.linalg.pinv(down) @ (low[..., c].ravel() - down @ flat)
        assert np.abs(moved[..., c].ravel() - np.clip(want, 0, 1)).max() < 1e-5
    assert np.abs(imresize(moved, 1 / scale) - low).max() < 1e-5
    # the original shrinks to ``low``, so a projection can only come closer to it
    assert ((moved - clean) ** 2).mean() < ((guess - clean) ** 2).mean()


@pytest.mark.parametrize("shape", [(256, 4096), (4096, 256), (1024, 1024)])
def test_projection_memory_stays_small_for_any_aspect_ratio(shape):
    """SR's consistency step runs on the full-size output, in place; what it allocates
    besides that output stays a few bytes per output pixel, for a panorama as for a square
    (an earlier version, with dense per-axis shrink matrices, took 160 for 256 x 4096)."""
    import tracemalloc

    scale = 2
    clean = _smooth((*shape, 3)).astype(np.float32)
    low = imresize(clean, 1 / scale)
    planes = np.ascontiguousarray(clean.transpose(2, 0, 1)) * np.float32(0.8) + np.float32(0.1)
    restored = planes.transpose(1, 2, 0)   # laid out as in restore_pixels; not yet consistent
    # a first small call imports what it needs (a one-off, part of the process's base)
    project_onto_downscale(np.zeros((8, 8, 1)), np.zeros((4, 4, 1)), scale)
    tracemalloc.start()
    try:
        project_onto_downscale(restored, low, scale, in_place=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / (shape[0] * shape[1]) < 16
    assert np.abs(imresize(restored, 1 / scale) - low).max() < 1e-4


def test_projection_refuses_sizes_that_do_not_match():
    with pytest.raises(ValueError, match="does not shrink"):
        project_onto_downscale(np.zeros((9, 8, 3)), np.zeros((4, 4, 3)), 2)
    with pytest.raises(ValueError, match="does not shrink"):
        project_onto_downscale(np.zeros((8, 8, 3)), np.zeros((4, 4, 1)), 2)


@pytest.mark.parametrize("pattern", ["RGGB", "GBRG"])
@pytest.mark.parametrize("raw", [False, True])
def test_demosaicing_keeps_the_mosaics_samples(pattern, raw):
    clean = _smooth((8, 10, 3)).astype(np.float32)
    degraded = mosaic(clean, pattern)
    if raw:   # a raw Bayer frame: one channel
        degraded = degraded.sum(axis=2, keepdims=True)
    restored = np.full_like(clean, 0.25)
    kept = get_task("demosaic").keep_input(restored, degraded, pattern=pattern)
    sampled = bayer_masks(8, 10, pattern).transpose(1, 2, 0)
    assert np.array_equal(kept[sampled], clean[sampled])        # the samples are the truth
    assert np.all(kept[~sampled] == 0.25)                       # the rest is the network's
    assert get_task("denoise").keep_input(restored, degraded) is restored


def test_restore_pixels_keeps_sr_outputs_consistent_except_under_the_papers_protocol():
    torch.manual_seed(0)
    model = create_model("pa-edsr-x2", n_resblocks=1, n_feats=8, reduction=2).eval()
    low = imresize(_smooth((24, 32, 3)), 0.5).astype(np.float32)
    sr = get_task("sr")
    tiling = model_tiling(model, sr, 16, 4)
    raw, note = restore_pixels(model, low, task=sr, tiling=tiling)
    kept, kept_note = restore_pixels(model, low, task=sr, tiling=tiling, consistent=True)
    assert CONSISTENT_NOTE not in note and CONSISTENT_NOTE in kept_note
    assert np.abs(imresize(raw, 0.5) - low).max() > 0.01         # random weights: far off
    inside = (kept > 0.001) & (kept < 0.999)                      # where no clip acted
    assert np.abs(imresize(kept, 0.5) - low).max() < 0.02 and inside.mean() > 0.9
    # the paper's protocol: restore_image (what restore, serve and the API run) leaves
    # consistency off even when the options ask for it
    from panet.restorer import ModelPool, RestoreOptions, restore_image

    options = RestoreOptions(task=sr, protocol="paper", consistency=True)
    paper, _, paper_notes = restore_image(low, None, ModelPool(model, sr, None, fixed=True),
                                          options)
    assert not any(CONSISTENT_NOTE in n for n in paper_notes)
    assert np.abs(paper - raw).max() < 1e-5


def test_cli_restore_and_eval_keep_consistency_unless_asked_not_to(tmp_path):
    torch.manual_seed(0)
    from panet import save_model

    weights = tmp_path / "dem.safetensors"
    save_model(create_model("panet-s", n_resblocks=1, n_feats=8, reduction=2), weights)
    clean = _smooth((16, 16, 3)).astype(np.float32)
    save_image(tmp_path / "mosaic.png", mosaic(clean, "RGGB"))
    sampled = bayer_masks(16, 16, "RGGB").transpose(1, 2, 0)
    outputs = {}
    for flag in ([], ["--no-consistency"]):
        out = tmp_path / f"out{len(flag)}.png"
        assert main(["restore", str(tmp_path / "mosaic.png"), "-o", str(out), "--task",
                     "demosaic", "--model", str(weights), "--tile", "16", *flag]) == 0
        outputs[len(flag)] = load_image(str(out)).pixels
    quantised = np.round(clean * 255) / 255
    assert np.abs(outputs[0][sampled] - quantised[sampled]).max() < 1e-6
    assert np.abs(outputs[1][sampled] - quantised[sampled]).max() > 0.01
    folder = tmp_path / "photos"
    folder.mkdir()
    save_image(folder / "a.png", clean)
    default = ["--protocol", "default", "--tile", "16", "--overlap", "4"]
    for flag, expected in ((default, True), (default + ["--no-consistency"], False),
                           ([], False)):          # eval's default protocol is the paper's
        report = tmp_path / f"e{expected}{len(flag)}"
        assert main(["eval", "--task", "demosaic", "--levels", "RGGB", "--models", str(weights),
                     "--baselines", "none", "--dataset", str(folder), "--out", str(report),
                     "--quiet", *flag]) == 0
        data = json.loads((report / "results.json").read_text())
        assert data["metadata"]["consistency"] is expected
