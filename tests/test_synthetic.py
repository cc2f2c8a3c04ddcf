"""Synthetic dead-leaves pictures (``data.synthetic``): what they look like, and that both
training pipelines draw from the same pictures beside the photos."""

import numpy as np
import pytest

from panet.data.datasets import (Denoise, JPEGArtifacts, RestorationDataset, SuperResolution,
                                 dihedral, to_gray)
from panet.data.device_batches import DeviceBatches
from panet.data.synthetic import dead_leaves, synthetic_pictures
from panet.io import save_image
from panet.metrics import rgb_to_y
from panet.train.config import ConfigError, build_config

GRAY = 77   # the level of the one (flat) photo beside the synthetic pictures


@pytest.fixture(scope="module")
def flat_photo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flat")
    save_image(folder / "gray.png", np.full((80, 80, 3), GRAY / 255))
    return folder


def _packed(levels: np.ndarray) -> np.ndarray:
    """``... x 3`` uint8-valued pixels as one 24-bit number each (``...``), to match whole
    colours."""
    levels = np.asarray(levels, dtype=np.int64)
    return levels[..., 0] << 16 | levels[..., 1] << 8 | levels[..., 2]


def _colours(levels: np.ndarray) -> set[int]:
    """The set of 24-bit colours of ``... x 3`` uint8-valued pixels."""
    return set(_packed(levels).reshape(-1).tolist())


def _one_pixel_runs(picture: np.ndarray, length: int = 12) -> int:
    """Horizontal runs of ``length`` equal pixels, each far from the pixels above and below."""
    p = picture.astype(int)
    middle, above, below = p[1:-1], p[:-2], p[2:]
    # unlike by more than a step of the background's gradient
    alone = (np.abs(middle - above) > 8).any(2) & (np.abs(middle - below) > 8).any(2)
    same = np.ones_like(alone)
    for shift in range(1, length):   # the pixel equals the next length-1 pixels along the row
        same[:, :-shift] &= (middle[:, shift:] == middle[:, :-shift]).all(2)
        same[:, -shift:] = False
    run = same.copy()
    for shift in range(length):
        run[:, :p.shape[1] - shift] &= alone[:, shift:]
    return int(run.sum())


def _is_block_of(crop: np.ndarray, picture: np.ndarray) -> bool:
    """Whether the 2-D ``crop`` is a block of the 2-D ``picture`` under one of its 8
    flips/rotations."""
    windows = np.lib.stride_tricks.sliding_window_view(picture, crop.shape)
    return any((windows == dihedral(crop[..., None], k, inverse=True)[..., 0]).all(
        axis=(2, 3)).any() for k in range(8))


def test_pictures_are_flat_colours_with_sharp_edges_the_same_for_a_seed():
    pictures = synthetic_pictures(3, seed=5)
    assert all(p.shape == (256, 256, 3) and p.dtype == np.uint8 for p in pictures)
    for picture in pictures:
        steps = np.abs(np.diff(picture.astype(int), axis=1)).max(axis=2)
        assert (steps <= 1).mean() > 0.5      # mostly flat (or the gentle gradient)
        assert (steps > 100).mean() > 0.02    # and hard edges between the flats
        # saturated colours: the chroma of uniform RGB, far beyond most photos' (~15)
        r, g, b = np.moveaxis(picture.astype(float), 2, 0)
        assert np.median(np.hypot(-0.1687 * r - 0.3313 * g + 0.5 * b,
                                  0.5 * r - 0.4187 * g - 0.0813 * b)) > 30
    # thin bars: runs of 12 pixels of one colour, one pixel tall or wide, each differing
    # from the pixels on both sides of it (shape edges and slivers are rarely that long)
    assert sum(_one_pixel_runs(p) + _one_pixel_runs(p.transpose(1, 0, 2))
               for p in pictures) >= 50   # 181 here; 6 without the bars
    again = synthetic_pictures(3, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(pictures, again))
    assert not np.array_equal(pictures[0], synthetic_pictures(1, seed=6)[0])
    with pytest.raises(ValueError, match="at least 8 px"):
        dead_leaves(4, np.random.default_rng(0))
    with pytest.raises(ValueError, match=">= 0"):
        synthetic_pictures(-1)


def test_cpu_dataset_draws_the_synthetic_pictures_beside_the_photos(flat_photo):
    dataset = RestorationDataset(flat_photo, Denoise(0), patch_size=24, repeat=40, seed=9,
                                 synthetic=2)
    assert len(dataset) == 3 * 40
    allowed = _colours(np.concatenate([p.reshape(-1, 3) for p in synthetic_pictures(2, 9)]))
    flat = drawn = 0
    for item in range(len(dataset)):
        target = np.round(dataset[item][1].numpy().transpose(1, 2, 0) * 255)
        if np.all(target == GRAY):
            flat += 1
        else:   # a crop of one of the seed's pictures: no colour from anywhere else
            assert _colours(target) <= allowed
            drawn += 1
    assert flat == 40 and drawn == 80   # each picture is drawn like a photo
    without = RestorationDataset(flat_photo, Denoise(0), patch_size=24, repeat=40, seed=9)
    assert len(without) == 40


def test_gray_sets_see_the_pictures_luma(flat_photo):
    dataset = RestorationDataset(flat_photo, Denoise(0), patch_size=24, repeat=1, seed=2,
                                 channels=1, synthetic=1)
    target = np.round(dataset[1][1].numpy()[0] * 255)
    luma = np.round(to_gray(synthetic_pictures(1, 2)[0] / 255.0)[..., 0] * 255)
    assert not np.all(target == GRAY) and len(np.unique(target)) > 1   # not the photo
    assert _is_block_of(target, luma)


def test_device_pipeline_draws_the_same_pictures_and_jpeg_codes_them(flat_photo):
    batches = DeviceBatches(flat_photo, JPEGArtifacts(20, gray_y=False), patch_size=32,
                            batch_size=64, seed=4, synthetic=1)
    degraded, target = batches.batch(0)
    targets = np.round(target.numpy().transpose(0, 2, 3, 1) * 255)
    synthetic = [t for t in targets if not np.all(t == GRAY)]
    assert 16 < len(synthetic) < 48   # one photo and one picture, drawn alike
    allowed = _colours(synthetic_pictures(1, 4)[0])
    assert all(_colours(t) <= allowed for t in synthetic)
    coded = degraded.numpy().transpose(0, 2, 3, 1)
    busy = [i for i, t in enumerate(targets) if not np.all(t == GRAY)]
    assert np.abs(coded[busy] * 255 - targets[busy]).mean() > 1   # JPEG-coded, not copied


@pytest.mark.parametrize("value", [-1, True, 2.5])
def test_bad_counts_are_refused(value):
    with pytest.raises(ConfigError, match="data.synthetic must be"):
        build_config({"data": {"synthetic": value}})
    with pytest.raises(ConfigError, match="train.seed must be 0 or more"):
        build_config({"train": {"seed": -1}})   # the pictures' seed too


def _config(folder, pipeline: str, **data):
    return build_config({"model": {"name": "panet-s", "options": {"n_feats": 8,
                                                                  "n_resblocks": 1}},
                         "task": {"type": "denoise", "sigma": 10},
                         "data": {"train": str(folder), "val": str(folder), "workers": 0,
                                  "pipeline": pipeline, "repeat": 50, "patch_size": 24,
                                  "val_patch_size": 0, **data},
                         "train": {"iterations": 1, "batch_size": 4, "device": "cpu"}})


@pytest.mark.parametrize("pipeline", ["loader", "device"])
def test_training_gets_the_configured_pictures_and_refuses_too_large_crops(flat_photo,
                                                                           pipeline, tmp_path):
    from panet.train.loop import Distribution, build_parts

    config = _config(flat_photo, pipeline, synthetic=3)
    parts = build_parts(config, Distribution.from_environment(config))
    assert len(parts.train_set) == 4 * 50
    if pipeline == "device":
        assert parts.device_batches.count == 4
    large = tmp_path / "large"
    large.mkdir()
    save_image(large / "gray.png", np.full((300, 300, 3), GRAY / 255))
    big = _config(large, pipeline, synthetic=1, patch_size=280, val_patch_size=0)
    with pytest.raises(ConfigError, match="data.synthetic pictures are 256 px"):
        build_parts(big, Distribution.from_environment(big))   # the photo holds 280 px


def test_device_pipeline_gives_gray_jpeg_the_pictures_rounded_luma(flat_photo):
    batches = DeviceBatches(flat_photo, JPEGArtifacts(20, gray_y=True), patch_size=24,
                            batch_size=32, seed=3, synthetic=1)
    _, target = batches.batch(0)
    assert target.shape[1] == 1
    luma = np.round(rgb_to_y(synthetic_pictures(1, 3)[0]))[..., 0]   # the paper's CAR target
    drawn = [np.round(t[0] * 255) for t in target.numpy()]
    drawn = [t for t in drawn if len(np.unique(t)) > 1]   # the photo is one flat level
    assert len(drawn) > 8
    assert all(_is_block_of(t, luma) for t in drawn)


def test_device_pipeline_gives_super_resolution_the_pictures_as_targets(flat_photo):
    batches = DeviceBatches(flat_photo, SuperResolution(2), patch_size=16,
                            batch_size=32, seed=6, synthetic=1)
    small, target = batches.batch(0)
    assert small.shape[-1] == 16 and target.shape[-1] == 32
    picture = _packed(synthetic_pictures(1, 6)[0])
    drawn = [np.round(t.transpose(1, 2, 0) * 255) for t in target.numpy()]
    drawn = [_packed(t) for t in drawn if not np.all(t == GRAY)]
    assert len(drawn) > 8
    assert all(_is_block_of(t, picture) for t in drawn)
