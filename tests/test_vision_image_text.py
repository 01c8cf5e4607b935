"""Image loading and image text translation: real OCR (RapidOCR's shipped models), real fonts,
a dict as the translator (the embedded model once, marked slow)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from pasar.apps.vision.image_text import (
    DEJAVU,
    LAYOUT,
    SARABUN,
    Box,
    font_for,
    missing_glyphs,
    read_text,
    render_translations,
    translate_image,
    translate_texts,
)
from pasar.data.translation import Glossary
from pasar.models.images import image_to_data_url, load_image

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
VITAMIN_LABEL = IMAGES / "aws_product_samples" / "B07GTFSCHB" / "844a1cce.jpg"
THAI = "น้ำส้มคั้นสด 100% ไม่เติมน้ำตาล ผลิตภัณฑ์ที่ดีที่สุด"
VIETNAMESE = "Nước ép cam tươi nguyên chất, không thêm đường. Sản phẩm tốt nhất"
TABLE = {"Fresh Orange Juice": "Jus Jeruk Segar", "No added sugar": "Tanpa gula tambahan"}


def _draw(lines: dict[tuple[int, int], str], size: tuple[int, int] = (900, 600)) -> Image.Image:
    img = Image.new("RGB", size, (250, 245, 230))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(DEJAVU), 44)
    for xy, text in lines.items():
        draw.text(xy, text, font=font, fill=(20, 20, 120))
    return img


@pytest.fixture(scope="module")
def label() -> Image.Image:
    return _draw({(60, 120): "Fresh Orange Juice", (60, 380): "No added sugar"})


def _jpeg(size: tuple[int, int] = (320, 240)) -> bytes:
    buffer = io.BytesIO()
    _draw({(10, 10): "Hi"}, size).save(buffer, format="JPEG")
    return buffer.getvalue()


# -- load_image ----------------------------------------------------------------------------------
def test_text_file_named_jpg_is_refused_with_name_and_formats(tmp_path: Path) -> None:
    fake = tmp_path / "photo.jpg"
    fake.write_text("not a picture at all")
    with pytest.raises(ValueError, match=r"photo\.jpg is not an image.*JPEG, PNG"):
        load_image(fake)


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    data = _jpeg()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.jpg is a truncated or corrupt JPEG"):
        load_image(cut)


def test_image_over_max_pixels_is_refused_before_decoding() -> None:
    with pytest.raises(ValueError, match=r"320x240 = 76,800 pixels, over the limit of 10,000"):
        load_image(_jpeg(), max_pixels=10_000)


def test_missing_path_is_a_value_error_and_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(FileNotFoundError):
        load_image(str(tmp_path / "nope.png"))


def test_data_url_round_trip_and_bad_data_urls(label: Image.Image) -> None:
    url = image_to_data_url(label)
    assert url.startswith("data:image/png;base64,")
    back = load_image(url)
    assert back.mode == "RGB" and back.size == label.size
    assert np.array_equal(np.asarray(back), np.asarray(label))
    with pytest.raises(ValueError, match="holds text/plain, not an image"):
        load_image("data:text/plain;base64,aGVsbG8=")
    with pytest.raises(ValueError, match="base64 data is invalid"):
        load_image("data:image/png;base64,***")


def test_bytes_and_transparency_become_rgb_on_white() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(buffer, format="PNG")
    img = load_image(buffer.getvalue())
    assert img.mode == "RGB" and img.getpixel((3, 3)) == (255, 255, 255)


# -- OCR -----------------------------------------------------------------------------------------
def test_ocr_reads_english_drawn_on_an_image(label: Image.Image) -> None:
    lines = read_text(label)
    assert [line.text for line in lines] == ["Fresh Orange Juice", "No added sugar"]
    assert all(line.confidence > 0.9 for line in lines)
    (x0, y0), _, (x1, y1), _ = lines[1].box
    assert 40 < x0 < 70 and 360 < y0 < 400 and x1 > 300 and 400 < y1 < 460


def test_ocr_reads_a_real_product_photo() -> None:
    texts = [line.text for line in read_text(load_image(VITAMIN_LABEL))]
    assert "Vitamin E 268 mg" in texts and "365 Capsules" in texts and "High Strength" in texts


def test_shipped_ocr_model_cannot_read_thai() -> None:
    # The docstring's claim: the recognizer's dictionary has no Thai characters.
    img = Image.new("RGB", (900, 200), "white")
    ImageDraw.Draw(img).text(
        (30, 60), "น้ำส้มคั้นสด", font=ImageFont.truetype(str(SARABUN), 60), fill="black"
    )
    read = "".join(line.text for line in read_text(img))
    assert not any("\u0e00" <= ch <= "\u0e7f" for ch in read)


# -- translation ---------------------------------------------------------------------------------
def test_translate_texts_protects_glossary_terms_and_skips_numbers() -> None:
    sent: list[str] = []

    def fake(text: str, target: str) -> str:
        sent.append(text)
        return text.replace("Apple juice", "Jus apel")

    glossary = Glossary({"Tropicana": {}})
    out = translate_texts(["Tropicana Apple juice", "100%", "Tropicana"], "id", fake, glossary)
    assert out == ["Tropicana Jus apel", "100%", "Tropicana"]
    assert sent == ["[T0] Apple juice"]  # the brand never reached the model


# -- rendering -----------------------------------------------------------------------------------
def _outside(size: tuple[int, int], boxes: list[Box], margin: int) -> np.ndarray:
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for box in boxes:
        xs, ys = [p[0] for p in box], [p[1] for p in box]
        draw.rectangle((min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin), 1)
    return np.asarray(mask) == 0


def test_render_replaces_text_inside_boxes_only(label: Image.Image) -> None:
    lines = read_text(label)
    boxes = [line.box for line in lines]
    out = render_translations(label, boxes, [TABLE[line.text] for line in lines])
    assert out.size == label.size
    before, after = np.asarray(label).astype(int), np.asarray(out).astype(int)
    outside = _outside(label.size, boxes, margin=3)
    assert np.array_equal(before[outside], after[outside])
    for box in boxes:
        (x0, y0), _, (x1, y1), _ = box
        region = (slice(int(y0), int(y1)), slice(int(x0), int(x1)))
        assert np.abs(before[region] - after[region]).sum(axis=2).astype(bool).mean() > 0.05
    assert [line.text for line in read_text(out)] == ["Jus Jeruk Segar", "Tanpa gula tambahan"]


def test_render_keeps_the_text_colour(label: Image.Image) -> None:
    lines = read_text(label)
    out = np.asarray(render_translations(label, [lines[0].box], ["Jus Jeruk Segar"]))
    (x0, y0), _, (x1, y1), _ = lines[0].box
    region = out[int(y0) : int(y1), int(x0) : int(x1)].reshape(-1, 3).astype(int)
    darkest = region[region.sum(axis=1).argmin()]
    assert darkest[2] > darkest[0] + 40  # dark blue, like the original ink


@pytest.mark.parametrize(("text", "font"), [(THAI, SARABUN), (VIETNAMESE, DEJAVU)])
def test_thai_and_vietnamese_have_every_glyph(text: str, font: Path) -> None:
    assert font_for(text) == font
    assert missing_glyphs(text, font) == set()
    assert missing_glyphs(THAI, DEJAVU)  # the check can fail: DejaVu has no Thai
    # Rendered, no character comes out as the font's missing-glyph box.
    face = ImageFont.truetype(str(font), 32, layout_engine=LAYOUT)
    notdef = np.asarray(face.getmask("\U000f0000"))
    for ch in set(text) - {" "}:
        if not ch.isspace() and not ch.isdigit():
            mask = np.asarray(face.getmask(ch))
            assert mask.shape != notdef.shape or not np.array_equal(mask, notdef), ch


@pytest.mark.parametrize("text", [THAI, VIETNAMESE])
def test_thai_and_vietnamese_render_inside_the_box(label: Image.Image, text: str) -> None:
    box = read_text(label)[0].box
    out = render_translations(label, [box], [text])
    assert out.size == label.size
    (x0, y0), _, (x1, y1), _ = box
    ink = np.asarray(out)[int(y0) : int(y1), int(x0) : int(x1)].sum(axis=2) < 300
    assert ink.mean() > 0.02  # the (wrapped, shrunk) translation is there


# -- end to end ----------------------------------------------------------------------------------
def test_translate_image_end_to_end(label: Image.Image, tmp_path: Path) -> None:
    source = tmp_path / "juice.png"
    label.save(source)
    result = translate_image(source, "id", lambda text, _: TABLE[text], out_dir=tmp_path / "out")
    assert result.translations == ["Jus Jeruk Segar", "Tanpa gula tambahan"]
    assert set(result.files) == {"before", "after", "report"}
    report = json.loads(result.files["report"].read_text(encoding="utf-8"))
    assert report["target_lang"] == "id" and report["size"] == [900, 600]
    assert [(line["text"], line["translation"]) for line in report["lines"]] == list(TABLE.items())
    assert all(len(line["box"]) == 4 and 0.9 < line["confidence"] <= 1 for line in report["lines"])
    after = load_image(result.files["after"])
    assert after.size == label.size
    assert [line.text for line in read_text(after)] == list(TABLE.values())


def test_translate_image_leaves_untranslated_lines_alone() -> None:
    img = _draw({(60, 120): "Fresh Orange Juice", (60, 380): "2024"})
    result = translate_image(img_bytes(img), "id", lambda text, _: TABLE[text])
    assert result.translations == ["Jus Jeruk Segar", None]
    outside = _outside(img.size, [result.lines[0].box], margin=3)
    assert np.array_equal(np.asarray(img)[outside], np.asarray(result.after)[outside])


def img_bytes(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_translate_image_with_the_embedded_model(label: Image.Image, tmp_path: Path) -> None:
    from pasar.models.registry import load_engine

    source = tmp_path / "juice.png"
    label.save(source)
    with load_engine("smollm2-135m-instruct") as engine:
        result = translate_image(source, "id", engine, out_dir=tmp_path)
    assert [line.text for line in result.lines] == list(TABLE)
    assert len(result.translations) == 2
    assert all(t is None or isinstance(t, str) for t in result.translations)
    assert result.after.size == label.size and result.files["report"].exists()
