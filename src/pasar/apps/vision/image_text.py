"""Image text translation ("detail page translation"): read the text printed on a product image,
translate each line, and paint the translations over the originals.

    >>> result = translate_image("label.jpg", "id", out_dir=Path("out"))   # embedded model
    >>> result = translate_image("label.jpg", "th", lambda text, lang: table[text])  # any callable

Three steps, each usable alone: ``read_text`` (OCR), ``translate_texts``, ``render_translations``.

OCR is RapidOCR on onnxruntime with the models shipped inside the ``rapidocr`` wheel (passed by
path, so nothing is ever downloaded): PP-OCRv6 small detection, the PP-OCRv6 small multilingual
recognizer and the v2.0 mobile text-direction classifier. On 2 cores: ~1 s for a 900x600
image with a few lines, 0.6-2 s for a product photo, 6-9 s for a dense label (25-50 lines).
The recognizer's dictionary (18,708 symbols, read from the ONNX metadata) covers Chinese
(simplified and traditional), Japanese kana, Greek and Latin script with the accents of English,
Indonesian, Malay, Filipino and the European languages. It has **no Thai** (not one U+0E00-0E7F
character: Thai text is not read) and only part of Vietnamese: ă â đ ê ô ơ ư and single-accent
vowels (à á ã ...) are there, but 88 tone-stacked letters (ạ ả ấ ậ ế ệ ố ộ ớ ợ ụ ủ ứ ự ...) are
not, so Vietnamese comes out with wrong or missing tone marks.

Translations are drawn in DejaVu Sans (Latin, Vietnamese) or Sarabun (Thai; it covers Latin and
Vietnamese too), whichever covers every character, shaped by libraqm (HarfBuzz) when PIL has it
(``LAYOUT``) so Thai vowels and tone marks sit on their consonants.
"""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, cast

import cv2
import matplotlib
import numpy as np
import rapidocr
from fontpkg_sarabun import ROOT as SARABUN_DIR
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont, features
from rapidocr.utils.output import RapidOCROutput

from pasar.data.translation import (
    PLACEHOLDER,
    Glossary,
    load_glossary,
    protect,
    restore,
    translate_messages,
)
from pasar.errors import EngineUnavailableError
from pasar.models.engine import Engine
from pasar.models.images import load_image

Point = tuple[float, float]
Box = tuple[Point, Point, Point, Point]  # top-left, top-right, bottom-right, bottom-left
Translate = Callable[[str, str], str]  # (text, target language) -> translation

OCR_MODELS = Path(rapidocr.__file__).parent / "models"
OCR_MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
DEJAVU = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
SARABUN = Path(SARABUN_DIR) / "files" / "Sarabun-Regular.ttf"
FONTS = (DEJAVU, SARABUN)  # in order of preference; the first covering a text is used
# libraqm shapes complex scripts (Thai marks); PIL's basic layout places glyphs one by one.
LAYOUT = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
MIN_FONT_PX = 6


@dataclass(frozen=True)
class TextLine:
    """One line of text found in an image: its box (4 corners, pixels), text and confidence."""

    box: Box
    text: str
    confidence: float


@dataclass
class ImageTranslation:
    """What ``translate_image`` found and made; ``translations[i]`` is None for a line left as
    it was (below ``min_confidence``, or nothing to translate)."""

    lines: list[TextLine]
    translations: list[str | None]
    target_lang: str
    before: Image.Image
    after: Image.Image
    ocr_seconds: float
    files: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_lang": self.target_lang,
            "size": list(self.before.size),
            "ocr_seconds": round(self.ocr_seconds, 3),
            "layout": "raqm" if LAYOUT == ImageFont.Layout.RAQM else "basic",
            "lines": [
                {**asdict(line), "translation": translation}
                for line, translation in zip(self.lines, self.translations, strict=True)
            ],
            "files": {name: str(path) for name, path in self.files.items()},
        }


# -- OCR -----------------------------------------------------------------------------------------
@cache
def text_reader() -> rapidocr.RapidOCR:
    """RapidOCR on the models inside its wheel; loads them on first use (then cached)."""
    paths = {task: OCR_MODELS / name for task, name in OCR_MODEL_FILES.items()}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise EngineUnavailableError(
            f"RapidOCR's models are missing ({', '.join(missing)}): reinstall them with "
            "pip install --force-reinstall rapidocr"
        )
    params: dict[str, Any] = {f"{task}.model_path": str(p) for task, p in paths.items()}
    params["Global.log_level"] = "error"  # it warns on every image without text
    return rapidocr.RapidOCR(params=params)


def read_text(image: Image.Image) -> list[TextLine]:
    """The lines of text in ``image``, top to bottom, with their boxes and confidences."""
    result = text_reader()(image)
    if not isinstance(result, RapidOCROutput) or result.boxes is None or not result.txts:
        return []
    scores = result.scores or (1.0,) * len(result.txts)
    return [
        TextLine(_box(corners), text.strip(), round(float(score), 4))
        for corners, text, score in zip(result.boxes, result.txts, scores, strict=True)
    ]


def _box(corners: np.ndarray) -> Box:  # (4, 2)
    a, b, c, d = ((round(float(x), 1), round(float(y), 1)) for x, y in corners)
    return (a, b, c, d)


# -- translation ---------------------------------------------------------------------------------
def needs_translation(text: str) -> bool:
    """Lines with no letters ("100%", "268", "-") are kept as they are."""
    return any(ch.isalpha() for ch in text)


def translate_texts(
    texts: Sequence[str],
    target_lang: str,
    translate: Translate,
    glossary: Glossary | None = None,
) -> list[str]:
    """Each text through ``translate(text, target_lang)``, with glossary terms and model numbers
    hidden behind [T0]-style placeholders and put back afterwards. A text with no letters, or
    made only of protected terms, is not sent to ``translate``."""
    glossary = glossary or Glossary()
    out = []
    for text in texts:
        if not needs_translation(text):
            out.append(text)
            continue
        hidden, slots = protect(text, glossary.protected(text, target_lang, brand=None))
        if not needs_translation(PLACEHOLDER.sub("", hidden)):
            out.append(restore(hidden, slots))
            continue
        out.append(restore(translate(hidden, target_lang).strip(), slots))
    return out


def engine_translator(engine: Engine, source_lang: str = "en", max_tokens: int = 96) -> Translate:
    """A ``translate`` callable on a pasar engine, with the listing app's translation prompt;
    one line in, one line out (it stops at a newline)."""

    def translate(text: str, target_lang: str) -> str:
        messages = translate_messages(text, source_lang, target_lang, None)
        return engine.chat(messages, max_tokens=max_tokens, stop=["\n"]).text.strip()

    return translate


# -- rendering -----------------------------------------------------------------------------------
@cache
def font_charset(path: Path) -> frozenset[int]:
    """The code points ``path``'s font has a glyph for."""
    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap())


def missing_glyphs(text: str, font_path: Path) -> set[str]:
    """Characters of ``text`` (spaces and controls aside) the font would draw as a box."""
    charset = font_charset(font_path)
    return {
        ch
        for ch in unicodedata.normalize("NFC", text)
        if not ch.isspace() and unicodedata.category(ch)[0] != "C" and ord(ch) not in charset
    }


def font_for(text: str) -> Path:
    """The first of ``FONTS`` that covers every character of ``text`` (else the one that
    misses the fewest)."""
    return min(FONTS, key=lambda path: len(missing_glyphs(text, path)))


@cache
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size, layout_engine=LAYOUT)


def _pieces(word: str) -> list[str]:
    """``word`` split into characters with their combining marks (Thai vowels and tone marks,
    Vietnamese accents): the places a too-long word may be broken."""
    pieces: list[str] = []
    for ch in word:
        if pieces and unicodedata.category(ch) in ("Mn", "Mc"):
            pieces[-1] += ch
        else:
            pieces.append(ch)
    return pieces


def wrap_text(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Greedy wrap at spaces; a word wider than ``width`` (Thai has no spaces between words) is
    broken between characters."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for piece in _pieces(word) if font.getlength(word) > width else [word]:
            if line and font.getlength(line + piece) > width:
                lines.append(line)
                line = ""
            line += piece
    if line:
        lines.append(line)
    return lines


def fit_text(
    text: str, font_path: Path, width: float, height: float
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest font size (and its wrapped lines) at which ``text`` fits in width x height;
    the smallest size, wrapped, when nothing fits."""
    size = max(MIN_FONT_PX, int(height * 0.8))
    while True:
        font = _font(font_path, size)
        lines = wrap_text(text, font, width)
        ascent, descent = font.getmetrics()
        fits_height = len(lines) * (ascent + descent) <= height or len(lines) == 1
        fits_width = all(font.getlength(line) <= width for line in lines)
        if (fits_height and fits_width and size <= height) or size <= MIN_FONT_PX:
            return font, lines
        size -= 1


def _box_mask(size: tuple[int, int], boxes: Sequence[Box], grow: int = 0) -> np.ndarray:
    """(H, W) uint8, 255 inside any of ``boxes`` (grown by ``grow`` pixels all round)."""
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for box in boxes:
        draw.polygon(box, fill=255, outline=255, width=2 * grow + 1 if grow else 0)
    return np.asarray(mask)


def erase_boxes(pixels: np.ndarray, boxes: Sequence[Box], keep: Sequence[Box] = ()) -> np.ndarray:
    """(H, W, 3) ``pixels`` with every box painted over from its surroundings (OpenCV's Telea
    inpainting; a plain fill would leave a flat patch on a gradient). Text in ``keep`` boxes
    stays, except where one overlaps an erased box; it is inpainted with them, so that no
    erased box takes colour from its neighbour's letters."""
    size = (pixels.shape[1], pixels.shape[0])
    erase = _box_mask(size, boxes, grow=1)
    touching = [box for box in keep if (_box_mask(size, [box], grow=1) & erase).any()]
    kept = (_box_mask(size, touching) > 0) & (erase == 0)  # (H, W)
    out = cv2.inpaint(
        np.ascontiguousarray(pixels), erase | _box_mask(size, touching), 3, cv2.INPAINT_TELEA
    )
    out[kept] = pixels[kept]
    return out


def text_colour(original: np.ndarray, erased: np.ndarray) -> tuple[int, int, int]:
    """The colour of the text in a box, from its (N, 3) pixels before and after erasing: the
    median of the pixels that changed most; black or white (whichever stands out) when the
    text cannot be told apart from the background."""
    background = np.median(erased, axis=0) if len(erased) else np.full(3, 255.0)
    change = np.linalg.norm(original.astype(float) - erased.astype(float), axis=1)  # (N,)
    if len(change) and change.max() > 80:
        ink = np.median(original[change >= 0.7 * change.max()], axis=0)
    else:
        luminance = float(background @ np.array([0.299, 0.587, 0.114]))
        ink = np.zeros(3) if luminance > 128 else np.full(3, 255.0)
    return (int(ink[0]), int(ink[1]), int(ink[2]))


def _geometry(box: Box) -> tuple[float, float, float, tuple[float, float]]:
    """(width, height, angle in degrees, centre) of a 4-corner box."""
    corners = np.array(box, dtype=float)  # (4, 2)
    top, side = corners[1] - corners[0], corners[3] - corners[0]
    angle = float(np.degrees(np.arctan2(top[1], top[0])))
    centre = corners.mean(axis=0)
    return (
        float(np.hypot(*top)),
        float(np.hypot(*side)),
        angle,
        (float(centre[0]), float(centre[1])),
    )


def _text_tile(text: str, width: float, height: float, ink: tuple[int, int, int]) -> Image.Image:
    """An RGBA tile of width x height with ``text`` fitted and centred, transparent around it."""
    text = unicodedata.normalize("NFC", " ".join(text.split()))
    pad = max(1.0, height * 0.08)
    font, lines = fit_text(text, font_for(text), width - 2 * pad, height - 2 * pad)
    tile = Image.new("RGBA", (max(1, round(width)), max(1, round(height))), (*ink, 0))
    draw = ImageDraw.Draw(tile)
    ascent, descent = font.getmetrics()
    line_height = ascent + descent
    top = (tile.height - line_height * len(lines)) / 2
    for i, line in enumerate(lines):
        y = top + i * line_height + ascent
        draw.text((tile.width / 2, y), line, font=font, fill=(*ink, 255), anchor="ms")
    return tile


def render_translations(
    image: Image.Image,
    boxes: Sequence[Box],
    translations: Sequence[str],
    *,
    keep: Sequence[Box] = (),
) -> Image.Image:
    """A copy of ``image`` (same size) where each box is erased (inpainted from around it) and
    its translation drawn inside it, in the original text's colour, as large as fits. ``keep``:
    boxes of text left as it is (see ``erase_boxes``)."""
    if len(boxes) != len(translations):
        raise ValueError(f"{len(boxes)} boxes but {len(translations)} translations: give one each")
    pixels = np.asarray(image.convert("RGB"))  # (H, W, 3)
    erased = erase_boxes(pixels, boxes, keep)
    size = (pixels.shape[1], pixels.shape[0])
    inks = []
    for box in boxes:
        inside = _box_mask(size, [box]) > 0  # (H, W)
        inks.append(text_colour(pixels[inside], erased[inside]))
    out = Image.fromarray(erased)
    for box, text, ink in zip(boxes, translations, inks, strict=True):
        if not text.strip():
            continue
        width, height, angle, (cx, cy) = _geometry(box)
        if width < 2 or height < 2:
            continue
        tile = _text_tile(text, width, height, ink)
        if abs(angle) > 0.5:
            tile = tile.rotate(-angle, resample=Image.Resampling.BICUBIC, expand=True)
        out.paste(tile, (round(cx - tile.width / 2), round(cy - tile.height / 2)), tile)
    return out


# -- the whole thing -----------------------------------------------------------------------------
def translate_image(
    source: str | Path | bytes,
    target_lang: str,
    translate: Translate | Engine | None = None,
    *,
    glossary: Glossary | Path | None = None,
    out_dir: Path | None = None,
    min_confidence: float = 0.8,
) -> ImageTranslation:
    """OCR ``source``, translate every line read with at least ``min_confidence`` into
    ``target_lang`` and paint the translations over the image. ``translate`` is a callable
    ``(text, target_lang) -> str``, a pasar engine, or None for the default model. With
    ``out_dir``, writes ``<name>.png`` (before), ``<name>.<lang>.png`` (after) and
    ``<name>.<lang>.json`` (boxes, text, confidence, translation)."""
    if not 0 <= min_confidence <= 1:
        raise ValueError(f"min_confidence={min_confidence}: must be between 0 and 1")
    if translate is None or hasattr(translate, "chat"):  # an engine (recorded or not)
        from pasar.models.registry import load_engine

        translate = engine_translator(cast(Engine, translate) or load_engine())
    if not isinstance(glossary, Glossary):
        glossary = load_glossary(glossary)
    before = load_image(source)
    started = time.perf_counter()
    lines = read_text(before)
    ocr_seconds = time.perf_counter() - started
    chosen = [i for i, line in enumerate(lines) if line.confidence >= min_confidence]
    translated = translate_texts([lines[i].text for i in chosen], target_lang, translate, glossary)
    translations: list[str | None] = [None] * len(lines)
    for i, text in zip(chosen, translated, strict=True):
        if text.strip() and text != lines[i].text:
            translations[i] = text
    changed = [i for i, text in enumerate(translations) if text is not None]
    after = render_translations(
        before,
        [lines[i].box for i in changed],
        [translations[i] or "" for i in changed],
        keep=[line.box for i, line in enumerate(lines) if translations[i] is None],
    )
    result = ImageTranslation(lines, translations, target_lang, before, after, ocr_seconds)
    if out_dir is not None:
        result.files = write_result(result, out_dir, _name(source))
    return result


def _name(source: str | Path | bytes) -> str:
    if isinstance(source, bytes) or (isinstance(source, str) and source.startswith("data:")):
        return "image"
    return Path(source).stem


def write_result(result: ImageTranslation, out_dir: Path, name: str) -> dict[str, Path]:
    """Write the before/after PNGs and the JSON report; returns their paths by role."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "before": out_dir / f"{name}.png",
        "after": out_dir / f"{name}.{result.target_lang}.png",
        "report": out_dir / f"{name}.{result.target_lang}.json",
    }
    result.before.save(files["before"])
    result.after.save(files["after"])
    result.files = files
    files["report"].write_text(
        json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return files
