"""Training configuration: typed sections whose keys are checked before anything runs.

A configuration is YAML (or a bundled preset) with the sections below; ``--set
section.key=value`` overrides one value. Unknown keys and values of the wrong type are
refused with the list of valid keys.
"""

from __future__ import annotations

import os

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from panet.attention import KERNELS
from panet.hardware import PRECISIONS
from panet.tasks import FAMILIES

__all__ = ["TrainConfig", "ConfigError", "build_config", "parse_override", "config_to_dict"]

# train.compile: "off", or the mode handed to torch.compile for the network
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")


class ConfigError(ValueError):
    """A configuration problem, explained in one line."""


@dataclass
class ModelSection:
    name: str = "panet-s"                                    # registry name
    options: dict[str, Any] = field(default_factory=dict)    # constructor overrides
    init_from: str = ""              # weights or a training checkpoint to start from
    luma_from: str = ""              # colour JPEG: a Y-channel JPEG model (weights file) that
                                     # gives the luma; the loss and validation score the pair


@dataclass
class TaskSection:
    type: str = "denoise"            # denoise | demosaic | jpeg | sr
    sigma: Any = 50.0                # denoise: number, [low, high] range, or list (blind)
    clip: bool = True                # denoise: 8-bit clipped noisy inputs, as the paper
    pattern: str = "RGGB"            # demosaic: Bayer pattern
    quality: Any = 10                # jpeg: number, [low, high] range, or list
    gray_y: bool = True              # jpeg: Y channel only (the paper's CAR)
    scale: int = 2                   # sr
    channels: int = 3                # 3 colour, 1 gray


@dataclass
class DataSection:
    train: str = "offline-train"     # a folder, or a set prepared by `panet data fetch`
    val: str = "offline-mini"
    patch_size: int = 48             # input crop (SR targets are patch_size * scale)
    val_patch_size: int = 96         # centre crop of each validation image
    val_images: int = 0              # 0: all validation images
    repeat: int = 1000               # training samples per image per epoch
    workers: int = -1                # data-loader processes; -1 picks from the CPU count
    pipeline: str = "loader"         # loader: CPU workers; device: batches made on the device
    synthetic: int = 0               # dead-leaves pictures added to the training photos


@dataclass
class OptimSection:
    lr: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    schedule: str = "step"           # step: the paper's halvings; cosine: down to 0 at the end
    decay_every: int = 200_000       # step: iterations between learning-rate halvings
    warmup: int = 0                  # cosine: iterations of linear warm-up (fresh Adam state)
    gamma: float = 0.5


@dataclass
class TrainSection:
    iterations: int = 1_000_000      # the paper: 1000 epochs of 1000 iterations
    batch_size: int = 16             # global batch (split across processes)
    precision: str = "auto"          # auto | fp32 | tf32 | bf16 | fp16
    device: str = "auto"             # auto | cpu | cuda | cuda:N
    threads: int = 0                 # CPU threads per process; 0 leaves PyTorch's choice
    seed: int = 0
    log_every: int = 10
    val_every: int = 1000
    save_every: int = 1000
    keep_last: int = 3
    time_limit: float = 0            # seconds of training in all (resumes add up); 0: none
    ema: float = 0.0                 # decay of a moving average of the weights, which is
                                     # validated and exported instead of them; 0: none
    compile: str = "off"             # off, or a torch.compile mode: default |
                                     # reduce-overhead (CUDA graphs) | max-autotune
    attention_kernel: str = "auto"   # auto (fused on CUDA, block kernel on CPUs) |
                                     # blockwise | sdpa: same results, speed differs


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    task: TaskSection = field(default_factory=TaskSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)


def _valid_keys(section_type) -> list[str]:
    return [f.name for f in dataclasses.fields(section_type)]


def _check_type(where: str, value: Any, expected: Any) -> Any:
    origin = typing.get_origin(expected)
    if expected is Any:
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is float and isinstance(value, str):
        # YAML 1.1 reads "1e-4" (no dot) as a string; accept it as the number it means.
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{where} must be a number, got {value!r}") from None
    if origin in (list, dict):
        if not isinstance(value, origin):
            raise ConfigError(f"{where} must be a {origin.__name__}, got {value!r}")
        return value
    if isinstance(expected, types.UnionType):
        return value
    if expected is bool and not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if not isinstance(value, expected):
        raise ConfigError(f"{where} must be a {expected.__name__}, got {value!r}")
    return value


def _check_finite(where: str, value: Any) -> Any:
    """Numbers anywhere in ``value`` (lists and mappings included) must be finite: a NaN
    learning rate or noise level trains garbage without an error."""
    items = value.values() if isinstance(value, dict) else \
        value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, (list, tuple, dict)):
            _check_finite(where, item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ConfigError(f"{where} must be a finite number, got {item}")
    return value


def build_config(raw: dict[str, Any] | None) -> TrainConfig:
    """Check a nested dict against :class:`TrainConfig` and build it."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"a configuration is a mapping of sections, got {type(raw).__name__}")
    sections = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    hints = typing.get_type_hints(TrainConfig)
    built = {}
    for name, values in raw.items():
        if name not in sections:
            raise ConfigError(f"unknown section {name!r}; valid sections: {', '.join(sections)}")
        if not isinstance(values, dict):
            raise ConfigError(f"section {name!r} must be a mapping, got {values!r}")
        section_type = hints[name]
        section_hints = typing.get_type_hints(section_type)
        checked = {}
        for key, value in values.items():
            if key not in section_hints:
                raise ConfigError(f"unknown key {name}.{key}; valid keys of {name}: "
                                  f"{', '.join(_valid_keys(section_type))}")
            checked[key] = _check_finite(f"{name}.{key}",
                                         _check_type(f"{name}.{key}", value, section_hints[key]))
        built[name] = section_type(**checked)
    config = TrainConfig(**built)
    _check_values(config)
    return config


def _check_levels(section: TaskSection) -> None:
    """The task's level (``task.sigma``, ``task.quality``, ``task.pattern`` or
    ``task.scale``): one level, or a non-empty list of them (a range or a set), each
    checked by the task itself."""
    from panet.tasks import get_task

    task = get_task(section.type)
    where, value = f"task.{task.level_option}", getattr(section, task.level_option)
    levels = value if isinstance(value, list) else [value]
    kind = str if isinstance(task.default_level, str) else (int, float)
    if not levels or not all(isinstance(v, kind) and not isinstance(v, bool) for v in levels):
        raise ConfigError(f"{where} must be a level or a list of levels, got {value!r}")
    for level in levels:
        try:
            task.parse_level(str(level))
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None


def _check_values(config: TrainConfig) -> None:
    if config.task.type not in FAMILIES:
        raise ConfigError(f"task.type must be {', '.join(FAMILIES)}, got {config.task.type!r}")
    _check_levels(config.task)
    if config.train.precision not in PRECISIONS:
        raise ConfigError(f"train.precision must be {', '.join(PRECISIONS)}, got "
                          f"{config.train.precision!r}")
    if config.train.compile not in COMPILE_MODES:
        raise ConfigError(f"train.compile must be {', '.join(COMPILE_MODES)}, got "
                          f"{config.train.compile!r}")
    if config.train.attention_kernel not in KERNELS:
        raise ConfigError(f"train.attention_kernel must be {', '.join(KERNELS)}, got "
                          f"{config.train.attention_kernel!r}")
    if config.train.seed < 0:
        raise ConfigError(f"train.seed must be 0 or more, got {config.train.seed}")
    if config.data.synthetic < 0:
        raise ConfigError(f"data.synthetic must be 0 or more pictures, got "
                          f"{config.data.synthetic}")
    if config.data.pipeline not in ("loader", "device"):
        raise ConfigError(f"data.pipeline must be loader or device, got {config.data.pipeline!r}")
    if config.optim.schedule not in ("step", "cosine"):
        raise ConfigError(f"optim.schedule must be step or cosine, got {config.optim.schedule!r}")
    if config.optim.lr <= 0:
        raise ConfigError(f"optim.lr must be positive, got {config.optim.lr}")
    if not 0 <= config.train.ema < 1:
        raise ConfigError(f"train.ema must be from 0 (none) to below 1, got {config.train.ema}")
    if config.train.time_limit < 0:
        raise ConfigError(f"train.time_limit must be 0 (none) or positive seconds, got "
                          f"{config.train.time_limit}")
    for where, value in (("train.iterations", config.train.iterations),
                         ("train.batch_size", config.train.batch_size),
                         ("data.patch_size", config.data.patch_size),
                         ("train.save_every", config.train.save_every),
                         ("train.val_every", config.train.val_every),
                         ("train.log_every", config.train.log_every),
                         ("optim.decay_every", config.optim.decay_every)):
        if value < 1:
            raise ConfigError(f"{where} must be at least 1, got {value}")
    if config.task.channels not in (1, 3):
        raise ConfigError(f"task.channels must be 1 or 3, got {config.task.channels}")
    if config.model.init_from and not os.path.isfile(os.path.expanduser(config.model.init_from)):
        raise ConfigError(f"model.init_from: {config.model.init_from} is not a file")
    if config.model.luma_from:
        if not os.path.isfile(os.path.expanduser(config.model.luma_from)):
            raise ConfigError(f"model.luma_from: {config.model.luma_from} is not a file")
        if config.task.type != "jpeg" or config.task.gray_y or config.task.channels != 3:
            raise ConfigError("model.luma_from is for colour JPEG (task.type jpeg, gray_y "
                              "false, channels 3), where the luma comes from another model")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``section.key=value`` -> (path, YAML-parsed value)."""
    if "=" not in text:
        raise ConfigError(f"--set expects section.key=value, got {text!r}")
    key, value = text.split("=", 1)
    path = key.strip().split(".")
    if len(path) < 2:
        raise ConfigError(f"--set expects section.key=value, got {text!r}")
    try:
        return path, yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {text!r}: not a YAML value ({error})") from None


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A deep copy of ``raw`` with every ``section.key=value`` applied."""
    result = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node = result
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text!r}: {part} is not a section")
        node[path[-1]] = value
    return result


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)
