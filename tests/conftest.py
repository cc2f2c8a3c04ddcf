import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def official_keys_dir():
    path = os.path.join(SHARED, "reference", "official_keys")
    if not os.path.isdir(SHARED):   # a user's checkout: the authors' key lists are not here
        pytest.skip("../shared is not beside the checkout")
    if not os.path.isdir(path):     # CI has ../shared: a missing list there is a failure
        pytest.fail(f"{path} is missing although ../shared is beside the checkout")
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Three smooth 40x40 training photos with a little noise (the tiny training runs)."""
    import numpy as np

    from panet.io import save_image

    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:40] / 40
    for i in range(3):
        smooth = np.stack([np.sin(4 * xx + i), np.cos(3 * yy), xx * yy], 2) * 0.4 + 0.5
        save_image(folder / f"{i}.png", np.clip(smooth + rng.normal(0, 0.02, smooth.shape), 0, 1))
    return folder
