"""Model cards: parsed once at load time from the weights' configuration and metadata."""

import json

import torch

from panet import create_model, load_model, save_model
from panet.models import ModelCard, model_card
from panet.inference import input_channels, model_scale, preferred_tile, trained_pattern


def test_card_of_a_saved_and_loaded_file(tmp_path):
    path = tmp_path / "demosaic.safetensors"
    task = {"type": "demosaic", "pattern": "grbg"}
    save_model(create_model("panet-s", n_resblocks=1, n_feats=8), path,
               {"task": json.dumps(task), "restore_tile": "64", "card": "{}"})
    model = load_model(path)
    card = model.card
    assert isinstance(card, ModelCard) and model_card(model) is card
    assert (card.architecture, card.in_channels, card.scale) == ("panet", 3, 1)
    assert (card.family, card.pattern, card.levels, card.restore_tile) == (
        "demosaic", "GRBG", "grbg", 64)
    assert card.gray_y is None and card.shipped_name is None
    assert card.provenance == {"card": "{}"}
    # the restore helpers read the card
    assert (trained_pattern(model), preferred_tile(model), input_channels(model)) == (
        "GRBG", 64, 3)


def test_card_of_a_model_without_metadata():
    card = model_card(create_model("pa-edsr-x4", n_resblocks=1, n_feats=8))
    assert (card.architecture, card.scale, card.family, card.levels) == ("pa_edsr", 4, None,
                                                                         None)
    gray = create_model("panet-gray", n_resblocks=1)
    assert model_card(gray).in_channels == 1 and input_channels(gray) == 1
    assert model_scale(create_model("panet-s", n_resblocks=1)) == 1


def test_card_of_a_foreign_network_and_bad_metadata():
    class Mine(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3))

    mine = Mine()
    mine.metadata = {"task": "not json", "restore_tile": "-3", "restore_overlap": "8"}
    card = model_card(mine)
    assert (card.architecture, card.in_channels, card.family, card.restore_tile) == (
        "Mine", 1, None, None)
    assert card.restore_overlap is None          # no tile to overlap
    for overlap, read in [("999", None), ("48", None), ("x", None), ("47", 47), ("0", 0)]:
        mine.metadata = {"restore_tile": "48", "restore_overlap": overlap}
        assert ModelCard.describe(mine).restore_overlap == read, overlap


def test_jpeg_card_reads_the_y_setting(tmp_path):
    path = tmp_path / "jpeg.safetensors"
    save_model(create_model("panet-gray", n_resblocks=1, n_feats=8), path,
               {"task": json.dumps({"type": "jpeg", "quality": [10, 40], "gray_y": True})})
    card = load_model(path).card
    assert (card.family, card.levels, card.gray_y, card.in_channels) == ("jpeg", [10, 40],
                                                                         True, 1)
