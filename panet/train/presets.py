"""Bundled training presets: every setting of the paper, as overrides of the paper recipe."""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS", "preset"]

_GRAY = {"in_channels": 1}
_LEVELS = [1.0, 0.9, 0.8, 0.7, 0.6]
# §4.9 ablations: denoising at sigma 50 (the paper leaves the level out of the text) with a
# 16-ResBlock network, as implied by Table 9 ("after the 8th block" is the middle).
_ABLATION = {"model": {"name": "panet", "options": {"n_resblocks": 16}},
             "task": {"type": "denoise", "sigma": 50}}


def _ablation(**options: Any) -> dict[str, Any]:
    return {"model": {"name": "panet", "options": {"n_resblocks": 16, **options}},
            "task": dict(_ABLATION["task"])}


PRESETS: dict[str, tuple[str, dict[str, Any]]] = {}
for _sigma in (10, 30, 50, 70):
    PRESETS[f"denoise-sigma{_sigma}"] = (f"colour denoising, sigma {_sigma} (paper Table 1)",
                                         {"model": {"name": "panet"},
                                          "task": {"type": "denoise", "sigma": _sigma}})
PRESETS["denoise-blind"] = ("colour denoising, one model for sigma 5-70",
                            {"model": {"name": "panet"},
                             "task": {"type": "denoise", "sigma": [5, 70]}})
PRESETS["panet-s"] = ("PANet-S, colour denoising sigma 50 (paper Table 4)",
                      {"model": {"name": "panet-s"}, "task": {"type": "denoise", "sigma": 50}})
PRESETS["demosaic"] = ("demosaicing, GRBG mosaic as in the authors' IRCNN scripts (Table 2)",
                       {"model": {"name": "panet"}, "task": {"type": "demosaic", "pattern": "GRBG"}})
PRESETS["demosaic-rggb"] = ("demosaicing, RGGB mosaic",
                            {"model": {"name": "panet"},
                             "task": {"type": "demosaic", "pattern": "RGGB"}})
for _quality in (10, 20, 30, 40):
    PRESETS[f"car-q{_quality}"] = (f"JPEG artifact reduction on Y, quality {_quality} (Table 3)",
                                   {"model": {"name": "panet", "options": dict(_GRAY)},
                                    "task": {"type": "jpeg", "quality": _quality, "gray_y": True}})
PRESETS["car-blind"] = ("JPEG artifact reduction on Y, one model for quality 10-40",
                        {"model": {"name": "panet", "options": dict(_GRAY)},
                         "task": {"type": "jpeg", "quality": [10, 40], "gray_y": True}})
for _scale in (2, 3, 4):
    PRESETS[f"pa-edsr-x{_scale}"] = (f"super-resolution x{_scale} (Table 5)",
                                     {"model": {"name": f"pa-edsr-x{_scale}"},
                                      "task": {"type": "sr", "scale": _scale}})
PRESETS["ablation-resnet"] = ("§4.9: no attention (Table 6 baseline)",
                              _ablation(attention_positions=[]))
PRESETS["ablation-nonlocal"] = ("§4.9: pixel-wise single-scale non-local attention (Tables 6, 7)",
                                _ablation(scales=[1.0], patch_size=1))
PRESETS["ablation-block-nonlocal"] = ("§4.9: 3x3 block matching, single scale (Table 7)",
                                      _ablation(scales=[1.0]))
for _count in range(1, 6):
    PRESETS[f"ablation-levels-{_count}"] = (f"§4.9: pyramid of {_count} level(s) (Table 8)",
                                            _ablation(scales=_LEVELS[:_count]))
for _positions in (["pre"], ["mid"], ["post"], ["pre", "mid"], ["pre", "post"], ["mid", "post"],
                   ["pre", "mid", "post"]):
    PRESETS["ablation-" + "-".join(_positions)] = (
        f"§4.9: attention at {' + '.join(_positions)} (Table 9)",
        _ablation(attention_positions=_positions))


def preset(name: str) -> dict[str, Any]:
    """The raw configuration of a preset (a fresh copy)."""
    import copy

    if name not in PRESETS:
        raise KeyError(name)
    return copy.deepcopy(PRESETS[name][1])
