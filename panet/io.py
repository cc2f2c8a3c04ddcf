"""Reading and writing images without losing data.

Pixels are handed around as float32 ``H x W x C`` arrays in [0, 1] (C = 1 or 3); alpha is
kept apart and written back unchanged. Libraries: Pillow decodes and encodes the common
formats and keeps EXIF/ICC metadata; Pillow reads 16-bit colour PNG as 8 bits, so
``pypng`` handles 16-bit PNG (EXIF and ICC in its ``eXIf``/``iCCP`` chunks); ``tifffile``
handles 16-bit and float TIFF (ICC profile, and EXIF's descriptive text tags). EXIF
orientation is applied on reading at every depth, and reset to "upright" in what is kept.
"""

from __future__ import annotations

import os
import warnings
import zlib
from dataclasses import dataclass
from importlib import resources

import numpy as np
import png
import tifffile
from PIL import Image, ImageOps, UnidentifiedImageError

from panet.files import atomic_output, check_input_file

__all__ = ["ImageError", "ImageData", "load_image", "save_image", "read_image", "write_image",
           "image_size", "sample_image_path", "split_alpha", "from_integers", "to_integers",
           "FORMATS"]

#: File extensions -> format names, and what each format can hold.
FORMATS = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".jpg": "JPEG", ".jpeg": "JPEG",
           ".bmp": "BMP", ".webp": "WEBP"}
_DEPTHS = {"PNG": (8, 16), "TIFF": (8, 16, 32), "JPEG": (8,), "BMP": (8,), "WEBP": (8,)}
_ALPHA = {"PNG", "TIFF", "WEBP"}


class ImageError(ValueError):
    """An image that cannot be read or written, with the reason in one line."""


#: Images claiming more pixels than this are refused before decoding (decompression bombs):
#: Pillow's own hard limit, 179 megapixels (7x a 24-MP photo, 2 GiB as float32 RGB),
#: applied to every format.
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(f"claims {width}x{height} pixels ({width * height / 1e6:,.0f} MP), "
                         f"more than the {MAX_PIXELS / 1e6:.0f} MP this program decodes")


@dataclass
class ImageData:
    """A decoded image: pixels and what must survive a round trip."""

    pixels: np.ndarray                 # float32, H x W x C (1 or 3), in [0, 1]
    alpha: np.ndarray | None = None    # float32, H x W x 1, or None
    bit_depth: int = 8                 # 8, 16, or 32 (float TIFF)
    format: str = "PNG"
    exif: bytes | None = None
    icc_profile: bytes | None = None


def sample_image_path() -> str:
    """Path of the picture bundled with the package (see ``panet/assets/README.md``)."""
    return str(resources.files("panet") / "assets" / "sample.png")


def split_alpha(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(pixels, alpha or None)`` of an ``H x W`` or ``H x W x C`` array (2 or 4 channels:
    the last is alpha)."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or 0 in array.shape:
        raise ValueError(f"no image data of a supported shape (found {array.shape})")
    if array.shape[2] in (2, 4):
        return array[..., :-1], array[..., -1:]
    if array.shape[2] not in (1, 3):
        raise ValueError(f"{array.shape[2]} channels are not supported")
    return array, None


def from_integers(array: np.ndarray, bit_depth: int) -> np.ndarray:
    """Integer levels of ``bit_depth`` bits as float32 in [0, 1] (as every decoder here)."""
    return (array.astype(np.float32) / float(2 ** bit_depth - 1)).astype(np.float32)


#: EXIF tags a 16-bit TIFF keeps (text of the main IFD; the camera's Exif sub-IFD is not
#: written by tifffile): description, make, model, software, date, artist, copyright.
_TIFF_TEXT_TAGS = (270, 271, 272, 305, 306, 315, 33432)
_ORIENTATION = 0x0112


def _orient(array: np.ndarray, exif: bytes | None) -> tuple[np.ndarray, bytes | None]:
    """Apply an EXIF orientation (as Pillow's ``exif_transpose`` does for 8-bit images) to an
    ``H x W x C`` array; the EXIF kept then says "upright"."""
    if not exif:
        return array, exif
    tags = Image.Exif()
    tags.load(exif)
    orientation = tags.get(_ORIENTATION, 1)
    if orientation == 1 or orientation not in range(2, 9):
        return array, exif
    # 2: mirror; 3: 180°; 4: flip; 5: transpose; 6: 90° clockwise; 7: transverse; 8: 90° ccw
    turned = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
              5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
              7: lambda a: np.rot90(a, 1)[::-1], 8: lambda a: np.rot90(a, 1)}[orientation]
    tags[_ORIENTATION] = 1
    return np.ascontiguousarray(turned(array)), tags.tobytes()


def _png_metadata(path: str) -> tuple[bytes | None, bytes | None]:
    """The ``eXIf`` and ``iCCP`` chunks of a PNG (read by pypng: Pillow would decode it)."""
    exif = icc = None
    for kind, data in png.Reader(filename=path).chunks():
        if kind == b"eXIf":
            exif = data
        elif kind == b"iCCP":
            name_end = data.index(b"\0")
            icc = zlib.decompress(data[name_end + 2:])
        elif kind == b"IDAT":
            break
    return exif, icc


def _add_png_metadata(path: str, exif: bytes | None, icc: bytes | None) -> None:
    """Insert ``iCCP`` and ``eXIf`` chunks after the header of the PNG at ``path``."""
    chunks = list(png.Reader(filename=path).chunks())
    extra = []
    if icc:
        extra.append((b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc)))
    if exif:
        extra.append((b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif))
    with open(path, "wb") as handle:
        png.write_chunks(handle, chunks[:1] + extra + chunks[1:])


def _tiff_exif(page, orientation: bool = True) -> bytes | None:
    tags = Image.Exif()
    for code in _TIFF_TEXT_TAGS + ((_ORIENTATION,) if orientation else ()):
        tag = page.tags.get(code)
        if tag is not None:
            tags[code] = tag.value
    return tags.tobytes() if len(tags) else None


def _png_depth(path: str) -> int:
    with open(path, "rb") as handle:
        header = handle.read(26)
    return header[24] if len(header) == 26 and header[12:16] == b"IHDR" else 8


def _load_png16(path: str) -> ImageData:
    width, height, rows, info = png.Reader(filename=path).asDirect()
    _check_size(width, height)
    planes = info["planes"]
    array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    array = array.reshape(height, width, planes)
    exif, icc = _png_metadata(path)
    array, exif = _orient(array, exif)
    pixels, alpha = split_alpha(array)
    return ImageData(from_integers(pixels, 16),
                     None if alpha is None else from_integers(alpha, 16), 16, "PNG", exif, icc)


def _load_tiff(path: str) -> ImageData:
    with tifffile.TiffFile(path) as tiff:
        if not tiff.pages:
            raise ValueError("the TIFF holds no image")
        page = tiff.pages[0]
        _check_size(int(page.imagewidth), int(page.imagelength))
        if page.bitspersample == 8 and page.sampleformat == 1:
            # Pillow decodes 8-bit TIFF with every common compression (LZW, deflate, ...)
            # and applies the orientation; its EXIF would hold the structural tags too
            data = _load_pillow(path)
            data.exif = _tiff_exif(page, orientation=False)
            return data
        array = page.asarray()
        exif, icc = _tiff_exif(page), page.iccprofile
    if array.ndim == 2:
        array = array[..., None]
    array, exif = _orient(array, exif)
    if array.dtype == np.uint8:
        depth, scaled = 8, from_integers(array, 8)
    elif array.dtype == np.uint16:
        depth, scaled = 16, from_integers(array, 16)
    elif np.issubdtype(array.dtype, np.floating):
        depth, scaled = 32, array.astype(np.float32)
    else:
        raise ValueError(f"TIFF sample type {array.dtype} is not supported")
    pixels, alpha = split_alpha(scaled)
    return ImageData(pixels, alpha, depth, "TIFF", exif, icc)


def _load_pillow(path: str) -> ImageData:
    with warnings.catch_warnings():   # Pillow warns from half the limit on; we decide
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        opened = Image.open(path)
    with opened:
        image_format = opened.format or "PNG"
        _check_size(*opened.size)
        opened.load()
        image = ImageOps.exif_transpose(opened)   # honour EXIF orientation
    exif = image.getexif()
    exif_bytes = exif.tobytes() if len(exif) else None
    icc = image.info.get("icc_profile")
    mode = image.mode
    if mode == "P":   # palette: expand explicitly, keeping transparency as alpha
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode == "CMYK":
        image = image.convert("RGB")
    elif mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image).astype(np.int64)
        if array.min() < 0 or array.max() > 65535:
            raise ValueError(f"{mode} values outside 0..65535 are not supported")
        return ImageData(from_integers(array.astype(np.uint16)[..., None], 16), None, 16,
                         image_format, exif_bytes, icc)
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        raise ValueError(f"image mode {mode} is not supported")
    pixels, alpha = split_alpha(np.asarray(image))
    return ImageData(from_integers(pixels, 8), None if alpha is None else from_integers(alpha, 8),
                     8, image_format, exif_bytes, icc)


def load_image(path: str | os.PathLike) -> ImageData:
    """Decode an image file; corrupt, truncated, empty or non-image files raise :class:`ImageError`."""
    path = os.fspath(path)
    check_input_file(path, ImageError)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
        if magic in (b"II*\x00", b"MM\x00*"):
            return _load_tiff(path)
        if magic == b"\x89PNG" and _png_depth(path) == 16:
            return _load_png16(path)
        return _load_pillow(path)
    except ImageError as error:
        message = str(error)
        raise ImageError(message if message.startswith(path) else f"{path}: {message}") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError,
            png.Error, tifffile.TiffFileError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ImageError(f"{path}: not a readable image ({reason})") from None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` from the file's header, without decoding the pixels (as
    displayed: EXIF orientation applied); :class:`ImageError` if it is not readable."""
    path = os.fspath(path)
    check_input_file(path, ImageError)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                width, height = opened.size
                if opened.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8):
                    width, height = height, width
                return width, height
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError,
            ValueError, EOFError):   # e.g. float TIFF: decode it to know
        height, width = load_image(path).pixels.shape[:2]
        return width, height


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Pixels only (alpha dropped): float32 ``H x W x C`` in [0, 1]."""
    return load_image(path).pixels


def to_integers(values: np.ndarray, bit_depth: int, rows: int = 256) -> np.ndarray:
    """Round to integer levels in float64 (exact at 16 bits), a band of ``rows`` at a time:
    a float64 copy of a whole 24-MP photo would take 600 MB."""
    top = 2 ** bit_depth - 1
    values = np.asarray(values)
    out = np.empty(values.shape, np.uint8 if bit_depth == 8 else np.uint16)
    for start in range(0, values.shape[0], rows):
        band = values[start:start + rows].astype(np.float64) * top
        out[start:start + rows] = np.clip(np.round(band, out=band), 0, top, out=band)
    return out


def _write_tiff(path: str, array: np.ndarray, exif: bytes | None, icc: bytes | None) -> None:
    colour = array.shape[2] >= 3
    extra = {"extrasamples": ["unassalpha"]} if array.shape[2] in (2, 4) else {}
    text = []
    if exif:
        tags = Image.Exif()
        tags.load(exif)
        text = [(code, "s", 0, str(tags[code]), True) for code in _TIFF_TEXT_TAGS
                if isinstance(tags.get(code), str) and tags[code].isascii()]
    tifffile.imwrite(path, array[..., 0] if array.shape[2] == 1 else array,
                     photometric="rgb" if colour else "minisblack", iccprofile=icc or None,
                     extratags=text, metadata=None, software=False, **extra)


def _encode(path: str, image_format: str, array: np.ndarray, bit_depth: int,
            exif: bytes | None, icc: bytes | None, quality: int) -> None:
    if bit_depth == 32:
        _write_tiff(path, array.astype(np.float32), exif, icc)
        return
    ints = to_integers(array, bit_depth)
    if bit_depth == 16 and image_format == "PNG":
        height, width, planes = ints.shape
        writer = png.Writer(width, height, greyscale=planes in (1, 2), alpha=planes in (2, 4),
                            bitdepth=16)
        with open(path, "wb") as handle:
            writer.write(handle, ints.reshape(height, width * planes))
        if exif or icc:
            _add_png_metadata(path, exif, icc)
        return
    if image_format == "TIFF":   # any depth: the same metadata as 16-bit TIFF
        _write_tiff(path, ints, exif, icc)
        return
    image = Image.fromarray(ints[..., 0] if ints.shape[2] == 1 else ints)
    options: dict = {}
    if exif:
        options["exif"] = exif
    if icc:
        options["icc_profile"] = icc
    if image_format in ("JPEG", "WEBP"):
        options["quality"] = quality
    image.save(path, format=image_format, **options)


def save_image(path: str | os.PathLike, pixels: np.ndarray, *, alpha: np.ndarray | None = None,
               bit_depth: int = 8, exif: bytes | None = None, icc_profile: bytes | None = None,
               quality: int = 95) -> None:
    """Write ``H x W x C`` values in [0, 1] atomically (temporary file, then rename).

    The format comes from the extension. ``bit_depth`` is 8, 16 (PNG, TIFF) or 32 (float
    TIFF, values kept unclipped). EXIF and ICC data are written with every format but BMP;
    TIFF keeps the ICC profile and EXIF's descriptive text tags only.
    """
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    image_format = FORMATS.get(extension)
    if image_format is None:
        raise ImageError(f"{path}: unknown image extension {extension!r}; use one of "
                         f"{', '.join(sorted(FORMATS))}")
    if bit_depth not in _DEPTHS[image_format]:
        raise ImageError(f"{path}: {image_format} cannot hold {bit_depth}-bit data")
    array = np.asarray(pixels)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise ImageError(f"{path}: cannot write an array of shape {array.shape}")
    if alpha is not None:
        if image_format not in _ALPHA:
            raise ImageError(f"{path}: {image_format} cannot store the alpha channel")
        array = np.concatenate([array, np.asarray(alpha).reshape(*array.shape[:2], 1)], axis=2)
    try:
        with atomic_output(path, suffix=extension) as temporary:
            _encode(temporary, image_format, array, bit_depth, exif, icc_profile, quality)
    except (OSError, ValueError, KeyError, TypeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise ImageError(f"{path}: cannot write ({reason})") from None


def write_image(path: str | os.PathLike, array: np.ndarray, bit_depth: int = 8) -> None:
    """Shorthand for :func:`save_image` without alpha or metadata."""
    save_image(path, array, bit_depth=bit_depth)
