"""Networks built around pyramid attention, and the registry that names them."""

from panet.models.card import ModelCard, model_card
from panet.models.networks import DIV2K_MEAN, PAEDSR, PANet
from panet.models.registry import (ARCHITECTURES, count_parameters, create_model, list_models,
                                   model_entry)

__all__ = ["PANet", "PAEDSR", "DIV2K_MEAN", "ARCHITECTURES", "create_model", "list_models",
           "model_entry", "count_parameters", "ModelCard", "model_card"]
