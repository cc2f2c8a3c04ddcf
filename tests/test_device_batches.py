"""The device pipeline (``data.pipeline: device``) against the CPU dataset's statistics,
run on the CPU with the same code a GPU runs."""

import numpy as np
import pytest
import torch

from panet.data.datasets import (Demosaic, Denoise, JPEGArtifacts, RestorationDataset,
                                 SuperResolution, dihedral)
from panet.data.device_batches import DeviceBatches, dihedral_batch
from panet.degradations import jpeg_roundtrip, mosaic
from panet.io import save_image
from panet.metrics import quantize, rgb_to_y


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    """Two photos whose red channel holds the row and green the column (in 8-bit levels),
    so that every crop tells where it came from; blue tells which photo."""
    folder = tmp_path_factory.mktemp("coded")
    for index, (height, width) in enumerate([(90, 120), (130, 100)]):
        rows, cols = np.mgrid[0:height, 0:width]
        levels = np.stack([rows, cols, np.full_like(rows, 50 + 100 * index)], 2)
        save_image(folder / f"{index}.png", levels / 255.0)
    return folder


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A textured colour picture, for the degradations."""
    folder = tmp_path_factory.mktemp("photo")
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:160, 0:192] / 40
    smooth = np.stack([np.sin(3 * xx + yy), np.cos(2 * yy - xx), np.sin(xx * yy)], 2) * 0.35 + 0.5
    save_image(folder / "p.png", np.clip(smooth + rng.normal(0, 0.04, smooth.shape), 0, 1))
    return folder


def _undo(levels):
    """(photo, top, left, dihedral index) of a coded crop ``C x P x P`` in 8-bit levels."""
    crop = levels.permute(1, 2, 0).numpy()
    for index in range(8):
        undone = _dihedral_inverse(crop, index)
        rows, cols = undone[..., 0], undone[..., 1]
        if np.all(np.diff(rows, axis=0) == 1) and np.all(np.diff(rows, axis=1) == 0) and \
                np.all(np.diff(cols, axis=1) == 1) and np.all(np.diff(cols, axis=0) == 0):
            return int(undone[0, 0, 2] > 100), int(rows[0, 0]), int(cols[0, 0]), index
    raise AssertionError("the crop is not a flipped or rotated block of a photo")


def _dihedral_inverse(image, index):
    """Undo dihedral(): flips first, then the transpose."""
    if index & 1:
        image = image[:, ::-1]
    if index & 2:
        image = image[::-1]
    if index & 4:
        image = image.transpose(1, 0, 2)
    return image


def test_dihedral_batch_matches_the_cpu_dihedral():
    crops = torch.rand(8, 3, 5, 5)
    moved = dihedral_batch(crops, torch.arange(8))
    for index in range(8):
        want = dihedral(crops[index].permute(1, 2, 0).numpy(), index)
        assert np.array_equal(moved[index].permute(1, 2, 0).numpy(), want)


def test_crops_are_uniform_blocks_of_uniform_photos_with_all_eight_flips(coded):
    batches = DeviceBatches(coded, Demosaic(), patch_size=16, batch_size=64, seed=1)
    seen = []
    for step in range(40):
        _, target = batches.batch(step)
        seen += [_undo((sample * 255).round().byte()) for sample in target]
    photos, tops, lefts, flips = (np.array(column) for column in zip(*seen))
    heights = np.where(photos == 0, 90, 130)
    widths = np.where(photos == 0, 120, 100)
    assert np.all(tops + 16 <= heights) and np.all(lefts + 16 <= widths)
    assert abs(photos.mean() - 0.5) < 0.05                       # photos drawn uniformly
    assert np.bincount(flips, minlength=8).min() > len(seen) / 8 * 0.75
    # crop corners uniform over their range: mean and spread of a discrete uniform law
    for position, size in ((tops, heights), (lefts, widths)):
        relative = position / (size - 16)
        assert abs(relative.mean() - 0.5) < 0.03 and abs(relative.std() - 0.289) < 0.03
    # one crop can come from anywhere, the borders included
    assert tops.min() == 0 and lefts.min() == 0 and np.any(tops + 16 == heights)


def test_sr_crops_start_on_the_scale_grid_and_downscale_like_panet_degrade(photo, coded):
    batches = DeviceBatches(coded, SuperResolution(3), patch_size=8, batch_size=32)
    _, target = batches.batch(0)
    assert tuple(target.shape) == (32, 3, 24, 24)
    corners = [_undo((t * 255).round().byte()) for t in target]
    assert all(top % 3 == 0 and left % 3 == 0 for _, top, left, _ in corners)
    batches = DeviceBatches(photo, SuperResolution(2), patch_size=16, batch_size=16)
    degraded, target = batches.batch(0)
    for low, high in zip(degraded, target):
        want = SuperResolution(2)(high.permute(1, 2, 0).numpy(), None)[0]   # numpy path
        assert np.abs(low.permute(1, 2, 0).numpy() - want).max() <= 1 / 255 + 1e-6
        assert np.array_equal(np.round(low.numpy() * 255), low.numpy() * 255)


def test_mosaic_equals_the_cpu_mosaic(photo):
    degraded, target = DeviceBatches(photo, Demosaic("GRBG"), patch_size=24,
                                     batch_size=8).batch(0)
    for low, high in zip(degraded, target):
        want = mosaic(high.permute(1, 2, 0).numpy(), "GRBG")
        assert np.array_equal(low.permute(1, 2, 0).numpy(), want)


def test_noise_law_matches_the_cpu_dataset(photo):
    """Fixed sigma: zero-mean noise of that deviation, 8-bit clipped like panet degrade; a
    (low, high) range: per-sample levels uniform over it, as in the CPU dataset."""
    batches = DeviceBatches(photo, Denoise(30, clip=False), patch_size=32, batch_size=64)
    noise = torch.cat([(d - t).flatten() for d, t in [batches.batch(k) for k in range(4)]])
    assert abs(float(noise.std()) * 255 - 30) < 0.3 and abs(float(noise.mean()) * 255) < 0.2
    degraded, target = DeviceBatches(photo, Denoise(30), patch_size=32, batch_size=8).batch(0)
    assert np.array_equal(torch.round(degraded * 255).numpy(), (degraded * 255).numpy())
    assert float(degraded.min()) >= 0 and float(degraded.max()) <= 1

    def levels(pairs):   # per-sample sigma estimated from unclipped noise
        return np.array([float((d - t).std()) * 255 for d, t in pairs])

    device = DeviceBatches(photo, Denoise((5, 45), clip=False), patch_size=32, batch_size=100)
    ours = levels(zip(*device.batch(0)))
    dataset = RestorationDataset(photo, Denoise((5, 45), clip=False), patch_size=32,
                                 repeat=100)
    theirs = levels(dataset[i] for i in range(100))
    for sample in (ours, theirs):   # uniform on [5, 45]: mean 25, deviation 11.5
        assert sample.min() > 4 and sample.max() < 46
        assert abs(sample.mean() - 25) < 3.5 and abs(sample.std() - 11.55) < 2.5


def _transpose(image):
    return np.ascontiguousarray(image.transpose(1, 0, 2))


@pytest.mark.parametrize("gray_y", [True, False])
def test_pre_encoded_jpeg_matches_a_jpeg_of_the_crop(photo, gray_y):
    """Crops on the block grid of the photo coded as is or transposed: the blocks that
    coding the (unflipped) crop alone gives, up to the colour upsampling at the crop's edge;
    only the flips come after coding."""
    batches = DeviceBatches(photo, JPEGArtifacts([15, 35], gray_y=gray_y), patch_size=32,
                            batch_size=16, seed=4)
    assert batches.qualities == [15, 35]
    assert DeviceBatches(photo, JPEGArtifacts((10, 40)), patch_size=32).qualities == \
        list(range(10, 41))
    degraded, target = batches.batch(0)
    assert degraded.shape[1] == target.shape[1] == (1 if gray_y else 3)
    seen = set()
    for low, high in zip(degraded, target):
        clean, low = high.permute(1, 2, 0).numpy(), low.permute(1, 2, 0).numpy()
        errors = {}
        for q in (15, 35):
            for flip in range(4):   # JPEG of the crop before the flip, compared after it
                errors[q, flip] = np.abs(
                    dihedral(jpeg_roundtrip(dihedral(clean, flip), q), flip) - low)
        best = min(errors, key=lambda key: errors[key].mean())
        seen.add(best[0])
        if gray_y:   # blocks are coded alone: exact
            assert errors[best].max() == 0
        else:        # the chroma upsampling reads across the crop's edge
            assert errors[best][4:-4, 4:-4].max() <= 2 / 255 and errors[best].mean() < 1 / 255
    assert seen == {15, 35}


def test_jpeg_crops_are_never_transposed_after_coding(coded):
    """A transposed sample comes from the photo coded transposed (JPEG's tables are not
    symmetric), so a sample's orientation is chosen before the quality's blocks are."""
    batches = DeviceBatches(coded, JPEGArtifacts(90, gray_y=False), patch_size=16,
                            batch_size=64, seed=2)
    _, target = batches.batch(0)
    flips = [_undo((t * 255).round().byte())[3] for t in target]
    assert {f & 4 for f in flips} == {0, 4}            # both orientations occur
    assert len(batches.heights) == 2 * len(batches.paths)
    with pytest.raises(ValueError, match="multiple of 16"):
        DeviceBatches(coded, JPEGArtifacts(20, gray_y=False), patch_size=40)
    with pytest.raises(ValueError, match="from 1 to 100"):
        DeviceBatches(coded, JPEGArtifacts(0, gray_y=False), patch_size=16)


def test_y_targets_are_the_cpu_datasets_y(photo):
    batches = DeviceBatches(photo, JPEGArtifacts(20, gray_y=True), patch_size=16,
                            batch_size=4, seed=0)
    _, target = batches.batch(0)
    picture = quantize(RestorationDataset(photo, JPEGArtifacts(20), patch_size=16)._image(0))
    full_y = np.round(rgb_to_y(picture))[..., 0]
    for crop in target:
        y = np.round(crop[0].numpy() * 255)
        # the crop (up to a flip) occurs in the photo's Y, on the 8-px block grid
        found = any(np.array_equal(np.ascontiguousarray(dihedral(y[..., None], k)[..., 0]),
                                   full_y[r:r + 16, c:c + 16])
                    for k in range(8) for r in range(0, 160 - 15, 8) for c in range(0, 192 - 15, 8))
        assert found


def test_a_batch_depends_on_seed_and_step_alone_and_ranks_split_it(photo):
    make = lambda seed, rank=0, world=1, size=4: DeviceBatches(  # noqa
        photo, Denoise((0, 50)), patch_size=16, batch_size=size, seed=seed, rank=rank,
        world=world)
    first, second = make(7), make(7)
    first.batch(0)
    want = first.batch(1)
    got = second.batch(1)                      # no batch 0 drawn first: the same batch 1
    assert all(torch.equal(a, b) for a, b in zip(want, got))
    resumed = second.batches(start=1)
    assert all(torch.equal(a, b) for a, b in zip(want, next(resumed)))
    assert not torch.equal(make(8).batch(1)[1], want[1])   # another seed: other batches
    # two ranks of a world of 2 draw the halves of one process's batch, noise included
    halves = [make(7, rank, 2, size=2).batch(1) for rank in (0, 1)]
    for part, whole in zip(zip(*halves), want):
        assert torch.equal(torch.cat(part), whole)
    with pytest.raises(ValueError, match="outside a world"):
        make(7, 2, 2)


def test_too_small_photos_unknown_tasks_and_negative_noise_are_refused(photo):
    with pytest.raises(ValueError, match="non-negative"):
        DeviceBatches(photo, Denoise((-5, 10)), patch_size=16)
    with pytest.raises(ValueError, match="smaller than the 384x384 crop"):
        DeviceBatches(photo, SuperResolution(4), patch_size=96)
    with pytest.raises(ValueError, match="no rule for task"):
        DeviceBatches(photo, lambda clean, rng: (clean, clean))
