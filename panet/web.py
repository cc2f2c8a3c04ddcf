"""``panet serve``: a Gradio page to restore photos, and the same function as an API.

The page and the API call the library functions ``panet restore`` calls
(:func:`panet.restore_files.restore_file` with :class:`~panet.restore_files.RestoreOptions`
and a :class:`~panet.restore_files.ModelPool`), so tiling, the memory budget, bit depth,
alpha and metadata are the command's own, and the pixels equal it. The functions below
the Gradio layout are plain Python (tested without a browser).

Gradio is an optional extra (``pip install "panet[web]"``); nothing here is imported by
the rest of the package.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

from panet.files import check_input_file
from panet.io import ImageError, image_size, load_image
from panet.pretrained import available, shipped_scales
from panet.restore_files import output_name, restore_file
from panet.restorer import RestoreOptions, choose_models
from panet.tasks import FAMILIES, get_task

__all__ = ["ServeSettings", "shipped_models", "suggest_level", "restore_upload",
           "build_app", "DEFAULT_MAX_PIXELS"]

#: Uploads above this many pixels are refused (``--max-pixels``): 24 MP, a large photo.
DEFAULT_MAX_PIXELS = 24_000_000
#: Where each restore writes; one temporary folder per server.
_OUTPUTS = tempfile.mkdtemp(prefix="panet-serve-")


@dataclass(frozen=True)
class ServeSettings:
    """What the server allows: pixels per upload, memory per restore (GiB, as
    ``panet restore --max-memory``), restores at once."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_memory_gib: float = 4.0
    concurrency: int = 1


def shipped_models(family: str) -> list[str]:
    """The shipped models of a task family, the default first."""
    return [entry.name for entry in available() if entry.family == family]


def suggest_level(path: str | None, family: str) -> tuple[str, str]:
    """``(level, note)`` for the form: what the task reads from an upload (the estimated
    noise level, a JPEG file's quality) or its usual level (the Bayer pattern, the SR
    factor, with the factors the shipped models have)."""
    task, pixels, image_format = get_task(family), None, None
    if path:
        try:
            image = load_image(path)
        except ImageError as error:
            return "", str(error)
        task = task.for_channels(image.pixels.shape[2])
        pixels, image_format = image.pixels, image.format
    level, note = task.suggest_level(pixels, path, image_format)
    factors = shipped_scales(family)
    if factors:
        note += f" (shipped: {', '.join(map(str, factors))})"
    return level, note


def _check_upload(path: str | None, settings: ServeSettings) -> str:
    if not path:
        raise ValueError("upload an image first")
    check_input_file(path, ImageError)
    width, height = image_size(path)
    if width * height > settings.max_pixels:
        raise ValueError(f"{os.path.basename(path)} has {width}x{height} pixels, more than "
                         f"the {settings.max_pixels / 1e6:g} MP this server restores")
    return path


def restore_upload(path: str | None, family: str, level: str | float | None = None,
                   model: str | None = None, settings: ServeSettings = ServeSettings(),
                   on_plan=None) -> str:
    """Restore one uploaded file as ``panet restore --task FAMILY [level] [--model MODEL]``
    would, into a lossless file (PNG; float TIFF for float input); returns its path.
    ``ValueError`` (one line) for anything wrong with the upload or the choices."""
    if family not in FAMILIES:
        raise ValueError(f"unknown task {family!r}; tasks: {', '.join(FAMILIES)}")
    path = _check_upload(path, settings)
    text = "" if level is None else str(level).strip()
    options = RestoreOptions(task=get_task(family), level=text or None,
                             max_memory_bytes=int(settings.max_memory_gib * 2**30))
    if model and model not in shipped_models(family):
        raise ValueError(f"{model!r} is not a shipped {family} model; choose one of "
                         f"{', '.join(shipped_models(family))}")
    models, _ = choose_models(options, model or None)
    # only a TIFF can hold floats, which a PNG cannot: those come back as float TIFF
    float_input = path.lower().endswith((".tif", ".tiff")) and load_image(path).bit_depth == 32
    target = os.path.join(tempfile.mkdtemp(dir=_OUTPUTS),
                          output_name(path, ".tif" if float_input else ".png"))
    restore_file(path, target, models, options, on_plan=on_plan)
    return target


def _preview(path: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """8-bit RGB for the page (the download keeps the full depth)."""
    from PIL import Image

    pixels = np.clip(load_image(path).pixels, 0, 1)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    image = Image.fromarray((pixels * 255).round().astype(np.uint8))
    if size and image.size != size:   # SR: show the input at the output's size
        image = image.resize(size, Image.BICUBIC)
    return np.asarray(image)


def _scores(restored: str, reference: str | None) -> str:
    from panet.metrics import psnr, ssim

    if not reference:
        return "Upload the clean image as a reference to see PSNR and SSIM."
    clean, output = load_image(reference).pixels, load_image(restored).pixels
    if clean.shape != output.shape:
        return (f"The reference is {clean.shape[1]}x{clean.shape[0]}x{clean.shape[2]}, the "
                f"result {output.shape[1]}x{output.shape[0]}x{output.shape[2]}: no scores.")
    return f"PSNR {psnr(output, clean):.2f} dB, SSIM {ssim(output, clean):.4f} (against the reference)"


def build_app(settings: ServeSettings = ServeSettings()):
    """The Gradio page; its restore function is also the API endpoint ``/restore``
    ``(image file, task, level) -> lossless PNG``."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    def api_restore(image, task, level):
        try:
            return restore_upload(image, task, level, settings=settings)
        except (ValueError, OSError, RuntimeError) as error:
            raise gr.Error(str(error).splitlines()[0]) from None

    def page_restore(image, task, level, model, reference, progress=gr.Progress()):
        def plan(total):
            done = [0]
            progress((0, total), desc="tiles", unit="tiles")

            def step():
                done[0] += 1
                progress((done[0], total), desc="tiles", unit="tiles")
            return step

        try:
            result = restore_upload(image, task, level, model or None, settings, on_plan=plan)
            after = _preview(result)
            before = _preview(image, (after.shape[1], after.shape[0]))
            return (before, after), result, _scores(result, reference)
        except (ValueError, OSError, RuntimeError) as error:
            raise gr.Error(str(error).splitlines()[0]) from None

    def on_task(task, image):
        level, note = suggest_level(image, task)
        names = shipped_models(task)
        return gr.update(value=level, info=note or None), \
            gr.update(choices=names, value=names[0] if names else None)

    theme = gr.themes.Default(font=["system-ui", "sans-serif"],     # nothing fetched
                              font_mono=["ui-monospace", "monospace"])
    with gr.Blocks(title="panet: restore a photo", analytics_enabled=False) as app:
        gr.Markdown("## panet: pyramid attention restoration\nUpload a photo (PNG, JPEG, TIFF, "
                    "BMP or WebP; 8 or 16 bits; gray or colour; alpha kept), choose the task, "
                    "and restore. The download is lossless, with the input's bit depth.")
        with gr.Row():
            with gr.Column():
                image = gr.File(label="Image", type="filepath", elem_id="upload",
                                file_types=[".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp",
                                            ".webp"])
                task = gr.Dropdown(list(FAMILIES), value="denoise", label="Task",
                                   elem_id="task")
                level = gr.Textbox(label="Level (sigma, JPEG quality, Bayer pattern or scale)",
                                   elem_id="level")
                model = gr.Dropdown(shipped_models("denoise"), value=shipped_models("denoise")[0],
                                    label="Model", elem_id="model")
                reference = gr.File(label="Clean reference (optional)", type="filepath")
                button = gr.Button("Restore", variant="primary", elem_id="restore")
            with gr.Column():
                slider = gr.ImageSlider(label="Before / after", elem_id="slider",
                                        buttons=["fullscreen"])
                download = gr.File(label="Result (lossless)", elem_id="result")
                scores = gr.Markdown(elem_id="scores")
        image.change(on_task, [task, image], [level, model], api_name=False)
        task.change(on_task, [task, image], [level, model], api_name=False)
        button.click(page_restore, [image, task, level, model, reference],
                     [slider, download, scores], api_name=False)
        # the API: the same restore, without the page's extras
        api_in = [gr.File(visible=False, type="filepath"), gr.Textbox(visible=False),
                  gr.Textbox(visible=False)]
        api_out = gr.File(visible=False)
        gr.Button(visible=False).click(api_restore, api_in, api_out, api_name="restore")
    app.queue(default_concurrency_limit=settings.concurrency)
    app.panet_theme = theme
    return app
