"""Every quality gate on hand-made pairs: a good translation passes, and each gate fails on the
pair made to break it (and only that gate is needed to catch it)."""

from __future__ import annotations

import pytest

from pasar.apps.listing.gates import Field, check_field, meaning_issues, numbers
from pasar.data.translation import model_numbers

EN = "Sony WH-1000XM4 Wireless Headphones, Black, 30 hours battery, 250 g"
ID = "Headphone Nirkabel Sony WH-1000XM4, Hitam, baterai tahan 30 jam, berat 250 g"
TH = "หูฟังไร้สาย Sony WH-1000XM4 สีดำ แบตเตอรี่ใช้งานได้ 30 ชั่วโมง น้ำหนัก 250 กรัม"
VI = "Tai nghe không dây Sony WH-1000XM4, màu đen, pin dùng được 30 giờ, nặng 250 g"


def spec(target: str, **kw) -> Field:
    return Field(source_lang="en", target_lang=target, brand="Sony", **kw)


def codes(source: str, output: str, field: Field) -> list[str]:
    return [issue.code for issue in check_field(source, output, field)]


@pytest.mark.parametrize(("target", "output"), [("id", ID), ("th", TH), ("vi", VI)])
def test_good_translations_pass(target: str, output: str) -> None:
    assert codes(EN, output, spec(target)) == []


@pytest.mark.parametrize(
    ("output", "target", "expected"),
    [
        ("   ", "id", "empty"),
        (EN, "th", "wrong_language"),  # the embedded model's usual answer: English back
        (ID.replace("30 jam", "20 jam"), "id", "number_changed"),
        (ID.replace("250 g", "250 kg"), "id", "unit_changed"),
        (ID.replace("WH-1000XM4", "WH-1000"), "id", "model_number_changed"),
        (ID.replace("Sony ", ""), "id", "brand_dropped"),
        (ID.replace("Sony", "Soni"), "id", "brand_altered"),
        (ID + " " + "baterai " * 4, "id", "repetition"),
        (
            "Headphone Sony WH-1000XM4 nirkabel, Black, 30 hours battery, 250 g",
            "id",
            "untranslated",
        ),
    ],
)
def test_each_gate_fails_on_its_bad_pair(output: str, target: str, expected: str) -> None:
    assert expected in codes(EN, output, spec(target))


def test_over_length() -> None:
    assert codes(EN, ID, spec("id", max_chars=40)) == ["over_length"]


def test_added_number_is_caught() -> None:
    found = check_field(EN, ID + ", 2 tahun garansi", spec("id"))
    assert [i.code for i in found] == ["number_changed"]
    assert "added ['2']" in found[0].detail


def test_size_dropped() -> None:
    source = "Cotton T-Shirt, size XL, blue"
    good = "Kaos katun, ukuran XL, warna biru"
    assert codes(source, good, Field("en", "id")) == []
    assert codes(source, "Kaos katun, ukuran besar, warna biru", Field("en", "id")) == [
        "size_changed"
    ]


def test_glossary_term_required() -> None:
    field = Field("en", "id", required_terms={"T-Shirt": "Kaos"})
    assert codes("T-Shirt, blue, cotton", "Kaos warna biru, bahan katun", field) == []
    assert "term_missing" in codes("T-Shirt, blue, cotton", "Baju warna biru, bahan katun", field)


def test_numbers_in_other_scripts_and_decimal_commas_are_the_same_number() -> None:
    assert numbers("๕๐๐ มล") == numbers("500 ml")
    source = "Electric kettle 1.5 L, glass"
    assert codes(source, "Ketel listrik 1,5 L, bahan kaca", Field("en", "id")) == []
    assert codes(source, "กาต้มน้ำไฟฟ้า ๑.๕ ลิตร ทำจากแก้ว", Field("en", "th")) == []


def test_model_numbers_are_not_numbers_with_units() -> None:
    assert model_numbers("ST1004 bag, 13-inch, 32GB, 2-piece, 1L, i7, WH-1000XM4") == {
        "ST1004",
        "i7",
        "WH-1000XM4",
    }


def test_bad_field_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown languages"):
        Field("en", "fr")
    with pytest.raises(ValueError, match="max_chars"):
        Field("en", "id", max_chars=0)


def test_meaning_gate_catches_text_that_says_something_else() -> None:
    english = "A shark attacked and injured a 13-year-old boy while he was diving for lobster."
    thai = "ฉลามโจมตีและทำร้ายเด็กชายอายุ 13 ปี ขณะที่เขากำลังดำน้ำจับกุ้งมังกร"
    gibberish = "Thai: กลงเลือกเล"  # the embedded model's answer: right script, no meaning
    unrelated = "ลดราคาพิเศษ 13 บาท สำหรับสมาชิกใหม่ทุกท่านในเดือนนี้"
    assert codes("Welsh AMs worried", gibberish, Field("en", "th")) == []  # cheap gates pass it
    good, *bad = meaning_issues([(english, thai), (english, gibberish), (english, unrelated)], 0.8)
    assert good is None
    assert [issue.code for issue in bad if issue] == ["meaning_lost", "meaning_lost"]
