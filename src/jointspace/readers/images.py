"""Images from files or bytes, validated and normalised to RGB.

Accepts JPEG, PNG, WebP, GIF (first frame), BMP and TIFF. EXIF orientation is applied; grey, palette,
CMYK and alpha images become RGB (transparency composited on white). Size limits are checked from
the header before any pixel is decoded, so a decompression bomb (a small file that claims 30000x30000
pixels) is refused without allocating it. Every failure is an ``ItemError`` naming the file.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.errors import ItemError
from jointspace.readers.files import checked_file

FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF"}
EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff"}
MAX_PIXELS = 64_000_000  # 8000 x 8000; Pillow's own bomb limit is ~89 M (a warning), 2x that an error
MAX_BYTES = 100 * 1024 * 1024

ImageInput = str | Path | bytes | Any  # a path, encoded bytes, a PIL image or an HxWx3 uint8 array


def _label(item: Any) -> str:
    if isinstance(item, str | Path):
        return str(item)
    if isinstance(item, bytes | bytearray):
        return f"<{len(item)} bytes>"
    return f"<{type(item).__name__}>"


def to_rgb(image: Any) -> Any:
    """A PIL image in RGB: palette/grey/CMYK converted, alpha composited on white."""
    from PIL import Image

    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = array.max() or 1.0
        image = Image.fromarray((array / top * 255).astype(np.uint8), mode="L")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        span = (array.max() - array.min()) or 1.0
        image = Image.fromarray(((array - array.min()) / span * 255).astype(np.uint8), mode="L")
    return image if image.mode == "RGB" else image.convert("RGB")


def load_image(item: ImageInput, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES,
               draft: int | None = None) -> Any:
    """An RGB PIL image from a path, bytes, PIL image or array; ``ItemError`` naming the item if unusable.

    ``draft``: a JPEG may be decoded at a reduced scale, no smaller than this on its shorter side
    (much faster for large photos that are resized anyway).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    label = _label(item)
    if isinstance(item, Image.Image):
        return to_rgb(item)
    if isinstance(item, np.ndarray):
        if item.ndim not in (2, 3) or item.size == 0:
            raise ItemError(label, f"array of shape {item.shape} is not an image")
        return to_rgb(Image.fromarray(np.ascontiguousarray(item).astype(np.uint8)))
    if isinstance(item, str | Path):
        source: Any = checked_file(item, label, max_bytes)
    elif isinstance(item, bytes | bytearray):
        if not item:
            raise ItemError(label, "empty image data")
        source = io.BytesIO(item)
    else:
        raise ItemError(label, f"expected an image path, bytes or image, got {type(item).__name__}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)  # reads the header only
            if image.format not in FORMATS:
                raise ItemError(label, f"unsupported image format {image.format}")
            width, height = image.size
            if width * height > max_pixels:
                raise ItemError(label, f"image of {width}x{height} pixels is over the limit of "
                                       f"{max_pixels:,} pixels (possible decompression bomb)")
            if width == 0 or height == 0:
                raise ItemError(label, f"image of {width}x{height} pixels is empty")
            if draft and image.format == "JPEG" and min(width, height) > 2 * draft:
                image.draft("RGB", (draft * width // min(width, height), draft * height // min(width, height)))
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)  # animated GIF/WebP, multi-page TIFF: the first frame
            image.load()
            image = ImageOps.exif_transpose(image) or image
            return to_rgb(image)
    except ItemError:
        raise
    except UnidentifiedImageError:
        raise ItemError(label, _not_an_image(item)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ItemError(label, f"decompression bomb refused ({exc})") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason or isinstance(exc, EOFError):
            reason = f"truncated or damaged image data ({reason})"
        raise ItemError(label, f"cannot decode image: {reason}") from None


def _not_an_image(item: Any) -> str:
    head = b""
    if isinstance(item, str | Path):
        with open(item, "rb") as fh:
            head = fh.read(512)
    elif isinstance(item, bytes | bytearray):
        head = bytes(item[:512])
    try:
        head.decode("utf-8")
        looks = "text" if head and b"\x00" not in head else "unknown binary data"
    except UnicodeDecodeError:
        looks = "unknown binary data"
    suffix = Path(item).suffix if isinstance(item, str | Path) else ""
    named = f" although named {suffix}" if suffix.lower() in EXTENSIONS else ""
    return f"not an image{named}: content is {looks}"


def resize_center_crop(image: Any, size: int = 224, crop_fraction: float = 0.875) -> np.ndarray:
    """Shorter side to ``size / crop_fraction`` (bicubic), centre crop ``size`` square: HxWx3 uint8."""
    from PIL import Image

    scale = size / crop_fraction / min(image.size)
    width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    left, top = (width - size) // 2, (height - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)
