"""`train.compile`: the training step through torch.compile, exact to the eager step."""

import pytest
import torch

from panet.train.config import ConfigError, build_config
from panet.train.loop import Trainer, train_step
from test_train import _tiny


def _one_step(trainer: Trainer, degraded: torch.Tensor, target: torch.Tensor):
    loss = train_step(trainer.net, trainer.optimizer, degraded, target, None)
    return float(loss), {name: p.detach().clone() for name, p in trainer.model.named_parameters()}


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def test_compiled_training_matches_the_eager_step(tmp_path, images):
    """One step of the compiled network moves every weight as the eager step does, and a
    compiled run trains, exports and resumes like any other."""
    pytest.importorskip("torch._inductor")
    torch.manual_seed(3)
    degraded, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    # the same seed gives both trainers the same weights; the gradients of one step on one
    # batch are what the compiled forward and backward computed
    steps = {}
    for mode in ("off", "default"):
        raw = _tiny(images, iterations=3, val_every=3, save_every=1, precision="fp32",
                    compile=mode)
        raw["model"]["options"] = {"n_resblocks": 1, "n_feats": 8}
        trainer = Trainer(build_config(raw), str(tmp_path / mode), progress=False)
        assert (trainer.net is trainer.model) == (mode == "off")
        loss, _ = _one_step(trainer, degraded, target)
        grads = {name: p.grad.detach().clone() for name, p in trainer.model.named_parameters()}
        steps[mode] = (loss, grads, trainer)
    eager_loss, eager_grads, _ = steps["off"]
    compiled_loss, compiled_grads, compiled = steps["default"]
    assert compiled_loss == pytest.approx(eager_loss, rel=1e-6)
    assert set(compiled_grads) == set(eager_grads)
    for name, grad in eager_grads.items():
        assert _relative(compiled_grads[name], grad) < 1e-5, name
    # the whole loop: checkpoints and the exported weights are the plain network's
    weights = compiled.run()
    from panet import load_model

    assert set(load_model(weights).state_dict()) == set(compiled.model.state_dict())
    again = Trainer(compiled.config, str(tmp_path / "default"), resume=True, progress=False)
    assert again.position.iteration == compiled.position.iteration


def test_the_low_precision_check_is_not_traced_into_the_graph():
    """The attention asks once whether bfloat16 is fast here (a timed product on CPUs with
    bfloat16 units); under torch.compile that answer is a constant of the graph, not a
    graph break or a timing traced into it."""
    pytest.importorskip("torch._inductor")
    from panet.hardware import has_fast_low_precision

    def ask(x: torch.Tensor) -> torch.Tensor:
        return x * 2 if has_fast_low_precision(x.device, torch.bfloat16) else x * 3

    x = torch.ones(2)
    expected = ask(x)
    torch._dynamo.reset()   # a fresh trace, whatever ran before in this process
    assert torch.equal(torch.compile(ask, fullgraph=True, backend="aot_eager")(x), expected)


def test_bad_compile_modes_are_refused():
    with pytest.raises(ConfigError, match="train.compile must be off, default, reduce-overhead"):
        build_config({"train": {"compile": "yes"}})
