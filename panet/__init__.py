"""PANet: pyramid attention networks for image restoration (Mei et al.).

>>> import torch, panet
>>> block = panet.PyramidAttention(channels=8, reduction=2)
>>> block(torch.rand(1, 8, 9, 9)).shape
torch.Size([1, 8, 9, 9])
"""

from panet.attention import PyramidAttention
from panet.checkpoints import (CheckpointError, load_model, load_official_checkpoint,
                               save_model)
from panet.models import PAEDSR, PANet, count_parameters, create_model, list_models

__version__ = "0.1.0"

__all__ = ["PyramidAttention", "PANet", "PAEDSR", "create_model", "list_models",
           "count_parameters", "load_official_checkpoint", "load_model", "save_model",
           "CheckpointError", "__version__"]
