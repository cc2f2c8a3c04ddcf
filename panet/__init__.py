"""PANet: pyramid attention networks for image restoration (Mei et al.).

Restore an image with a shipped model, in one call (arrays, PIL images or tensors come
back as they went in):

>>> import numpy as np, panet
>>> photo = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
>>> panet.restore(photo, "denoise", 25).shape
(40, 40, 3)

Get a shipped model with its card, or build a network:

>>> model = panet.load_pretrained("denoise-gray")
>>> model.card.in_channels, model.card.shipped_name
(1, 'denoise-gray')
>>> "sr-x4" in panet.list_pretrained()
True
>>> import torch
>>> block = panet.PyramidAttention(channels=8, reduction=2)
>>> block(torch.rand(1, 8, 9, 9)).shape
torch.Size([1, 8, 9, 9])
"""

from panet.attention import PyramidAttention
from panet.checkpoints import (CheckpointError, load_model, load_official_checkpoint,
                               save_model)
from panet.models import PAEDSR, PANet, count_parameters, create_model, list_models
from panet.pretrained import list_pretrained, load_pretrained
from panet.restorer import restore

__version__ = "0.1.0"

__all__ = ["restore", "load_pretrained", "list_pretrained", "PyramidAttention", "PANet",
           "PAEDSR", "create_model", "list_models", "count_parameters",
           "load_official_checkpoint", "load_model", "save_model", "CheckpointError",
           "__version__"]
