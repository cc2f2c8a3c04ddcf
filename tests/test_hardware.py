"""Precision choices: detected from the machine (flags and a timing), never assumed."""

import pytest
import torch

from panet import hardware
from panet.hardware import PRECISIONS, autocast_dtype, has_fast_low_precision, precision_plan


@pytest.fixture
def fake_cpu(monkeypatch):
    """A CPU with or without native bfloat16 and a given measured speed-up."""
    def make(native: bool, speedup: float):
        monkeypatch.setattr(hardware, "_cpu_has_native_bfloat16", lambda: native)
        monkeypatch.setattr(hardware, "_cpu_low_precision_speedup", lambda dtype: speedup)
    return make


@pytest.mark.parametrize("native, speedup, fast", [
    (True, 3.0, True),      # AMX-class: native and measured faster
    (True, 0.6, False),     # flags present but the product is slower here: not used
    (False, 3.0, False),    # no native support: emulated, never chosen
])
def test_bfloat16_is_used_only_where_native_and_measured_faster(fake_cpu, native, speedup,
                                                                fast):
    fake_cpu(native, speedup)
    assert has_fast_low_precision("cpu", torch.bfloat16) is fast
    assert autocast_dtype("auto", "cpu") == (torch.bfloat16 if fast else None)
    plan = precision_plan("bf16", "cpu")
    assert ("aggregation of values and the backward's products in bfloat16" in plan) is fast
    assert precision_plan("auto", "cpu") == (plan if fast else "float32 everywhere")


def test_float32_is_never_low_precision():
    assert not has_fast_low_precision("cpu", torch.float32)
    assert autocast_dtype("fp32", "cpu") is None
    assert autocast_dtype("bf16", "cpu") is torch.bfloat16


def test_bad_precisions_are_refused():
    with pytest.raises(ValueError, match="CUDA"):
        autocast_dtype("fp16", "cpu")
    with pytest.raises(ValueError, match="one of"):
        autocast_dtype("half", "cpu")
    assert "not available" in precision_plan("fp16", "cpu")
    assert set(PRECISIONS) == {"auto", "fp32", "tf32", "bf16", "fp16"}


@pytest.fixture
def float32_products():
    """PyTorch's process-wide float32 product setting, restored after the test."""
    saved = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    yield
    torch.set_float32_matmul_precision(saved)


def test_tf32_is_float32_with_tf32_products_on_cuda_only(float32_products):
    """tf32 never autocasts; on a CUDA device it switches the matrix products (the
    attention's) to TF32, and every other precision puts them back to full float32
    (PyTorch's default); on a CPU nothing changes."""
    for device in ("cpu", "cuda"):
        assert autocast_dtype("tf32", device) is None
    hardware.use_float32_products("tf32", "cpu")
    assert torch.get_float32_matmul_precision() == "highest"
    assert precision_plan("tf32", "cpu") == "float32 everywhere (TF32 exists on CUDA GPUs only)"
    for other in ("fp32", "bf16", "auto"):
        hardware.use_float32_products("tf32", torch.device("cuda", 0))
        assert torch.get_float32_matmul_precision() == "high"
        assert torch.backends.cuda.matmul.fp32_precision == "tf32"
        hardware.use_float32_products(other, "cuda")
        assert torch.get_float32_matmul_precision() == "highest"
    assert "TF32" in precision_plan("tf32", "cuda")


def test_training_applies_tf32_for_its_device(monkeypatch, float32_products, tmp_path):
    """build_parts hands train.precision and the run's device to use_float32_products."""
    import numpy as np

    from panet.io import save_image
    from panet.train import build
    from panet.train.config import build_config

    save_image(tmp_path / "photo.png", np.random.default_rng(0).random((64, 64, 3)))
    calls = []
    monkeypatch.setattr(build, "use_float32_products", lambda *a: calls.append(a))
    config = build_config({
        "model": {"name": "panet-s", "options": {"n_feats": 8, "n_resblocks": 1}},
        "task": {"type": "denoise", "sigma": 25},
        "data": {"train": str(tmp_path), "val": str(tmp_path), "workers": 0,
                 "patch_size": 24, "val_patch_size": 0},
        "train": {"precision": "tf32", "device": "cpu", "batch_size": 2}})
    build.build_parts(config, build.Distribution.from_environment(config), warm_start=False)
    assert calls == [("tf32", torch.device("cpu"))]


def test_speedup_probe_measures_float32_even_under_autocast(monkeypatch):
    """The probe's float32 product must stay float32 when the first call happens inside a
    bfloat16 autocast region (the attention asks from inside one)."""
    seen = []
    original = torch.mm

    def spy(a, b):
        out = original(a, b)
        seen.append((a.dtype, out.dtype))
        return out

    monkeypatch.setattr(torch, "mm", spy)
    hardware._cpu_low_precision_speedup.cache_clear()
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            speedup = hardware._cpu_low_precision_speedup(torch.bfloat16, size=64)
    finally:
        hardware._cpu_low_precision_speedup.cache_clear()
    assert speedup > 0
    assert (torch.float32, torch.float32) in seen and (torch.bfloat16, torch.bfloat16) in seen


def test_attention_follows_the_detection(fake_cpu):
    """Under bfloat16 autocast the attention aggregates in bfloat16 exactly when the
    machine is found fast, and computes in float32 otherwise."""
    from panet import PyramidAttention

    block = PyramidAttention(channels=8, reduction=2)
    x = torch.randn(1, 8, 6, 6)
    for fast in (True, False):
        fake_cpu(fast, 3.0)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert block._kernel_dtype(x) == (torch.bfloat16 if fast else torch.float32)
