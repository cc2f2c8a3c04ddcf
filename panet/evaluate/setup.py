"""What ``panet eval`` compares, from the words a user writes: datasets, baselines and
networks. Problems are ``ValueError`` with one line; notes for the user are returned."""

from __future__ import annotations

import os

import torch

from panet.evaluate.methods import Method, MissingPackage, Network, baseline
from panet.models.card import model_card
from panet.tasks import Level, get_task

__all__ = ["datasets_from_text", "baselines_for", "networks_from_text"]


def datasets_from_text(text: str) -> dict[str, str]:
    """``"offline-mini,photos/"`` -> ``{name: folder}``: prepared sets by name, folders as
    they are."""
    from panet.data.photos import SET_NAMES, default_root, read_index, set_folder

    roles = {name: role for role, name in SET_NAMES.items()}
    datasets: dict[str, str] = {}
    for item in [t.strip() for t in text.split(",") if t.strip()]:
        if item in roles:
            if not read_index(default_root(), roles[item]):
                raise ValueError(f"{item} is not prepared in {default_root()}; run "
                                 f"'panet data fetch {roles[item]}' first")
            datasets[item] = set_folder(default_root(), roles[item])
        elif os.path.isdir(item):
            datasets[os.path.basename(os.path.normpath(item))] = item
        else:
            raise ValueError(f"{item!r} is neither a folder nor a prepared set "
                             f"({', '.join(SET_NAMES.values())})")
    if not datasets:
        raise ValueError("--dataset names no dataset")
    return datasets


def baselines_for(task: str, text: str | None = None) -> tuple[list[Method], list[str]]:
    """The classical methods named in ``text`` (``None``: the task's own; ``"none"``: no
    baseline) and notes about the task's own ones skipped for a missing package."""
    explicit = text is not None
    names = list(get_task(task).baselines) if not explicit else \
        [t.strip() for t in text.split(",") if t.strip() and t.strip() != "none"]
    methods, notes = [], []
    for name in names:
        method = baseline(name)
        if task not in method.tasks:
            raise ValueError(f"baseline {name!r} does not do task {task} (it does "
                             f"{', '.join(method.tasks)})")
        try:
            method.check_available()
        except MissingPackage as error:
            if explicit:
                raise ValueError(f"{name}: {error}") from None
            notes.append(f"skipping baseline {name}: {error}")
            continue
        methods.append(method)
    return methods, notes


def networks_from_text(task: str, levels: list[Level], text: str | None = None, *,
                       protocol: str = "paper", tile: int | None = None,
                       overlap: int | None = None,
                       ensemble: bool = False, dtype: torch.dtype | None = None,
                       consistency: bool = True) -> tuple[list[Method], list[str]]:
    """Networks from ``[LABEL=]NAME|FILE[@LEVEL]`` items (``@LEVEL``: a non-blind model
    scored at that level only); ``None`` takes the task's shipped model (one per SR
    scale), ``"none"`` no network. Returns the methods and warnings (random weights)."""
    from panet.pretrained import resolve_model

    spec = get_task(task)
    if text is None:
        items = [(None, s) for s in levels] if spec.upscales else [(None, None)]
    elif text.strip().lower() == "none":
        return [], []
    else:
        items = [(t.strip(), None) for t in text.split(",") if t.strip()]
    methods, warnings = [], []
    for item, scale in items:
        label, level = None, None
        if item and "=" in item:
            label, item = item.split("=", 1)
        if item and "@" in item:
            item, level = item.rsplit("@", 1)
        # the family's model for this task's images (denoise-gray: the gray one)
        model, random_weights = resolve_model(item, spec.family, scale, spec.model_channels)
        card = model_card(model)
        default = card.shipped_name or f"{card.architecture} (default)"
        name = label or (os.path.splitext(os.path.basename(item))[0] if item and
                         os.path.isfile(item) else (item or default))
        if random_weights:
            name += " (random weights)"
            warnings.append(f"{item or 'the default model'} has no trained weights yet; its "
                            "row shows what RANDOM weights do")
        methods.append(Network(name=name, model=model, task=task, level=level,
                               protocol=protocol, tile=tile, overlap=overlap,
                               ensemble=ensemble, dtype=dtype,
                               consistency=consistency))
    return methods, warnings
