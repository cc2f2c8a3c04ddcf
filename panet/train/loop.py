"""The training loop: paper recipe, any device, data-parallel with torchrun, fault-tolerant.

One process per device. Under ``torchrun`` (``WORLD_SIZE`` > 1) each rank trains on its own
shard of every epoch with ``DistributedDataParallel`` (NCCL on GPUs, Gloo on CPUs); rank 0
alone writes checkpoints and logs. Checkpoints hold everything needed to continue as if
uninterrupted: weights, optimizer, scheduler, iteration, data position (epoch and batch)
and the RNG state; they are written atomically.
"""

from __future__ import annotations

import glob
import json
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from panet.checkpoints import save_model
from panet.data.datasets import RestorationDataset
from panet.data.device_batches import DeviceBatches
from panet.data.manifest import TEST_SET_NAME, TRAIN_SET_NAME
from panet.files import atomic_output
from panet.hardware import autocast_dtype as hardware_autocast_dtype
from panet.metrics import psnr
from panet.models import create_model
from panet.tasks import training_task
from panet.train.config import ConfigError, TrainConfig, config_to_dict

__all__ = ["Trainer", "train_step", "resolve_device", "autocast_dtype", "make_task",
           "shard_indices", "validation_psnr"]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device {name!r}: CUDA is not available here")
    return device


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``train.precision`` (None: plain float32); see
    :func:`panet.hardware.autocast_dtype`."""
    try:
        return hardware_autocast_dtype(precision, device)
    except ValueError as error:
        raise ConfigError(f"train.{error}") from None


def make_task(config: TrainConfig):
    """The degradation ``config.task`` trains on (see :mod:`panet.tasks`)."""
    return training_task(config.task).training_degradation(config.task)


def _images(spec: str) -> str:
    if spec in (TRAIN_SET_NAME, TEST_SET_NAME):
        from panet.data.photos import default_root

        folder = os.path.join(default_root(), spec)
        if not os.path.isdir(folder) or not glob.glob(os.path.join(folder, "*.png")):
            raise ConfigError(f"the {spec} photos are not prepared; run 'panet data fetch' or "
                              "point data.train / data.val at a folder of images")
        return folder
    return os.path.expanduser(spec)


def validation_psnr(model: nn.Module, config: TrainConfig, device: torch.device | str = "cpu",
                    each=None) -> float:
    """Mean PSNR of ``model`` on the configuration's validation crops: the fixed centre crops
    of ``data.val`` with a fixed degradation, scored with the paper's protocol (SR: Y,
    shave = scale). ``each(index, degraded, restored, target)`` sees every crop."""
    dataset = RestorationDataset(_images(config.data.val), make_task(config),
                                 patch_size=config.data.val_patch_size,
                                 channels=config.task.channels, train=False,
                                 seed=config.train.seed)
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


def shard_indices(length: int, epoch: int, seed: int, rank: int, world: int) -> list[int]:
    """This rank's share of one epoch's shuffled indices (equal shares; the rest dropped)."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(length, generator=generator).tolist()
    per_rank = length // world
    return order[rank * per_rank:(rank + 1) * per_rank]


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, degraded: torch.Tensor,
               target: torch.Tensor, dtype: torch.dtype | None,
               scaler: torch.amp.GradScaler | None = None) -> torch.Tensor:
    """One L1 step; returns the loss of this process's batch (a 0-d tensor: reading it
    waits for the device, so callers read it only when they log)."""
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(degraded.device.type, dtype=dtype or torch.float32,
                        enabled=dtype is not None):
        restored = model(degraded)
    loss = F.l1_loss(restored.float(), target)
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


class Trainer:
    """Runs one training configuration into ``out_dir`` (``--resume`` continues it)."""

    def __init__(self, config: TrainConfig, out_dir: str, *, resume: bool = False,
                 progress: bool = True) -> None:
        self.config = config
        self.out_dir = out_dir
        self.progress = progress
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.device = resolve_device(config.train.device)
        if self.distributed:
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        if config.train.batch_size % self.world:
            raise ConfigError(f"train.batch_size {config.train.batch_size} does not split over "
                              f"{self.world} processes")
        self.batch = config.train.batch_size // self.world
        if config.train.threads > 0:
            torch.set_num_threads(config.train.threads)
        self.dtype = autocast_dtype(config.train.precision, self.device)
        if self.device.type == "cuda":   # fixed crop sizes: let cuDNN pick its fastest kernels
            torch.backends.cudnn.benchmark = True
        self.task = make_task(config)
        torch.manual_seed(config.train.seed)
        self.model = create_model(config.model.name, **config.model.options)
        resuming = resume and bool(glob.glob(os.path.join(out_dir, "checkpoints", "iter-*.pt")))
        if config.model.init_from and not resuming:
            from panet.train.warm_start import load_source, warm_start

            fresh = warm_start(self.model, load_source(config.model.init_from))
            if fresh:
                print(f"warm start from {config.model.init_from}; new: {', '.join(fresh)}")
        self.model = self.model.to(self.device)
        self._check_channels()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.optim.lr,
                                          betas=tuple(config.optim.betas), eps=config.optim.eps)
        # The cosine schedule sets the rate itself each step (it may follow the time limit);
        # an idle constant LambdaLR keeps the checkpoint layout of both schedules the same.
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=config.optim.decay_every, gamma=config.optim.gamma) \
            if config.optim.schedule == "step" else \
            torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _: 1.0)
        self.scaler = torch.amp.GradScaler("cuda") if self.dtype == torch.float16 else None
        self.train_set = RestorationDataset(
            _images(config.data.train), self.task, patch_size=config.data.patch_size,
            channels=config.task.channels, repeat=config.data.repeat, seed=config.train.seed)
        self.device_batches = None
        if config.data.pipeline == "device":   # batch k depends on (seed, rank, k) alone
            self.device_batches = DeviceBatches(
                self.train_set.paths, self.task, patch_size=config.data.patch_size,
                channels=config.task.channels, batch_size=self.batch, device=self.device,
                seed=config.train.seed, rank=self.rank)
        if len(self.train_set) < config.train.batch_size:
            raise ConfigError(f"{len(self.train_set)} training samples per epoch cannot fill a "
                              f"batch of {config.train.batch_size}; raise data.repeat")
        self.position = _Position()
        os.makedirs(os.path.join(out_dir, "checkpoints"), exist_ok=True)
        if self.rank == 0:   # temporary files of a process killed while writing
            for stale in glob.glob(os.path.join(out_dir, "checkpoints", ".partial-*")) + \
                    glob.glob(os.path.join(out_dir, ".partial-*")):
                os.unlink(stale)
        if resume:
            self._load_latest()
        self.net = nn.parallel.DistributedDataParallel(self.model) if self.distributed \
            else self.model
        self._writer = None

    @property
    def writer(self):
        """TensorBoard writer of rank 0 (created on first use)."""
        if self._writer is None and self.rank == 0:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(os.path.join(self.out_dir, "tensorboard"),
                                         purge_step=self.position.iteration + 1)
        return self._writer

    # ---- setup helpers --------------------------------------------------------------------

    def _check_channels(self) -> None:
        conv = self.model.head[0]
        wanted = 1 if self.config.task.channels == 1 else \
            training_task(self.config.task).model_channels
        if conv.in_channels != wanted:
            raise ConfigError(f"model {self.config.model.name} takes {conv.in_channels} "
                              f"channel(s) but the task gives {wanted}; set "
                              f"model.options.in_channels={wanted}")

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
                "seconds": p.seconds,
                "torch_rng": torch.get_rng_state(), "config": config_to_dict(self.config)}

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
        if not paths:
            return
        state = torch.load(paths[-1], map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        self.position = _Position(state["iteration"], state["epoch"], state["batch"],
                                  state["best_psnr"], float(state.get("seconds", 0.0)))
        if self.rank == 0:   # forget log lines written after that checkpoint
            self._truncate_log(state["iteration"])

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
        with open(self._log_path, encoding="utf-8") as handle:
            kept = [line for line in handle if line.strip()
                    and json.loads(line).get("iteration", 0) <= iteration]
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

        return validation_psnr(self.model, self.config, self.device, show)

    # ---- the loop -------------------------------------------------------------------------

    def _batches(self):
        """Batches from the saved data position onwards, epoch after epoch."""
        if self.device_batches is not None:
            yield from self.device_batches.batches(start=self.position.iteration)
        while True:
            p = self.position
            self.train_set.set_epoch(p.epoch)
            indices = shard_indices(len(self.train_set), p.epoch, self.config.train.seed,
                                    self.rank, self.world)
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
        if self.rank == 0:
            score = self.validate()
            self._log({"iteration": p.iteration, "val_psnr": score})
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

        bar = tqdm(total=config.train.iterations, initial=p.iteration, unit="it",
                   disable=not self.progress or self.rank != 0, dynamic_ncols=True)
        self.model.train()
        started, done_since = time.perf_counter(), 0
        clock = time.perf_counter()
        validated_at = -1
        batches = self._batches()
        cosine = config.optim.schedule == "cosine"
        if p.iteration == 0 and config.model.init_from:   # where a warm start's curve begins
            self._validate_and_keep_best()
        while not self._time_up_everywhere():
            if cosine:   # after the clocks are shared, so that every rank uses the same rate
                self._set_cosine_rate()
            degraded, target = next(batches)
            loss = train_step(self.net, self.optimizer, degraded.to(self.device),
                              target.to(self.device), self.dtype, self.scaler)
            if not cosine:
                self.scheduler.step()
            p.iteration += 1
            p.batch += 1
            now = time.perf_counter()
            p.seconds += now - clock
            clock = now
            done_since += 1
            bar.update(1)
            if p.iteration % config.train.log_every == 0:
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
                validated_at = p.iteration
            if p.iteration % config.train.save_every == 0:
                self._save_periodic()
        bar.close()
        if validated_at != p.iteration and p.iteration > 0:
            self._validate_and_keep_best()
        if self.rank != 0:
            return None
        self._save_periodic()
        self.writer.close()
        from panet.train.plots import plot_curves

        plot_curves(self._log_path, os.path.join(self.out_dir, "curves.png"),
                    f"{config.model.name}, {config.task.type}")
        weights = os.path.join(self.out_dir, "model.safetensors")
        save_model(self.model, weights, {"task": json.dumps(config_to_dict(self.config)["task"]),
                                         "iterations": str(p.iteration),
                                         "best_val_psnr": f"{p.best_psnr:.4f}",
                                         "train_seconds": f"{p.seconds:.0f}"})
        return weights
