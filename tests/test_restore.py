"""Tiled inference, the paper's chop (against SPEC §4 written out), self-ensemble."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from panet.metrics import psnr
from panet.models import create_model
from panet.inference import tile_for_budget
from panet.tasks import get_task
from panet.tiling import PaperChop, SelfEnsemble, Tiles, make_tiling, tile_starts


def _context(x):
    """A 'model' whose output depends on everything it sees (its tile's mean)."""
    return x + x.mean(dim=(-2, -1), keepdim=True)


def test_a_tile_covering_the_image_is_plain_inference():
    torch.manual_seed(0)
    model = create_model("panet-s", n_resblocks=2, n_feats=8).eval()
    x = torch.rand(1, 3, 20, 17)
    with torch.no_grad():
        assert torch.equal(Tiles(20)(model, x), model(x))


@pytest.mark.parametrize("tile, overlap", [(8, 2), (10, 4), (16, 0), (7, 3)])
def test_tiles_blend_exactly_for_pointwise_models(tile, overlap):
    x = torch.rand(2, 3, 23, 31, dtype=torch.float64)
    assert torch.allclose(Tiles(tile, overlap)(lambda t: 2 * t + 1, x), 2 * x + 1)
    up = lambda t: F.interpolate(t, scale_factor=3, mode="nearest")  # noqa: E731
    assert torch.allclose(Tiles(tile, overlap, scale=3)(up, x), up(x))


def test_seams_of_a_convolutional_network_are_invisible():
    torch.manual_seed(0)
    model = create_model("resnet", n_resblocks=2, n_feats=16).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        full = model(x)[0].clamp(0, 1).numpy().transpose(1, 2, 0)
        tiled = Tiles(24, 12)(model, x)[0].clamp(0, 1).numpy().transpose(1, 2, 0)
    assert psnr(tiled, full) > 50


def _spec_chop(forward, x, min_pixels, shave=10):
    """SPEC §4 written out: quadrants of (h/2+10) x (w/2+10), recursively, stitched."""
    h, w = x.shape[-2:]
    top, left = h // 2, w // 2
    th, tw = top + shave, left + shave
    corners = [(0, 0), (0, w - tw), (h - th, 0), (h - th, w - tw)]
    out = torch.empty_like(x)
    for (r, c), (out_rows, out_cols) in zip(corners, [(slice(0, top), slice(0, left)),
                                                      (slice(0, top), slice(left, w)),
                                                      (slice(top, h), slice(0, left)),
                                                      (slice(top, h), slice(left, w))]):
        piece = x[..., r:r + th, c:c + tw]
        result = forward(piece) if th * tw < min_pixels else _spec_chop(forward, piece,
                                                                         min_pixels, shave)
        out[..., out_rows, out_cols] = result[..., out_rows.start - r:out_rows.stop - r,
                                              out_cols.start - c:out_cols.stop - c]
    return out


@pytest.mark.parametrize("shape, min_pixels", [((1, 3, 90, 120), 6800), ((2, 1, 200, 150), 6400),
                                               ((1, 3, 41, 37), 6800)])
def test_paper_chop_matches_spec(shape, min_pixels):
    x = torch.rand(shape, dtype=torch.float64)
    assert torch.equal(PaperChop(min_pixels)(_context, x), _spec_chop(_context, x, min_pixels))


def test_paper_chop_for_super_resolution():
    x = torch.rand(1, 3, 50, 44, dtype=torch.float64)
    up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
    assert torch.equal(PaperChop(900, scale=2)(up, x), up(x))
    assert torch.equal(PaperChop(100, scale=2)(up, x), up(x))    # would not terminate


def test_ensemble_averages_the_eight_transforms():
    x = torch.rand(1, 1, 5, 7, dtype=torch.float64)
    assert torch.allclose(SelfEnsemble(Tiles(None))(lambda t: t * 3, x), x * 3)
    corner = lambda t: t + t[..., :1, :1]          # noqa: E731  (not flip-equivariant)
    expected = x + (x[..., 0, 0] + x[..., 0, -1] + x[..., -1, 0] + x[..., -1, -1])[..., None, None] / 4
    assert torch.allclose(SelfEnsemble(Tiles(None))(corner, x), expected)


def test_tile_helpers():
    assert tile_starts(100, 48, 8) == [0, 40, 52]
    assert tile_starts(30, 48, 8) == [0]
    model = create_model("panet-s")
    small, large = tile_for_budget(model, 400 * 2**20), tile_for_budget(model, 8 * 2**30)
    assert 16 <= small < large == 128


@pytest.mark.parametrize("shape", [(16, 16), (12, 90), (19, 19), (1, 7)])
def test_paper_chop_on_images_smaller_than_its_overlap(shape):
    # quadrants of h/2+10 would exceed the image: they are clamped, and a pointwise
    # network still gives back its plain output
    x = torch.rand(1, 3, *shape)
    out = PaperChop(6400)(lambda t: t * 2 + 1, x)
    assert torch.equal(out, x * 2 + 1)


@pytest.mark.parametrize("shape, options", [
    ((100, 70), dict(tile=32, overlap=8)), ((100, 70), dict(tile=200)),
    ((100, 70), dict(tile=48, overlap=16, ensemble=True)),
    ((256, 180), dict(tile=None, protocol="paper")),
    ((90, 300), dict(tile=None, protocol="paper", task="sr", ensemble=True))])
def test_forward_calls_is_the_progress_total(shape, options):
    from panet.inference import model_tiling, restore_pixels

    calls, totals = [], []
    model = torch.nn.Conv2d(3, 3, 1)   # pointwise: cheap at any size
    task = get_task(options.get("task", "denoise"))
    tile, overlap = options.get("tile"), options.get("overlap")   # None: the model's own
    ensemble, protocol = options.get("ensemble", False), options.get("protocol", "default")
    tiling = model_tiling(model, task, tile, overlap, ensemble, protocol)

    def on_plan(total):
        totals.append(total)
        return lambda: calls.append(1)

    restore_pixels(model, np.zeros((*shape, 3), np.float32), task=task, tiling=tiling,
                   on_plan=on_plan)
    assert totals == [len(calls)]
    assert make_tiling(protocol, tile, 16 if overlap is None else overlap, ensemble,
                       task.paper_min_pixels).calls(*shape) == len(calls)


def test_tile_for_memory_takes_the_image_off_the_budget():
    from panet.inference import image_buffer_bytes, tile_for_memory

    model = create_model("panet-s", n_resblocks=2)
    # 24 MP colour, in 4-byte words per pixel: the decoded file 2, two float input copies
    # 6, the output, its weights and clamped copies 10, the integer levels written 1
    assert image_buffer_bytes(4000, 6000, 3) == 4 * 24_000_000 * (2 + 6 + 10 + 1)
    small = tile_for_memory(model, 500, 500, 3, 1 * 2**30)
    big = tile_for_memory(model, 500, 500, 3, 4 * 2**30)
    assert 16 <= small <= big <= 128
    with pytest.raises(ValueError, match="needs about .* GiB; raise --max-memory"):
        tile_for_memory(model, 4000, 6000, 3, 1 * 2**30)


class _ChecksRGGB(torch.nn.Module):
    """Passes its input through, after checking red sits where an RGGB mosaic has it."""

    metadata = {"task": '{"type": "demosaic", "pattern": "RGGB"}'}

    def forward(self, x):
        red = x[:, 0] > 0
        assert bool(red[:, 0::2, 0::2].all()) and not bool(red[:, 1::2].any()) \
            and not bool(red[:, :, 1::2].any())
        return x


@pytest.mark.parametrize("pattern", ["RGGB", "GRBG", "GBRG", "BGGR"])
def test_a_demosaicer_serves_every_bayer_pattern_by_shifting(pattern):
    from panet.degradations import mosaic
    from panet.inference import restore_pixels

    clean = np.random.default_rng(0).uniform(0.2, 1.0, (11, 14, 3)).astype(np.float32)
    mosaicked = mosaic(clean, pattern).astype(np.float32)
    out, note = restore_pixels(_ChecksRGGB(), mosaicked, task=get_task("demosaic"),
                               pattern=pattern)
    np.testing.assert_array_equal(out, mosaicked)   # the border added is cut off again
    assert ("shifted" in note) == (pattern != "RGGB")
