"""Tasks as objects: levels, labels, scoring protocol, images, baselines, families."""

import numpy as np
import pytest

from panet.data.datasets import Demosaic, Denoise, JPEGArtifacts, SuperResolution
from panet.evaluate import baseline
from panet.tasks import FAMILIES, TASKS, check_family, for_images, get_task


@pytest.mark.parametrize("name, text, level, label, kind", [
    ("denoise", "30", 30.0, "σ30", Denoise),
    ("denoise-gray", "12.5", 12.5, "σ12.5", Denoise),
    ("demosaic", "grbg", "GRBG", "GRBG", Demosaic),
    ("jpeg", "10", 10, "q10", JPEGArtifacts),
    ("jpeg-color", "40", 40, "q40", JPEGArtifacts),
    ("sr", "3", 3, "×3", SuperResolution),
])
def test_levels_labels_and_degradations(name, text, level, label, kind):
    task = get_task(name)
    assert task.parse_level(text) == level
    assert task.label(level) == label
    assert isinstance(task.degradation(level), kind)
    assert task.family in FAMILIES


@pytest.mark.parametrize("name, bad", [("denoise", "-1"), ("denoise", "300"), ("jpeg", "0"),
                                       ("jpeg-color", "101"), ("sr", "1"),
                                       ("demosaic", "RGBG")])
def test_bad_levels_are_refused(name, bad):
    with pytest.raises(ValueError):
        get_task(name).parse_level(bad)


def test_scoring_protocol_follows_the_paper():
    # SPEC §4: SR on Y with a border shave equal to the scale; CAR on Y images; the rest RGB
    assert (TASKS["sr"].y, TASKS["sr"].shave(4)) == (True, 4)
    assert (TASKS["jpeg"].y, TASKS["jpeg"].shave(10)) == (False, 0)
    assert TASKS["jpeg"].degradation(10).gray_y and not TASKS["jpeg-color"].degradation(10).gray_y
    assert TASKS["denoise-gray"].channels == 1 and TASKS["denoise"].channels == 3
    assert TASKS["denoise"].paper_min_pixels == 6800 and TASKS["sr"].paper_min_pixels == 6400
    # the network each task's images need: Y and gray tasks one channel, the rest colour
    assert {name: task.model_channels for name, task in TASKS.items()} == {
        "denoise": 3, "denoise-gray": 1, "demosaic": 3, "jpeg": 1, "jpeg-color": 3, "sr": 3}


def test_images_pick_the_task_that_scores_them():
    assert for_images("denoise", 1).name == "denoise-gray"
    assert for_images("denoise", 3).name == "denoise"
    assert for_images("jpeg", 1).name == "jpeg"
    assert for_images("jpeg", 3).name == "jpeg-color"
    assert for_images("sr", 3).name == "sr" and for_images("demosaic").name == "demosaic"
    with pytest.raises(ValueError, match="unknown task"):
        check_family("jpeg-color")       # a task, not something a network does
    with pytest.raises(ValueError, match="known: denoise"):
        get_task("deblur")


@pytest.mark.parametrize("name", list(TASKS))
def test_default_baselines_do_their_task(name):
    for method in TASKS[name].baselines:
        assert name in baseline(method).tasks


def test_degradation_is_seeded():
    clean = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    task = get_task("denoise")
    first = task.degradation(25)(clean, np.random.default_rng(7))[0]
    again = task.degradation(25)(clean, np.random.default_rng(7))[0]
    assert np.array_equal(first, again)


@pytest.mark.parametrize("name, level, shipped", [
    ("denoise", 25, "denoise-color"), ("denoise-gray", 25, "denoise-gray"),
    ("demosaic", "RGGB", "demosaic"), ("jpeg", 10, "jpeg-y"),
    ("jpeg-color", 10, "jpeg-color"), ("sr", 3, "sr-x3")])
def test_each_task_finds_its_shipped_model(name, level, shipped):
    """What panet eval runs by default: the family's shipped model with the channels the
    task's images have."""
    from panet.models import model_card
    from panet.pretrained import resolve_model

    task = get_task(name)
    scale = level if task.family == "sr" else None
    model, random_weights = resolve_model(None, task.family, scale, task.model_channels)
    card = model_card(model)
    assert not random_weights and card.shipped_name == shipped
    assert card.in_channels == task.model_channels and card.family == task.family
