"""Reading the authors' checkpoints and reading/writing our own safetensors weights."""

from panet.checkpoints.native import load_model, read_metadata, save_model
from panet.checkpoints.official import CheckpointError, load_official_checkpoint, read_state_dict
from panet.checkpoints.training import (is_training_checkpoint, load_training_checkpoint,
                                        load_weights_file)

__all__ = ["CheckpointError", "load_official_checkpoint", "read_state_dict", "save_model",
           "load_model", "read_metadata", "is_training_checkpoint", "load_training_checkpoint",
           "load_weights_file"]
