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
from panet.pretrained import available
from panet.restore_files import ModelPool, RestoreOptions, restore_file
from panet.tasks import FAMILIES, for_images

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


def shipped_models(task: str) -> list[str]:
    """The shipped models of a task family, the default first."""
    return [entry.name for entry in available() if entry.task == task]


def _level_for(task: str, level: str | float | None) -> dict:
    """``RestoreOptions`` fields and the model choice for a task's level, from text."""
    text = "" if level is None else str(level).strip()
    if task == "denoise":
        return {"sigma": float(text)} if text else {}
    if task == "jpeg":
        return {"quality": int(float(text))} if text else {}
    if task == "demosaic":
        return {"pattern": text.upper() or "RGGB"}
    return {"scale": int(float(text or 2))}


def suggest_level(path: str | None, task: str) -> tuple[str, str]:
    """``(level, note)`` read from an upload: the estimated noise level, the JPEG quality
    of a JPEG file, the usual Bayer pattern, or the SR factor 2."""
    if task == "demosaic":
        return "RGGB", "Bayer pattern of the mosaic (RGGB, BGGR, GRBG or GBRG)"
    if task == "sr":
        return "2", "upscaling factor (2, 3 or 4)"
    if not path:
        return "", ""
    try:
        image = load_image(path)
    except ImageError as error:
        return "", str(error)
    level = for_images(task, image.pixels.shape[2]).measure_level(image.pixels, path,
                                                                  image.format)
    if level is None:
        return "", ""
    what = "noise sigma estimated" if task == "denoise" else "JPEG quality read"
    return (f"{level:.1f}" if isinstance(level, float) else str(level)), \
        f"{what} from the image"


def _check_upload(path: str | None, settings: ServeSettings) -> str:
    if not path:
        raise ValueError("upload an image first")
    check_input_file(path, ImageError)
    width, height = image_size(path)
    if width * height > settings.max_pixels:
        raise ValueError(f"{os.path.basename(path)} has {width}x{height} pixels, more than "
                         f"the {settings.max_pixels / 1e6:g} MP this server restores")
    return path


def restore_upload(path: str | None, task: str, level: str | float | None = None,
                   model: str | None = None, settings: ServeSettings = ServeSettings(),
                   on_plan=None) -> str:
    """Restore one uploaded file as ``panet restore --task TASK [level] [--model MODEL]``
    would, into a lossless file (PNG; float TIFF for float input); returns its path.
    ``ValueError`` (one line) for anything wrong with the upload or the choices."""
    from panet.restore import resolve_model

    if task not in FAMILIES:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(FAMILIES)}")
    path = _check_upload(path, settings)
    try:
        fields = _level_for(task, level)
    except ValueError:
        raise ValueError(f"{level!r} is not a level of task {task}") from None
    scale = fields.pop("scale", None)
    if scale is not None and scale not in (2, 3, 4) and not model:
        raise ValueError(f"the shipped SR models upscale x2, x3 or x4, not x{scale}")
    if task == "denoise" and not 0 <= fields.get("sigma", 0) <= 255:
        raise ValueError(f"sigma must be from 0 to 255, got {level}")
    if task == "jpeg" and not 1 <= fields.get("quality", 50) <= 100:
        raise ValueError(f"JPEG quality must be from 1 to 100, got {level}")
    if fields.get("pattern", "RGGB") not in ("RGGB", "BGGR", "GRBG", "GBRG"):
        raise ValueError(f"Bayer pattern must be RGGB, BGGR, GRBG or GBRG, got {level}")
    if model and model not in shipped_models(task):
        raise ValueError(f"{model!r} is not a shipped {task} model; choose one of "
                         f"{', '.join(shipped_models(task))}")
    try:
        network, _ = resolve_model(model, task, scale)
    except KeyError as error:
        raise ValueError(error.args[0]) from None
    pool = ModelPool(network, task, scale, fixed=model is not None)
    options = RestoreOptions(task=task, max_memory_bytes=int(settings.max_memory_gib * 2**30),
                             **fields)
    # only a TIFF can hold floats, which a PNG cannot: those come back as float TIFF
    float_input = path.lower().endswith((".tif", ".tiff")) and load_image(path).bit_depth == 32
    stem = os.path.splitext(os.path.basename(path))[0]
    folder = tempfile.mkdtemp(dir=_OUTPUTS)
    target = os.path.join(folder, f"{stem}_panet.{'tif' if float_input else 'png'}")
    restore_file(path, target, pool, options, on_plan=on_plan)
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
