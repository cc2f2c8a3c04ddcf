"""Everything a training run needs, built from a configuration, or assembled by hand.

:func:`build_parts` turns a :class:`~panet.train.config.TrainConfig` into
:class:`TrainingParts` (model, optimiser, schedule, loss, data, device, precision);
:class:`~panet.train.loop.Trainer` runs any such parts, so a network of your own can be
trained with this loop (checkpoints, exact resume, validation, time limits, torchrun):

    parts = build_parts(config, Distribution.from_environment(config))
    parts.model = MyNetwork()
    parts.optimizer = torch.optim.AdamW(parts.model.parameters(), lr=1e-4)
    Trainer(config, "runs/mine", parts=parts).run()
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from panet.attention import set_attention_kernel
from panet.data.datasets import RestorationDataset
from panet.data.device_batches import DeviceBatches
from panet.data.manifest import TEST_SET_NAME, TRAIN_SET_NAME
from panet.data.synthetic import SYNTHETIC_SIZE
from panet.hardware import autocast_dtype as hardware_autocast_dtype
from panet.hardware import use_float32_products
from panet.hardware import available_device
from panet.models import create_model
from panet.tasks import training_task
from panet.train.config import ConfigError, TrainConfig

__all__ = ["TrainingParts", "Distribution", "build_parts", "make_task", "resolve_device",
           "autocast_dtype", "images_folder", "luma_chroma_pair"]


def resolve_device(name: str) -> torch.device:
    """``train.device`` as a device this machine has (``ConfigError`` otherwise)."""
    try:
        return available_device(name)
    except ValueError as error:
        raise ConfigError(f"train.{error}") from None


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


def images_folder(spec: str) -> str:
    """A folder of images, or a set prepared by ``panet data fetch``."""
    if spec in (TRAIN_SET_NAME, TEST_SET_NAME):
        from panet.data.photos import default_root

        folder = os.path.join(default_root(), spec)
        if not os.path.isdir(folder) or not glob.glob(os.path.join(folder, "*.png")):
            raise ConfigError(f"the {spec} photos are not prepared; run 'panet data fetch' or "
                              "point data.train / data.val at a folder of images")
        return folder
    return os.path.expanduser(spec)


@dataclass
class Distribution:
    """This process's place in a run: its device, rank, the number of processes and its
    share of the batch."""

    device: torch.device
    rank: int = 0
    world: int = 1
    batch: int = 1

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @classmethod
    def from_environment(cls, config: TrainConfig) -> "Distribution":
        """Joins the process group under ``torchrun`` (``WORLD_SIZE`` > 1; NCCL on GPUs,
        Gloo on CPUs); a single process otherwise."""
        device = resolve_device(config.train.device)
        rank, world = 0, 1
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            if device.type == "cuda":
                device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            rank, world = dist.get_rank(), dist.get_world_size()
        if config.train.batch_size % world:
            raise ConfigError(f"train.batch_size {config.train.batch_size} does not split over "
                              f"{world} processes")
        return cls(device, rank, world, config.train.batch_size // world)


@dataclass
class TrainingParts:
    """What a run trains, how, and on what.

    Attributes:
        model: the network (on ``device``).
        optimizer: its optimiser.
        scheduler: a scheduler stepped every iteration (``train.optim.schedule: step``);
            the cosine schedule sets the optimiser's rate itself.
        train_set: the training pairs (``set_epoch(epoch)`` reshuffles them per epoch).
        loss: ``loss(restored, target)``, L1 by default (the paper's).
        compose: ``compose(output, degraded)``, what the network's output is part of (a
            two-part colour JPEG model: the luma network's luma joined to its chroma); the
            loss and validation score that. ``None``: the network's output itself.
        device_batches: batches made on the device instead of by ``train_set``'s workers.
        dtype: the autocast dtype (``None``: float32).
        scaler: a gradient scaler for float16.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    train_set: RestorationDataset
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.l1_loss
    device_batches: DeviceBatches | None = None
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None
    compose: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def scored(self, network: nn.Module) -> nn.Module:
        """What validation scores: ``network``, completed by ``compose`` where given."""
        return network if self.compose is None else _Composed(network, self.compose)


class _Composed(nn.Module):
    def __init__(self, network: nn.Module, compose) -> None:
        super().__init__()
        self.network, self.compose = network, compose

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.compose(self.network(x), x)


def luma_chroma_pair(colour: nn.Module, config: TrainConfig,
                     device: torch.device | str = "cpu") -> nn.Module | None:
    """With ``model.luma_from``: the two-part colour JPEG model that ships, ``colour`` for
    the chroma and that file's Y-channel network (frozen) for the luma; ``None`` without.
    The luma network is only read: its gradients are never needed."""
    if not config.model.luma_from:
        return None
    from panet.checkpoints import load_model
    from panet.models.composite import LumaChromaJPEG

    try:
        luma = load_model(os.path.expanduser(config.model.luma_from)).to(device)
        return LumaChromaJPEG(colour, luma.eval().requires_grad_(False))
    except ValueError as error:
        raise ConfigError(f"model.luma_from: {str(error).splitlines()[0]}") from None


def _check_channels(model: nn.Module, config: TrainConfig) -> None:
    from panet.models import model_card

    have = model_card(model).in_channels
    wanted = 1 if config.task.channels == 1 else training_task(config.task).model_channels
    if have != wanted:
        raise ConfigError(f"model {config.model.name} takes {have} channel(s) but the task "
                          f"gives {wanted}; set model.options.in_channels={wanted}")


def _check_sizes(paths: list[str], crop: int, option: str) -> None:
    """Every image must hold a crop, which is checked before training starts (from the
    files' headers), not when the first batch, or the last validation, meets it."""
    from panet.io import image_size

    for path in paths:
        width, height = image_size(path)
        if min(width, height) < crop:
            raise ConfigError(f"{path} ({width}x{height}) is smaller than the {crop}x{crop} "
                              f"crop that {option} asks for")


def build_parts(config: TrainConfig, place: Distribution, warm_start: bool = True
                ) -> TrainingParts:
    """The parts ``config`` describes, for this process; ``warm_start`` loads
    ``model.init_from`` (a resumed run does not: its checkpoint holds the weights)."""
    if config.train.threads > 0:
        torch.set_num_threads(config.train.threads)
    dtype = autocast_dtype(config.train.precision, place.device)
    use_float32_products(config.train.precision, place.device)
    if place.device.type == "cuda":   # fixed crop sizes: let cuDNN pick its fastest kernels
        torch.backends.cudnn.benchmark = True
    task = make_task(config)
    torch.manual_seed(config.train.seed)
    model = create_model(config.model.name, **config.model.options)
    if config.model.init_from and warm_start:
        from panet.train.warm_start import load_source, warm_start as start_from

        fresh = start_from(model, load_source(config.model.init_from))
        if fresh:
            print(f"warm start from {config.model.init_from}; new: {', '.join(fresh)}")
    # a choice of speed, not of the model: it is not saved with the weights
    set_attention_kernel(model, config.train.attention_kernel)
    model = model.to(place.device)
    _check_channels(model, config)
    optim = config.optim
    # On a GPU the fused Adam is one kernel for all parameters instead of a dozen per
    # tensor (benchmarks/step_launches.py); the CPU keeps the default, as it trained so far.
    optimizer = torch.optim.Adam(model.parameters(), lr=optim.lr, betas=tuple(optim.betas),
                                 eps=optim.eps, fused=True if place.device.type == "cuda" else None)
    # An idle constant LambdaLR under the cosine schedule keeps the checkpoint layout of
    # both schedules the same.
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=optim.decay_every,
                                                gamma=optim.gamma) \
        if optim.schedule == "step" else \
        torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    train_set = RestorationDataset(
        images_folder(config.data.train), task, patch_size=config.data.patch_size,
        channels=config.task.channels, repeat=config.data.repeat, seed=config.train.seed,
        synthetic=config.data.synthetic)
    crop = config.data.patch_size * int(getattr(task, "scale", 1))
    _check_sizes(train_set.paths, crop, "data.patch_size")
    if config.data.synthetic and crop > SYNTHETIC_SIZE:
        raise ConfigError(f"data.synthetic pictures are {SYNTHETIC_SIZE} px, smaller than the "
                          f"{crop}x{crop} crops that data.patch_size asks for")
    if config.data.val_patch_size:
        from panet.data.datasets import find_images

        _check_sizes(find_images(images_folder(config.data.val)),
                     config.data.val_patch_size * int(getattr(task, "scale", 1)),
                     "data.val_patch_size")
    if len(train_set) < config.train.batch_size:
        raise ConfigError(f"{len(train_set)} training samples per epoch cannot fill a "
                          f"batch of {config.train.batch_size}; raise data.repeat")
    device_batches = None
    if config.data.pipeline == "device":   # batch k depends on (seed, rank, k) alone
        device_batches = DeviceBatches(
            train_set.paths, task, patch_size=config.data.patch_size,
            channels=config.task.channels, batch_size=place.batch, device=place.device,
            seed=config.train.seed, rank=place.rank, world=place.world,
            synthetic=config.data.synthetic)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    pair = luma_chroma_pair(model, config, place.device)
    return TrainingParts(model, optimizer, scheduler, train_set, F.l1_loss, device_batches,
                         dtype, scaler, pair.join if pair is not None else None)
