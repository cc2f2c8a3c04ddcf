"""On-the-fly training/validation pairs."""

import numpy as np
import pytest
import torch

from panet.data.datasets import (Demosaic, Denoise, JPEGArtifacts, RestorationDataset,
                                 SuperResolution, dihedral)
from panet.degradations import imresize, mosaic
from panet.io import save_image


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(75, 90), (80, 100), (80, 80)]):
        save_image(tmp_path / f"img{i}.png", np.round(rng.random((h, w, 3)) * 255) / 255)
    return tmp_path


@pytest.mark.parametrize("task, in_shape, out_shape", [
    (Denoise(30), (3, 24, 24), (3, 24, 24)),
    (Demosaic("GRBG"), (3, 24, 24), (3, 24, 24)),
    (JPEGArtifacts(20), (1, 24, 24), (1, 24, 24)),
    (JPEGArtifacts(20, gray_y=False), (3, 24, 24), (3, 24, 24)),
    (SuperResolution(2), (3, 24, 24), (3, 48, 48)),
    (SuperResolution(3), (3, 24, 24), (3, 72, 72)),
])
def test_pairs_have_the_paper_shapes(folder, task, in_shape, out_shape):
    dataset = RestorationDataset(folder, task, patch_size=24, repeat=2)
    assert len(dataset) == 6
    degraded, target = dataset[4]
    assert tuple(degraded.shape) == in_shape and tuple(target.shape) == out_shape
    assert degraded.dtype == target.dtype == torch.float32
    assert 0 <= degraded.min() and degraded.max() <= 1


def test_degradations_are_applied_to_the_target_crop(folder):
    degraded, target = RestorationDataset(folder, Demosaic("RGGB"), patch_size=16)[1]
    expected = mosaic(target.numpy().transpose(1, 2, 0), "RGGB")
    assert np.array_equal(degraded.numpy().transpose(1, 2, 0), expected)
    low, high = RestorationDataset(folder, SuperResolution(4), patch_size=8)[2]
    expected = np.round(np.clip(imresize(high.numpy().transpose(1, 2, 0), 0.25), 0, 1) * 255) / 255
    assert np.allclose(low.numpy().transpose(1, 2, 0), expected, atol=1e-6)
    noisy, clean = RestorationDataset(folder, Denoise(25), patch_size=16)[0]
    assert np.array_equal(noisy * 255, torch.round(noisy * 255))           # 8-bit noisy input
    assert 15 < float((noisy - clean).std() * 255) < 35


def test_randomness_is_reproducible_and_changes_per_epoch(folder):
    a = RestorationDataset(folder, Denoise((5, 50)), patch_size=16, seed=3)
    b = RestorationDataset(folder, Denoise((5, 50)), patch_size=16, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a[1], b[1]))
    b.set_epoch(1)
    assert not torch.equal(a[1][1], b[1][1])


def test_blind_levels_stay_in_their_range(folder):
    flat = folder / "flat"
    flat.mkdir()
    save_image(flat / "gray.png", np.full((64, 64, 3), 0.5))
    dataset = RestorationDataset(flat, Denoise((10, 20), clip=False), patch_size=48, repeat=20)
    levels = [float((n - c).std() * 255) for n, c in (dataset[i] for i in range(20))]
    assert 9 < min(levels) and max(levels) < 21 and max(levels) - min(levels) > 3


def test_validation_is_deterministic_centre_crops(folder):
    val = RestorationDataset(folder, Denoise(50), patch_size=32, train=False)
    first, again = val[0], val[0]
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    whole = RestorationDataset(folder, SuperResolution(3), patch_size=None, train=False)
    low, high = whole[0]                     # 75 x 90 -> 25 x 30 (already a multiple of 3)
    assert tuple(high.shape) == (3, 75, 90) and tuple(low.shape) == (3, 25, 30)
    _, high = RestorationDataset(folder, SuperResolution(4), patch_size=None, train=False)[0]
    assert tuple(high.shape) == (3, 72, 88)                # modcrop to multiples of 4


def test_all_eight_dihedral_transforms_are_distinct():
    image = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
    variants = {dihedral(image, k).tobytes() + bytes(dihedral(image, k).shape) for k in range(8)}
    assert len(variants) == 8


def test_gray_and_errors(folder, tmp_path):
    noisy, clean = RestorationDataset(folder, Denoise(10), patch_size=16, channels=1)[0]
    assert noisy.shape[0] == clean.shape[0] == 1
    with pytest.raises(ValueError, match="smaller than"):
        RestorationDataset(folder, Denoise(10), patch_size=200)[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images"):
        RestorationDataset(empty, Denoise(10))
    gray = tmp_path / "grayset"
    gray.mkdir()
    save_image(gray / "g.png", np.zeros((30, 30, 1)))
    noisy, clean = RestorationDataset(gray, Denoise(10), patch_size=16)[0]
    assert clean.shape[0] == 3 and torch.equal(clean[0], clean[2])
