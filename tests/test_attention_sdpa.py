"""PyramidAttention(kernel="sdpa"): the fused scaled_dot_product_attention path computes the
block kernel's function, its gradients included, at an image size and in the training
regime; "auto" keeps the block kernel on CPUs."""

import pytest
import torch

import panet.attention.pyramid as pyramid
from panet import PyramidAttention
from panet.attention.reference import reference_pyramid_attention

PAPER = dict(channels=64, reduction=2)                              # five levels
LIGHT = dict(channels=64, reduction=4, scales=(1.0, 0.5))           # the shipped models'


def _relative(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).norm() / want.norm())


def _outputs_and_gradients(module, x, upstream):
    x = x.clone().requires_grad_(True)
    out = module(x)
    out.backward(upstream)
    return out.detach(), x.grad, [p.grad.clone() for p in module.parameters()]


@pytest.mark.parametrize("options, shape", [
    (PAPER, (1, 64, 40, 36)),      # one image
    (LIGHT, (4, 64, 32, 32)),      # a training batch of crops
    (PAPER, (4, 64, 24, 24)),
], ids=["paper-image", "light-training-batch", "paper-training-batch"])
def test_sdpa_matches_the_block_kernel_with_its_gradients(options, shape):
    """Output, input gradient and every weight gradient within 1e-5 relative of the block
    kernel in float32. The PReLU slopes' gradients are single numbers summed over the whole
    batch, where float32 rounding puts both kernels 1e-5 to 1e-4 from float64: for them
    the fused path must be as close to float64 as the block kernel is (float64 block
    kernel as the yardstick): within 1e-5 of it, or no further than twice the block
    kernel's own distance."""
    torch.manual_seed(0)
    blockwise = PyramidAttention(**options, kernel="blockwise")
    fused = PyramidAttention(**options, kernel="sdpa")
    fused.load_state_dict(blockwise.state_dict())
    exact = PyramidAttention(**options, kernel="blockwise").double()
    exact.load_state_dict(blockwise.state_dict())
    x, upstream = torch.randn(shape), torch.randn(shape)
    want = _outputs_and_gradients(blockwise, x, upstream)
    got = _outputs_and_gradients(fused, x, upstream)
    truth = _outputs_and_gradients(exact, x.double(), upstream.double())
    assert _relative(got[0], want[0]) <= 1e-5
    assert _relative(got[1], want[1]) <= 1e-5
    for got_grad, want_grad, true_grad in zip(got[2], want[2], truth[2]):
        if got_grad.numel() > 1:
            assert _relative(got_grad, want_grad) <= 1e-5
        fused_error = _relative(got_grad.double(), true_grad)
        assert fused_error <= max(1e-5, 2 * _relative(want_grad.double(), true_grad))


def test_sdpa_matches_the_float64_reference():
    torch.manual_seed(0)
    module = PyramidAttention(channels=16, reduction=2, kernel="sdpa").double()
    x = torch.randn(2, 16, 11, 9, dtype=torch.float64)
    with torch.no_grad():
        assert (module(x) - reference_pyramid_attention(module, x)).abs().max() <= 1e-10
        assert (module.float()(x.float()) - reference_pyramid_attention(
            module.double(), x).float()).abs().max() <= 1e-5


def test_sdpa_gradcheck_float64():
    torch.manual_seed(0)
    module = PyramidAttention(channels=4, reduction=2, scales=(1.0, 0.7), softmax_scale=2.0,
                              kernel="sdpa").double()
    x = torch.randn(1, 4, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,), eps=1e-6, atol=1e-6)


def test_auto_keeps_the_block_kernel_on_the_cpu(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the fused call ran on a CPU under kernel='auto'")

    monkeypatch.setattr(pyramid, "attend_sdpa", refuse)
    module = PyramidAttention(channels=16, reduction=2)
    assert module.kernel == "auto"
    module(torch.randn(1, 16, 8, 8))
    module.kernel = "sdpa"
    with pytest.raises(AssertionError, match="fused call ran"):
        module(torch.randn(1, 16, 8, 8))


def test_a_kernel_name_is_checked():
    with pytest.raises(ValueError, match="kernel must be"):
        PyramidAttention(channels=16, kernel="flash")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_runs_fused_on_cuda_and_matches():
    torch.manual_seed(0)
    blockwise = PyramidAttention(**PAPER, kernel="blockwise").cuda()
    auto = PyramidAttention(**PAPER).cuda()
    auto.load_state_dict(blockwise.state_dict())
    x = torch.randn(2, 64, 48, 48, device="cuda")
    with torch.no_grad():
        assert _relative(auto(x), blockwise(x)) <= 1e-4   # TF32 may be on for the GEMMs
