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
