"""Restore image files: input expansion, output naming, and one file end to end.

The ``panet restore`` command, a web app or a distributed runner all call these; none of
them decides tiling, alpha, bit depth or naming on its own.

>>> from panet.restore_files import output_target
>>> output_target("photos/a.png", "a.png", output=None)
'photos/a_panet.png'
>>> output_target("photos/a.png", "sub/a.png", output="out")
'out/sub/a.png'
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable

from torch import nn

from panet.io import FORMATS, ImageError, load_image, save_image
from panet.restorer import RestoreOptions, restore_image

__all__ = ["expand_inputs", "output_target", "output_name", "check_target", "restore_file",
           "OUTPUT_SUFFIX"]

#: Added to the file name when outputs are written beside their inputs.
OUTPUT_SUFFIX = "_panet"


def expand_inputs(items: list[str], recursive: bool = False) -> list[tuple[str, str]]:
    """(file, path relative to its input root) for files, folders and glob patterns.

    Raises:
        FileNotFoundError: a pattern that matches nothing.
    """
    found: list[tuple[str, str]] = []
    for item in items:
        matches = sorted(glob.glob(item)) if any(c in item for c in "*?[") else [item]
        if not matches:
            raise FileNotFoundError(f"{item}: no file matches")
        for match in matches:
            if os.path.isdir(match):
                walker = os.walk(match) if recursive else [(match, [], sorted(os.listdir(match)))]
                for folder, _, files in walker:
                    for name in sorted(files):
                        path = os.path.join(folder, name)
                        if os.path.splitext(name)[1].lower() in FORMATS and os.path.isfile(path) \
                                and not name.startswith("."):
                            found.append((path, os.path.relpath(path, match)))
            else:
                found.append((match, os.path.basename(match)))
    return found


def output_name(path: str, extension: str | None = None) -> str:
    """The file name of ``path``'s output when written beside it or for download: its stem
    with :data:`OUTPUT_SUFFIX`, and its own extension unless another is given."""
    stem, ext = os.path.splitext(os.path.basename(path))
    return stem + OUTPUT_SUFFIX + (extension or ext)


def output_target(path: str, relative: str, output: str | None,
                  output_is_file: bool = False) -> str:
    """Where the restored ``path`` goes: ``output`` itself (one input, a file name), the
    same relative path under the ``output`` folder, or beside the input with
    :data:`OUTPUT_SUFFIX`."""
    if output_is_file:
        return output
    if output:
        return os.path.join(output, relative)
    return os.path.join(os.path.dirname(path), output_name(relative))


def check_target(path: str, target: str, overwrite: bool) -> str | None:
    """Why ``target`` must not be written for ``path`` (``"skip"`` for an existing output
    without ``overwrite``), or ``None`` when it may be."""
    if os.path.abspath(target) == os.path.abspath(path):
        return f"{path}: the output would overwrite the input"
    if os.path.splitext(target)[1].lower() not in FORMATS:
        return (f"{path}: panet writes {', '.join(sorted(FORMATS))}, not "
                f"{os.path.splitext(target)[1] or 'files without an extension'}; name the "
                "output with -o")
    if os.path.exists(target) and not overwrite:
        return "skip"
    return None


def restore_file(path: str, target: str, models: Callable[[int], nn.Module],
                 options: RestoreOptions,
                 on_plan: Callable[[int], Callable[[], None] | None] | None = None) -> str:
    """Restore the image at ``path`` into ``target`` (written atomically, keeping alpha,
    bit depth where the format allows, EXIF and ICC profile); returns a short note on what
    was found (shipped model used, estimated noise level, JPEG quality read).

    ``models(channels)`` gives the network for the image's channel count
    (:func:`panet.restorer.choose_models`). ``on_plan``, if given, is told how many network
    calls the image will take and may return a callback called after each.
    """
    image = load_image(path)
    pixels, alpha, notes = restore_image(image.pixels, image.alpha, models, options, path=path,
                                         image_format=image.format, on_plan=on_plan)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    except OSError as error:
        raise ImageError(f"{target}: cannot create its folder ({error.strerror})") from None
    depth = image.bit_depth
    if FORMATS[os.path.splitext(target)[1].lower()] in ("JPEG", "BMP", "WEBP"):
        depth = 8
    save_image(target, pixels, alpha=alpha, bit_depth=depth, exif=image.exif,
               icc_profile=image.icc_profile)
    return "; ".join(notes)
