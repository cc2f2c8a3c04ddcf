"""Network shapes, parameter counts (SPEC §2 / the paper) and the registry."""

import numpy as np
import pytest
import torch

from panet import PAEDSR, PANet, count_parameters, create_model, list_models
from panet.attention import PyramidAttention
from panet.models.networks import resolve_positions


@pytest.mark.parametrize("name, expected", [
    ("panet", 5_957_255),        # paper Table 4: 5957K
    ("panet-s", 639_623),        # SPEC §2 arithmetic (paper reports 665K)
    ("pa-edsr-x2", 40_811_846),  # trainable unique parameters of the authors' x2 key list
])
def test_parameter_counts(name, expected):
    assert count_parameters(create_model(name)) == expected


@pytest.mark.parametrize("name, millions", [("pa-edsr-x3", 43.8), ("pa-edsr-x4", 43.2)])
def test_sr_parameter_counts_are_near_the_spec(name, millions):
    assert round(count_parameters(create_model(name)) / 1e6, 1) == millions


def test_shared_prelu_is_one_module():
    model = create_model("panet-s")
    slopes = {id(block.body[1]) for block in model.body if hasattr(block, "body")}
    assert len(slopes) == 1
    assert count_parameters(create_model("panet-s", shared_prelu=False)) == 639_623 + 7


def test_attention_positions_of_table_9():
    assert resolve_positions(["pre", "mid", "post"], 16) == [1, 8, 16]
    model = PANet(n_feats=8, n_resblocks=4, attention_positions=["pre", "post"], reduction=2)
    kinds = [type(m).__name__ for m in model.body]
    assert kinds == ["ResBlock", "PyramidAttention", "ResBlock", "ResBlock", "ResBlock",
                     "PyramidAttention", "Conv2d"]
    assert len(create_model("resnet").attention_blocks) == 0
    with pytest.raises(ValueError, match="unknown attention position"):
        PANet(attention_positions=["middle"])
    with pytest.raises(ValueError, match="between 0 and"):
        PANet(n_resblocks=4, attention_positions=[9])


@pytest.mark.parametrize("in_channels, out_channels", [(1, 1), (3, 3), (4, 3)])
def test_panet_channels(in_channels, out_channels):
    model = PANet(in_channels, out_channels, n_feats=8, n_resblocks=2, reduction=2)
    assert model(torch.rand(2, in_channels, 9, 7)).shape == (2, out_channels, 9, 7)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_pa_edsr_upscales(scale):
    model = PAEDSR(scale=scale, n_feats=8, n_resblocks=2, reduction=2)
    assert model(torch.rand(1, 3, 5, 6)).shape == (1, 3, 5 * scale, 6 * scale)


def test_ablation_entries_configure_the_attention():
    (block,) = create_model("nonlocal", n_resblocks=2).attention_blocks
    assert block.scales == (1.0,) and block.patch_size == 1
    (block,) = create_model("nonlocal-block", n_resblocks=2).attention_blocks
    assert block.scales == (1.0,) and block.patch_size == 3
    assert isinstance(create_model("panet-s").body[4], PyramidAttention)


def test_registry_errors_name_the_choices():
    with pytest.raises(ValueError, match="known models: panet"):
        create_model("panett")
    with pytest.raises(ValueError, match="valid options: in_channels"):
        create_model("panet", n_blocks=3)
    assert {"panet", "panet-s", "resnet", "pa-edsr-x2", "pa-edsr-x3", "pa-edsr-x4"} <= set(list_models())


def test_residual_panet_adds_its_input_or_a_bilinear_demosaic():
    from panet.models.networks import bilinear_demosaic

    torch.manual_seed(0)
    plain = PANet(n_resblocks=1, n_feats=8, attention_positions=[])
    x = torch.rand(2, 3, 10, 12)
    for residual, base in (("input", x), ("bilinear", bilinear_demosaic(x))):
        model = PANet(n_resblocks=1, n_feats=8, attention_positions=[], residual=residual)
        model.load_state_dict(plain.state_dict())          # same layers, same weights
        assert torch.allclose(model(x), base + plain(base), atol=1e-6)
    with pytest.raises(ValueError, match="unknown residual"):
        PANet(residual="bicubic")
    with pytest.raises(ValueError, match="3-channel mosaic"):
        PANet(in_channels=1, residual="bilinear")


@pytest.mark.parametrize("pattern", ["RGGB", "GRBG", "BGGR", "GBRG"])
def test_bilinear_demosaic_matches_colour_demosaicing(pattern):
    """Against colour-demosaicing's bilinear demosaic (BSD-3, an independent implementation)
    away from the border, where the two pad differently."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from colour_demosaicing import demosaicing_CFA_Bayer_bilinear
    from panet.degradations import mosaic
    from panet.models.networks import bilinear_demosaic

    image = np.random.default_rng(1).random((20, 24, 3))
    mosaicked = mosaic(image, pattern)
    want = demosaicing_CFA_Bayer_bilinear(mosaicked.sum(axis=2), pattern)
    got = bilinear_demosaic(torch.from_numpy(mosaicked.transpose(2, 0, 1))[None].float())
    got = got[0].numpy().transpose(1, 2, 0)
    assert np.abs(got - want)[1:-1, 1:-1].max() < 1e-5
    # at the border too, a flat picture stays flat (the mirror keeps the Bayer phase)
    flat = torch.from_numpy(mosaic(np.full((7, 9, 3), 0.6), pattern).transpose(2, 0, 1))
    assert torch.allclose(bilinear_demosaic(flat[None].float()), torch.tensor(0.6), atol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert bilinear_demosaic(flat[None].float()).dtype == torch.float32
