"""Tilings as objects: the calls they announce are the calls they make."""

import numpy as np
import pytest
import torch

from panet.data.datasets import dihedral
from panet.tiling import PaperChop, SelfEnsemble, Tiles, make_tiling


@pytest.mark.parametrize("tiling", [
    Tiles(), Tiles(tile=16, overlap=4), Tiles(tile=40, overlap=8, scale=2),
    PaperChop(min_pixels=200), PaperChop(min_pixels=6400, scale=3),
    SelfEnsemble(Tiles(tile=16, overlap=4)), SelfEnsemble(PaperChop(min_pixels=300)),
    make_tiling("paper", ensemble=True, min_pixels=500)])
@pytest.mark.parametrize("height, width", [(23, 57), (64, 64), (9, 130)])
def test_announced_calls_are_the_calls_made(tiling, height, width):
    scale = getattr(getattr(tiling, "inner", tiling), "scale", 1)
    made = []

    def network(t):                     # nearest upscaling: output size and content exact
        made.append(tuple(t.shape[-2:]))
        return t.repeat_interleave(scale, -2).repeat_interleave(scale, -1)

    x = torch.rand(1, 2, height, width, dtype=torch.float64)
    out = tiling(network, x)
    assert len(made) == tiling.calls(height, width)
    expected = x.repeat_interleave(scale, -2).repeat_interleave(scale, -1)
    assert torch.allclose(out, expected)        # every strategy is exact for a pointwise net


@pytest.mark.parametrize("index", range(8))
def test_dihedral_is_one_implementation_for_arrays_and_tensors(index):
    array = np.random.default_rng(index).random((5, 7, 3))
    tensor = torch.from_numpy(array.transpose(2, 0, 1).copy())
    moved = dihedral(array, index)
    assert np.array_equal(dihedral(tensor, index, axes=(-2, -1)).numpy(),
                          moved.transpose(2, 0, 1))
    assert np.array_equal(dihedral(moved, index, inverse=True), array)
    # the bits by hand: 4 transposes, then 2 flips rows, then 1 flips columns
    by_hand = array.transpose(1, 0, 2) if index & 4 else array
    by_hand = by_hand[::-1] if index & 2 else by_hand
    by_hand = by_hand[:, ::-1] if index & 1 else by_hand
    assert np.array_equal(moved, by_hand)


def test_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match="protocol"):
        make_tiling("chop")
