"""Loading the images users give us (a path, raw bytes or a ``data:image/...;base64,`` URL) into
an upright RGB ``PIL.Image``, with errors that say what was wrong and what to do.

    >>> img = load_image("photo.jpg")            # or load_image(raw_bytes), load_image(data_url)
    >>> url = image_to_data_url(img)             # "data:image/png;base64,..."

The pixel limit is checked from the header, before the pixels are decoded, so a decompression
bomb (a small file that decodes to gigabytes) is refused without being decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from pasar.errors import MissingInputError, PasarError

MAX_PIXELS = 40_000_000  # 40 MP: larger than any phone photo, far below a bomb's gigapixels
SUPPORTED_FORMATS = "JPEG, PNG, WebP, GIF, BMP or TIFF"
DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*),(?P<data>.*)$", re.S
)


class ImageInputError(PasarError, ValueError):
    """An image that cannot be used: not an image, corrupt or truncated, or too large."""


class MissingImageError(MissingInputError, ValueError):
    """An image path that does not exist (a ``ValueError`` too, like every bad image input)."""


def data_url_bytes(url: str) -> bytes:
    match = DATA_URL.match(url)
    if not match:
        raise ImageInputError(
            f"a data URL must look like data:image/png;base64,<data>; got {url[:40]!r}..."
        )
    mime = match["mime"] or "text/plain"
    if not mime.startswith("image/"):
        raise ImageInputError(
            f"the data URL holds {mime}, not an image: send data:image/png;base64,... "
            f"or data:image/jpeg;base64,... ({SUPPORTED_FORMATS})"
        )
    if ";base64" not in match["params"]:
        raise ImageInputError(
            f"the data URL ({mime}) is not base64-encoded: "
            f"write it as data:{mime};base64,<base64 data>"
        )
    try:
        return base64.b64decode("".join(match["data"].split()), validate=True)
    except binascii.Error as exc:
        raise ImageInputError(
            f"the data URL's base64 data is invalid ({exc}): encode the file again"
        ) from exc


def _read_source(source: str | Path | bytes) -> tuple[bytes, str]:
    """The raw bytes and a name for messages ("photo.jpg", "the given bytes", "the data URL")."""
    if isinstance(source, bytes | bytearray):
        return bytes(source), "the given bytes"
    if isinstance(source, str) and source.startswith("data:"):
        return data_url_bytes(source), "the data URL"
    path = Path(source)
    if not path.exists():
        raise MissingImageError(f"image {path} does not exist: check the path")
    if path.is_dir():
        raise ImageInputError(f"{path} is a folder: give the path of one image file")
    return path.read_bytes(), str(path)


def load_image(source: str | Path | bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode ``source`` (a path, raw bytes or a ``data:image/...;base64,`` URL) into an RGB
    image, turned upright by its EXIF orientation; transparency becomes white. The first frame
    of an animation is taken. Raises ``ValueError`` (``ImageInputError``, or
    ``MissingImageError`` for a path that does not exist) for anything that is not a whole
    image of at most ``max_pixels`` pixels."""
    if max_pixels <= 0:
        raise ValueError(f"max_pixels={max_pixels}: must be > 0")
    data, name = _read_source(source)
    if not data:
        raise ImageInputError(f"{name} is empty (0 bytes): give a {SUPPORTED_FORMATS} image")
    try:
        with warnings.catch_warnings():
            # we check the size ourselves below; PIL's own bomb check only warns at this size
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ImageInputError(
            f"{name} is not an image PIL can read ({len(data)} bytes, starts with "
            f"{data[:8]!r}): give a {SUPPORTED_FORMATS} file"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageInputError(
            f"{name} is too large to decode safely ({exc}): the limit is {max_pixels:,} "
            "pixels; resize it first"
        ) from exc
    width, height = img.size
    if width * height > max_pixels:
        raise ImageInputError(
            f"{name} is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,} (a possible decompression bomb): resize it first, or raise "
            "max_pixels if you trust the file"
        )
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:  # PIL reports corrupt data as any of these
        raise ImageInputError(
            f"{name} is a truncated or corrupt {img.format or 'image'} file ({exc}): "
            "download or export it again"
        ) from exc
    return _to_rgb(ImageOps.exif_transpose(img) or img)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")


def image_to_data_url(img: Image.Image, *, image_format: str = "PNG") -> str:
    """``img`` encoded as a ``data:image/<format>;base64,`` URL (PNG: lossless)."""
    buffer = io.BytesIO()
    image_format = "JPEG" if image_format.upper() == "JPG" else image_format.upper()
    if image_format == "JPEG" and img.mode != "RGB":
        img = img.convert("RGB")
    img.save(buffer, format=image_format)
    mime = image_format.lower()
    return f"data:image/{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"
