"""Run: python experiments/checkpoint_average.py OUT.pt runs/RUN/checkpoints/A.pt B.pt ...
then score OUT.pt beside the checkpoints with scripts/score_val.py.

The evidence behind ``train.ema`` (docs/training.md): a uniform average of a CPU run's saved
checkpoints, written as a training checkpoint (the last one's, its weights replaced) so that
``score_val.py`` and ``model.init_from`` read it."""
import sys

import torch

out, paths = sys.argv[1], sys.argv[2:]
states = [torch.load(path, map_location="cpu", weights_only=True) for path in paths]
last = states[-1]
last["model"] = {name: sum(state["model"][name].double() for state in states).div(
    len(states)).to(value.dtype) if value.is_floating_point() else value
    for name, value in last["model"].items()}
last.pop("average", None)
torch.save(last, out)
print("averaged iterations", [state.get("iteration") for state in states], "into", out)
