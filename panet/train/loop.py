"""The training loop: paper recipe, any device, data-parallel with torchrun, fault-tolerant.

One process per device. Under ``torchrun`` (``WORLD_SIZE`` > 1) each rank trains on its slice
of every global batch with ``DistributedDataParallel`` (NCCL on GPUs, Gloo on CPUs), so that
N processes with a global batch B see the batches one process with batch B sees; rank 0
alone writes checkpoints and logs, and the logged loss is the mean over all ranks.
Checkpoints hold everything needed to continue as if uninterrupted: weights, optimizer,
scheduler, iteration, data position (epoch and batch), whether that iteration's validation
is logged, and the RNG state; they are written atomically, and a resumed run first drops
the log lines written after its checkpoint (a SIGKILL at any moment loses nothing else).
"""

from __future__ import annotations

import glob
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from panet.checkpoints import save_model
from panet.data.datasets import RestorationDataset
from panet.files import atomic_output
from panet.metrics import psnr
from panet.tasks import training_task
from panet.train.build import (Distribution, TrainingParts, autocast_dtype, build_parts,
                               images_folder, make_task, resolve_device)
from panet.train.config import ConfigError, TrainConfig, config_to_dict
from panet.train.plots import missing_extras, note_missing, plot_curves

__all__ = ["Trainer", "train_step", "resolve_device", "autocast_dtype", "make_task",
           "shard_indices", "validation_psnr", "TrainingParts", "Distribution", "build_parts"]


#: Seed of the validation crops' degradations (independent of ``train.seed``).
VALIDATION_SEED = 0


def validation_psnr(model: nn.Module, config: TrainConfig, device: torch.device | str = "cpu",
                    each=None) -> float:
    """Mean PSNR of ``model`` on the configuration's validation crops: the fixed centre crops
    of ``data.val`` with a fixed degradation, scored with the paper's protocol (SR: Y,
    shave = scale). ``each(index, degraded, restored, target)`` sees every crop."""
    # the same noise and JPEG qualities whatever train.seed is, so that stages trained with
    # other seeds (other batches) are scored on the same crops
    dataset = RestorationDataset(images_folder(config.data.val), make_task(config),
                                 patch_size=config.data.val_patch_size,
                                 channels=config.task.channels, train=False,
                                 seed=VALIDATION_SEED)
    count = len(dataset) if config.data.val_images <= 0 else min(len(dataset),
                                                                  config.data.val_images)
    spec = training_task(config.task)
    scores = []
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for index in range(count):
            degraded, target = dataset[index]
            restored = model(degraded[None].to(device))[0].float().clamp(0, 1).cpu()
            scores.append(psnr(restored.numpy().transpose(1, 2, 0),
                               target.numpy().transpose(1, 2, 0), y=spec.y,
                               shave=spec.shave(config.task.scale)))
            if each is not None:
                each(index, degraded, restored, target)
    model.train(was_training)
    return float(np.mean(scores))


def shard_indices(length: int, epoch: int, seed: int, rank: int, world: int,
                  batch: int = 1) -> list[int]:
    """This rank's share of one epoch's shuffled indices, in the order it uses them.

    One process takes the shuffled order in batches of ``batch * world``; under ``world``
    processes, rank ``r`` takes the ``r``-th slice of ``batch`` from each of those global
    batches, so that the ranks together see exactly the batches one process sees, whatever
    their number (the samples left over after the last whole global batch are dropped).

    >>> order = shard_indices(10, 0, 7, 0, 1, batch=4)
    >>> halves = [shard_indices(10, 0, 7, rank, 2, batch=2) for rank in (0, 1)]
    >>> halves == [order[0:2] + order[4:6], order[2:4] + order[6:8]]
    True
    """
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(length, generator=generator).tolist()
    step = batch * world
    return [index for start in range(0, length - step + 1, step)
            for index in order[start + rank * batch:start + (rank + 1) * batch]]


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, degraded: torch.Tensor,
               target: torch.Tensor, dtype: torch.dtype | None,
               scaler: torch.amp.GradScaler | None = None,
               loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.l1_loss,
               compose: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
               ) -> torch.Tensor:
    """One step (L1 loss by default); returns the loss of this process's batch (a 0-d
    tensor: reading it waits for the device, so callers read it only when they log).
    ``compose(output, degraded)`` (see :class:`TrainingParts`) is what the loss scores."""
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(degraded.device.type, dtype=dtype or torch.float32,
                        enabled=dtype is not None):
        restored = model(degraded)
    if compose is not None:   # in float32: a frozen network's part is not trained to bf16
        restored = compose(restored.float(), degraded)
    loss = loss_fn(restored.float(), target)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return loss.detach()


@dataclass
class _Position:
    iteration: int = 0
    epoch: int = 0
    batch: int = 0          # batches of this epoch already consumed
    best_psnr: float = -math.inf
    seconds: float = 0.0    # wall time trained so far, resumed runs included
    validated: int = -1     # the last iteration whose validation is logged


class Trainer:
    """Runs one training configuration into ``out_dir`` (``--resume`` continues it)."""

    def __init__(self, config: TrainConfig, out_dir: str, *, resume: bool = False,
                 progress: bool = True, parts: TrainingParts | None = None,
                 place: Distribution | None = None) -> None:
        """``parts`` (default: built from ``config``) are what is trained; ``config``
        still sets the loop: iterations, time limit, schedule, logging, validation."""
        self.config = config
        self.out_dir = out_dir
        self.progress = progress
        self.place = place or Distribution.from_environment(config)
        self.device, self.rank, self.world = self.place.device, self.place.rank, self.place.world
        self.distributed, self.batch = self.place.distributed, self.place.batch
        resuming = resume and bool(glob.glob(os.path.join(out_dir, "checkpoints", "iter-*.pt")))
        self.parts = parts or build_parts(config, self.place, warm_start=not resuming)
        self.model, self.optimizer = self.parts.model, self.parts.optimizer
        self.scheduler, self.scaler = self.parts.scheduler, self.parts.scaler
        self.train_set, self.device_batches = self.parts.train_set, self.parts.device_batches
        self.dtype = self.parts.dtype
        self.position = _Position()
        os.makedirs(os.path.join(out_dir, "checkpoints"), exist_ok=True)
        if self.rank == 0:   # temporary files of a process killed while writing
            for stale in glob.glob(os.path.join(out_dir, "checkpoints", ".partial-*")) + \
                    glob.glob(os.path.join(out_dir, ".partial-*")):
                os.unlink(stale)
        # The weights' exponential moving average (train.ema): it smooths out the
        # step-to-step noise of small batches (a CPU's short stages).
        self.average = None
        if config.train.ema > 0:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.average = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(
                config.train.ema), use_buffers=True)
        if resume:
            self._load_latest()
        self.net = nn.parallel.DistributedDataParallel(self.model) if self.distributed \
            else self.model
        if config.train.compile != "off":   # only the step runs the compiled wrapper;
            # validation, checkpoints and export use self.model, whose weights it shares
            self.net = torch.compile(self.net, mode=config.train.compile, dynamic=False)
        self._writer = None
        # tensorboard and matplotlib are optional (panet[train]): without them a run writes
        # metrics.jsonl only, and says so once
        self.missing = missing_extras() if self.rank == 0 else []

    @property
    def writer(self):
        """TensorBoard writer of rank 0 (created on first use; None without tensorboard)."""
        if self._writer is None and self.rank == 0 and "tensorboard" not in self.missing:
            from torch.utils.tensorboard import SummaryWriter

            # events after the checkpoint (all of them before the first) are dropped
            iteration = self.position.iteration
            self._writer = SummaryWriter(os.path.join(self.out_dir, "tensorboard"),
                                         purge_step=iteration + 1 if iteration else 0)
        return self._writer

    # ---- setup helpers --------------------------------------------------------------------

    def _workers(self) -> int:
        if self.config.data.workers >= 0:
            return self.config.data.workers
        cpus = os.cpu_count() or 1
        return 0 if cpus <= 2 else min(8, cpus // (2 * self.world))

    # ---- checkpoints ----------------------------------------------------------------------

    def _checkpoint_paths(self) -> list[str]:
        return sorted(glob.glob(os.path.join(self.out_dir, "checkpoints", "iter-*.pt")))

    def _state(self) -> dict:
        p = self.position
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "iteration": p.iteration,
                "epoch": p.epoch, "batch": p.batch, "best_psnr": p.best_psnr,
                "seconds": p.seconds, "validated": p.validated,
                "torch_rng": torch.get_rng_state(), "config": config_to_dict(self.config),
                **({"average": self.average.state_dict()} if self.average is not None else {})}

    @property
    def result(self) -> nn.Module:
        """What is validated and exported: the averaged weights with ``train.ema``, else the
        trained ones."""
        return self.model if self.average is None else self.average.module

    def _save(self, path: str) -> None:
        with atomic_output(path, suffix=".pt") as partial:
            torch.save(self._state(), partial)

    def _save_periodic(self) -> None:
        if self.rank:
            return
        self._save(os.path.join(self.out_dir, "checkpoints",
                                f"iter-{self.position.iteration:09d}.pt"))
        for old in self._checkpoint_paths()[:-max(1, self.config.train.keep_last)]:
            os.unlink(old)

    def _load_latest(self) -> None:
        paths = self._checkpoint_paths()
        if not paths:   # killed before its first checkpoint: the run starts again
            if self.rank == 0:
                self._truncate_log(-1)
            return
        state = torch.load(paths[-1], map_location="cpu", weights_only=True)
        if bool(state["config"]["model"].get("luma_from")) != bool(self.config.model.luma_from):
            # the run's validation PSNR (and its best) would change meaning half-way
            raise ConfigError("resume with model.luma_from as the run had it: "
                              f"{state['config']['model'].get('luma_from') or 'none'}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.average is not None and "average" in state:
            self.average.load_state_dict(state["average"])
        elif self.average is not None:   # averaging switched on at this resume
            self.average.module.load_state_dict(state["model"])
        torch.set_rng_state(state["torch_rng"])
        self.position = _Position(state["iteration"], state["epoch"], state["batch"],
                                  state["best_psnr"], float(state.get("seconds", 0.0)),
                                  int(state.get("validated", -1)))
        if self.rank == 0:   # forget log lines written after that checkpoint
            self._truncate_log(state["iteration"])
            print(f"resuming at iteration {state['iteration']} from "
                  f"{os.path.relpath(paths[-1], self.out_dir)}", file=sys.stderr, flush=True)

    # ---- logging --------------------------------------------------------------------------

    @property
    def _log_path(self) -> str:
        return os.path.join(self.out_dir, "metrics.jsonl")

    def _log(self, record: dict) -> None:
        if self.rank == 0:
            with open(self._log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

    def _truncate_log(self, iteration: int) -> None:
        if not os.path.exists(self._log_path):
            return
        def wanted(line: str) -> bool:
            try:
                return json.loads(line).get("iteration", 0) <= iteration
            except ValueError:   # the half line of a process killed while writing it
                return False

        with open(self._log_path, encoding="utf-8") as handle:
            kept = [line for line in handle if line.endswith("\n") and wanted(line)]
        with atomic_output(self._log_path, suffix=".jsonl") as partial:
            with open(partial, "w", encoding="utf-8") as handle:
                handle.writelines(kept)

    # ---- validation -----------------------------------------------------------------------

    def validate(self) -> float:
        """Mean PSNR on the fixed validation crops (SR: Y channel, shave = scale); the first
        three crops go to TensorBoard."""
        def show(index, degraded, restored, target):
            if index < 3 and self.writer is not None:
                shown = F.interpolate(degraded[None], size=target.shape[-2:])[0] \
                    if training_task(self.config.task).upscales else degraded
                self.writer.add_image(f"validation/{index}: input | restored | target",
                                      torch.cat([shown, restored, target], dim=2),
                                      self.position.iteration)

        return validation_psnr(self.parts.scored(self.result), self.config, self.device, show)

    # ---- the loop -------------------------------------------------------------------------

    def _batches(self):
        """Batches from the saved data position onwards, epoch after epoch."""
        if self.device_batches is not None:
            yield from self.device_batches.batches(start=self.position.iteration)
        while True:
            p = self.position
            self.train_set.set_epoch(p.epoch)
            indices = shard_indices(len(self.train_set), p.epoch, self.config.train.seed,
                                    self.rank, self.world, self.batch)
            per_epoch = len(indices) // self.batch
            loader = torch.utils.data.DataLoader(
                torch.utils.data.Subset(self.train_set, indices[p.batch * self.batch:
                                                                per_epoch * self.batch]),
                batch_size=self.batch, shuffle=False, num_workers=self._workers(),
                drop_last=True, pin_memory=self.device.type == "cuda")
            for degraded, target in loader:
                yield degraded, target
            p.epoch, p.batch = p.epoch + 1, 0

    def progress_fraction(self) -> float:
        """How far the run is: iterations done, or the time limit spent, whichever is more."""
        p, train = self.position, self.config.train
        fraction = p.iteration / train.iterations
        if train.time_limit > 0:
            fraction = max(fraction, p.seconds / train.time_limit)
        return min(1.0, fraction)

    def _finished(self) -> bool:
        time_limit = self.config.train.time_limit
        return (self.position.iteration >= self.config.train.iterations
                or (time_limit > 0 and self.position.seconds >= time_limit))

    def _set_cosine_rate(self) -> None:
        optim = self.config.optim
        rate = optim.lr * 0.5 * (1 + math.cos(math.pi * self.progress_fraction()))
        if optim.warmup > 0:   # a fresh Adam's first steps are large: ramp the rate up
            rate *= min(1.0, (self.position.iteration + 1) / optim.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    def _time_up_everywhere(self) -> bool:
        """Under torchrun every rank must stop at the same step and use the same learning
        rate: rank 0's clock is given to all."""
        if self.distributed and self.config.train.time_limit > 0:
            seconds = torch.tensor([self.position.seconds], dtype=torch.float64,
                                   device=self.device)
            dist.broadcast(seconds, 0)
            self.position.seconds = float(seconds.item())
        return self._finished()

    def _validate_and_keep_best(self) -> None:
        p = self.position
        p.validated = p.iteration
        if self.rank == 0:
            score = self.validate()
            self._log({"iteration": p.iteration, "val_psnr": score})
            if self.writer is not None:
                self.writer.add_scalar("validation/psnr", score, p.iteration)
            if score > p.best_psnr:
                p.best_psnr = score
                self._save(os.path.join(self.out_dir, "checkpoints", "best.pt"))
        if self.distributed:
            dist.barrier()

    def run(self) -> str | None:
        """Train to ``train.iterations`` (or ``train.time_limit``); returns the exported
        weights (rank 0)."""
        config, p = self.config, self.position
        from tqdm import tqdm

        note_missing(self.missing)
        bar = tqdm(total=config.train.iterations, initial=p.iteration, unit="it",
                   disable=not self.progress or self.rank != 0, dynamic_ncols=True)
        self.model.train()
        started, done_since = time.perf_counter(), 0
        clock = time.perf_counter()
        batches = self._batches()
        cosine = config.optim.schedule == "cosine"
        if p.iteration == 0 and config.model.init_from and p.validated < 0:
            # where a warm start's curve begins
            self._validate_and_keep_best()
        while not self._time_up_everywhere():
            if cosine:   # after the clocks are shared, so that every rank uses the same rate
                self._set_cosine_rate()
            degraded, target = next(batches)
            if config.train.compile == "reduce-overhead":   # a new step of the CUDA graphs
                torch.compiler.cudagraph_mark_step_begin()
            loss = train_step(self.net, self.optimizer, degraded.to(self.device),
                              target.to(self.device), self.dtype, self.scaler,
                              self.parts.loss, self.parts.compose)
            if not cosine:
                self.scheduler.step()
            if self.average is not None:
                self.average.update_parameters(self.model)
            p.iteration += 1
            p.batch += 1
            now = time.perf_counter()
            p.seconds += now - clock
            clock = now
            done_since += 1
            bar.update(1)
            if p.iteration % config.train.log_every == 0:
                if self.distributed:   # every rank logs here: the mean over all ranks
                    dist.all_reduce(loss, op=dist.ReduceOp.SUM)
                    loss = loss / self.world
                loss = float(loss)
                elapsed = time.perf_counter() - started
                rate = done_since / elapsed if elapsed > 0 else 0.0
                lr = self.optimizer.param_groups[0]["lr"]
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")
                self._log({"iteration": p.iteration, "loss": loss, "lr": lr,
                           "it_per_s": round(rate, 4)})
                if self.writer is not None:
                    self.writer.add_scalar("train/loss", loss, p.iteration)
                    self.writer.add_scalar("train/lr", lr, p.iteration)
                started, done_since = time.perf_counter(), 0
            # Iteration counts alone decide here, so that all ranks validate together; a run
            # stopped by its time limit validates after the loop.
            if p.iteration % config.train.val_every == 0 or \
                    p.iteration >= config.train.iterations:
                self._validate_and_keep_best()
            if p.iteration % config.train.save_every == 0:
                self._save_periodic()
        bar.close()
        if p.validated != p.iteration and p.iteration > 0:
            self._validate_and_keep_best()
        if self.rank != 0:
            return None
        self._save_periodic()
        if self.writer is not None:
            self.writer.close()
        if "matplotlib" not in self.missing:
            plot_curves(self._log_path, os.path.join(self.out_dir, "curves.png"),
                        f"{config.model.name}, {config.task.type}")
        weights = os.path.join(self.out_dir, "model.safetensors")
        metadata = {"task": json.dumps(config_to_dict(self.config)["task"]),
                    "iterations": str(p.iteration), "best_val_psnr": f"{p.best_psnr:.4f}",
                    "train_seconds": f"{p.seconds:.0f}"}
        if self.average is not None:
            metadata["ema"] = str(config.train.ema)
        if config.model.luma_from:   # this network gives only the chroma of what it was scored as
            metadata["trained_with_luma_from"] = config.model.luma_from
        if getattr(self.result, "architecture", None) is not None:
            save_model(self.result, weights, metadata)
        else:   # a network of the user's own: its tensors, without panet's model description
            import safetensors.torch

            with atomic_output(weights, suffix=".safetensors") as partial:
                safetensors.torch.save_model(self.result, partial, metadata=metadata)
        return weights
