"""``panet train``: configuration, presets and the training loop."""

from panet.train.config import ConfigError, TrainConfig, build_config
from panet.train.presets import PRESETS

__all__ = ["ConfigError", "TrainConfig", "build_config", "PRESETS"]
