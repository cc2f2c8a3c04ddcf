"""Degrade clean test images deterministically, run every method, score as the paper did.

The scoring follows SPEC §4: outputs clamped and rounded to 8 bits; denoising, demosaicing
and colour CAR on RGB with no shave; the paper's CAR on Y (the images themselves are Y);
super-resolution on Y with a border shave equal to the scale.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from panet.data.datasets import RestorationDataset, find_images
from panet.evaluate.methods import Method
from panet.metrics import psnr, ssim
from panet.tasks import TASKS, Level, get_task
from panet.workers import Workers

__all__ = ["TASKS", "parse_levels", "Score", "Evaluation", "evaluate"]


def parse_levels(task: str, text: str) -> list[Level]:
    """``"10,30,50"`` -> ``[10.0, 30.0, 50.0]`` for the task's kind of level.

    >>> parse_levels("demosaic", "rggb,GRBG")
    ['RGGB', 'GRBG']
    """
    spec = get_task(task)
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError("no levels given")
    try:
        return [spec.parse_level(item) for item in items]
    except ValueError as error:
        if "invalid literal" in str(error) or "could not convert" in str(error):
            raise ValueError(f"bad level in {text!r} for task {task}") from None
        raise


@dataclass
class Score:
    """One method on one image at one level."""

    method: str
    dataset: str
    level: str
    image: str
    psnr: float
    ssim: float
    seconds: float
    megapixels: float


@dataclass
class Evaluation:
    """All scores of a run, plus the outputs kept for the comparison figure."""

    task: str
    methods: list[str]
    datasets: list[str]
    levels: list[str]
    scores: list[Score] = field(default_factory=list)
    # (dataset, level) -> {"clean", "degraded", method name -> output} for one image
    figure_images: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict)
    figure_names: dict[tuple[str, str], str] = field(default_factory=dict)
    shaves: dict[str, int] = field(default_factory=dict)   # level label -> border shave

    def mean(self, method: str, dataset: str, level: str) -> tuple[float, float] | None:
        """Mean PSNR and SSIM over the images, or None where the method did not run."""
        rows = [s for s in self.scores
                if (s.method, s.dataset, s.level) == (method, dataset, level)]
        if not rows:
            return None
        return (float(np.mean([r.psnr for r in rows])), float(np.mean([r.ssim for r in rows])))

    def seconds_per_megapixel(self, method: str) -> float | None:
        rows = [s for s in self.scores if s.method == method]
        if not rows:
            return None
        return sum(r.seconds for r in rows) / sum(r.megapixels for r in rows)


def evaluate(task: str, levels: Sequence[Level], datasets: dict[str, Sequence[str] | str],
             methods: Sequence[Method], *, crop: int | None = None, limit: int | None = None,
             seed: int = 0, figure_image: str | None = None,
             on_result: Callable[[Score], None] | None = None,
             save: Callable[[Score, np.ndarray], None] | None = None,
             workers: Workers | None = None) -> Evaluation | None:
    """Score ``methods`` on ``task`` at each level on each dataset (a folder or a list of
    files). The degraded inputs depend only on ``seed``, the level and the image order, so
    every method (and every rerun) sees the same inputs.

    ``crop`` evaluates a centre crop of that (input) size instead of whole images;
    ``limit`` takes the first images only; ``figure_image`` (a substring of a file name,
    default the first image) picks the image kept for the comparison figure.

    ``workers`` (under ``torchrun``, :meth:`Workers.from_environment`) shares the (dataset,
    level, image) units among the processes; rank 0 gathers the scores and figure images
    and returns the :class:`Evaluation` a single process would, the others ``None``.
    """
    workers = workers or Workers()
    spec = get_task(task)
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"two methods share a name: {names}")
    result = Evaluation(task, names, list(datasets), [spec.label(v) for v in levels])
    images = {name: find_images(source)[:limit] if limit else find_images(source)
              for name, source in datasets.items()}
    # units in the order one process takes them; each costs about its file's size
    costs = [os.path.getsize(path) for paths in images.values() for _ in levels
             for path in paths]
    mine = set(workers.share(costs))
    unit = -1
    scored: list[tuple[int, Score]] = []
    for dataset_name, paths in images.items():
        keep = 0
        if figure_image:
            matches = [i for i, p in enumerate(paths) if figure_image in p]
            if not matches:
                raise ValueError(f"no image of {dataset_name} has {figure_image!r} in its name")
            keep = matches[0]
        for level in levels:
            label = spec.label(level)
            result.shaves[label] = spec.shave(level)
            data = RestorationDataset(paths, spec.degradation(level), patch_size=crop,
                                      channels=spec.channels, train=False, seed=seed,
                                      cache=False)
            active = [m for m in methods if m.accepts(task, level)]
            for index in range(len(paths)):
                unit += 1
                if unit not in mine:
                    continue
                degraded, clean = (t.numpy().transpose(1, 2, 0) for t in data[index])
                image_name = os.path.basename(paths[index])
                if index == keep:
                    result.figure_images[(dataset_name, label)] = {"clean": clean,
                                                                   "degraded": degraded}
                    result.figure_names[(dataset_name, label)] = image_name
                for method in active:
                    start = time.perf_counter()
                    restored = method(degraded, task, level)
                    seconds = time.perf_counter() - start
                    score = Score(method.name, dataset_name, label, image_name,
                                  psnr(restored, clean, y=spec.y, shave=spec.shave(level)),
                                  ssim(restored, clean, y=spec.y, shave=spec.shave(level)),
                                  seconds, clean.shape[0] * clean.shape[1] / 1e6)
                    scored.append((unit, score))
                    if index == keep:
                        result.figure_images[(dataset_name, label)][method.name] = restored
                    if save:
                        save(score, restored)
                    if on_result:
                        on_result(score)
    parts = workers.gather((scored, result.figure_images, result.figure_names))
    if parts is None:
        return None
    for _, figures, figure_names in parts:
        result.figure_images.update(figures)
        result.figure_names.update(figure_names)
    # a stable sort: within a unit, the scores stay in the order of the methods
    merged = sorted((pair for part in parts for pair in part[0]), key=lambda pair: pair[0])
    result.scores = [score for _, score in merged]
    return result
