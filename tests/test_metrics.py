"""Metrics against scikit-image and hand-computed values (SPEC §4)."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from panet.metrics import prepare_pair, psnr, quantize, rgb_to_y, ssim


@pytest.fixture
def pair():
    rng = np.random.default_rng(1)
    clean = rng.random((40, 33, 3))
    noisy = np.clip(clean + rng.normal(0, 0.08, clean.shape), 0, 1)
    return noisy, clean


def test_psnr_matches_scikit_image(pair):
    noisy, clean = pair
    assert psnr(noisy, clean) == pytest.approx(
        peak_signal_noise_ratio(quantize(clean), quantize(noisy), data_range=255), abs=1e-10)


def test_ssim_matches_scikit_image(pair):
    noisy, clean = pair
    expected = structural_similarity(quantize(clean), quantize(noisy), gaussian_weights=True,
                                     sigma=1.5, use_sample_covariance=False, data_range=255,
                                     channel_axis=2)
    assert ssim(noisy, clean) == pytest.approx(expected, abs=1e-6)
    y_expected = structural_similarity(rgb_to_y(quantize(clean))[..., 0],
                                       rgb_to_y(quantize(noisy))[..., 0], gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False, data_range=255)
    assert ssim(noisy, clean, y=True) == pytest.approx(y_expected, abs=1e-6)


def test_hand_computed_values():
    a = np.zeros((4, 4, 1), dtype=np.uint8)
    b = a.copy()
    b[0, 0, 0] = 10                     # MSE = 100 / 16
    assert psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / (100 / 16)))
    # Y of pure red, green, blue and black (Matlab rgb2ycbcr): 16 + 65.481, ...
    levels = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 0, 0]]], dtype=np.float64)
    assert rgb_to_y(levels)[0, :, 0] == pytest.approx([81.481, 144.553, 40.966, 16.0])
    # Shave removes the border, where the only difference lies.
    c = np.zeros((8, 8, 3))
    d = c.copy()
    d[0] = 1.0
    assert psnr(c, d, shave=1) == float("inf")


def test_floats_are_quantised_before_scoring():
    a = np.full((12, 12, 1), 0.5)
    assert psnr(a, a + 0.001) == float("inf")     # 127.5 and 127.755 both round to 128


@pytest.mark.parametrize("kwargs, message", [
    (dict(restored=np.zeros((4, 4, 3)), reference=np.zeros((4, 5, 3))), "shapes differ"),
    (dict(restored=np.zeros((4, 4, 3)), reference=np.zeros((4, 4, 3)), shave=2), "shave"),
])
def test_bad_pairs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        prepare_pair(**kwargs)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(np.zeros((8, 8, 1)), np.zeros((8, 8, 1)))
