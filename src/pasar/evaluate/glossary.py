"""How common product option values are written in each language, for checking titles.

Values not listed here (brands, sizes, capacities, model numbers, most technical terms) are
expected verbatim: marketplaces in the region keep them in English. Hand-written; extend as
catalogues need.
"""

from __future__ import annotations

# English value -> {language: accepted spellings}
OPTION_GLOSSARY: dict[str, dict[str, tuple[str, ...]]] = {
    "red": {
        "id": ("merah",),
        "ms": ("merah",),
        "vi": ("đỏ",),
        "th": ("แดง",),
        "tl": ("pula", "pulang"),
    },
    "blue": {
        "id": ("biru",),
        "ms": ("biru",),
        "vi": ("xanh dương", "xanh lam", "xanh"),
        "th": ("น้ำเงิน", "ฟ้า"),
        "tl": ("asul",),
    },
    "black": {"id": ("hitam",), "ms": ("hitam",), "vi": ("đen",), "th": ("ดำ",), "tl": ("itim",)},
    "white": {
        "id": ("putih",),
        "ms": ("putih",),
        "vi": ("trắng",),
        "th": ("ขาว",),
        "tl": ("puti", "puting"),
    },
    "green": {
        "id": ("hijau",),
        "ms": ("hijau",),
        "vi": ("xanh lá", "xanh"),
        "th": ("เขียว",),
        "tl": ("berde",),
    },
    "yellow": {
        "id": ("kuning",),
        "ms": ("kuning",),
        "vi": ("vàng",),
        "th": ("เหลือง",),
        "tl": ("dilaw",),
    },
    "purple": {
        "id": ("ungu",),
        "ms": ("ungu",),
        "vi": ("tím",),
        "th": ("ม่วง",),
        "tl": ("lila", "lilang"),
    },
    "pink": {
        "id": ("merah muda",),
        "ms": ("merah jambu",),
        "vi": ("hồng",),
        "th": ("ชมพู",),
        "tl": ("rosas",),
    },
    "brown": {
        "id": ("cokelat", "coklat"),
        "ms": ("coklat", "perang"),
        "vi": ("nâu",),
        "th": ("น้ำตาล",),
        "tl": ("kayumanggi",),
    },
    "gray": {
        "id": ("abu-abu",),
        "ms": ("kelabu",),
        "vi": ("xám",),
        "th": ("เทา",),
        "tl": ("abo", "kulay-abo"),
    },
    "grey": {
        "id": ("abu-abu",),
        "ms": ("kelabu",),
        "vi": ("xám",),
        "th": ("เทา",),
        "tl": ("abo", "kulay-abo"),
    },
    "silver": {
        "id": ("perak",),
        "ms": ("perak",),
        "vi": ("bạc",),
        "th": ("เงิน",),
        "tl": ("pilak",),
    },
    "gold": {"id": ("emas",), "ms": ("emas",), "vi": ("vàng",), "th": ("ทอง",), "tl": ("ginto",)},
    "beige": {"id": ("krem",), "ms": ("krim",), "vi": ("be",), "th": ("เบจ",), "tl": ("beige",)},
    "navy": {
        "id": ("biru dongker", "navy"),
        "ms": ("biru tua", "navy"),
        "vi": ("xanh navy", "xanh đậm"),
        "th": ("กรมท่า",),
        "tl": ("navy",),
    },
    "cotton": {
        "id": ("katun",),
        "ms": ("kapas", "kotton"),
        "vi": ("cotton", "vải bông"),
        "th": ("ฝ้าย", "คอตตอน"),
        "tl": ("koton",),
    },
    "leather": {
        "id": ("kulit",),
        "ms": ("kulit",),
        "vi": ("da",),
        "th": ("หนัง",),
        "tl": ("katad",),
    },
    "glass": {
        "id": ("kaca",),
        "ms": ("kaca",),
        "vi": ("thủy tinh",),
        "th": ("แก้ว",),
        "tl": ("salamin",),
    },
    "wood": {"id": ("kayu",), "ms": ("kayu",), "vi": ("gỗ",), "th": ("ไม้",), "tl": ("kahoy",)},
    "metal": {
        "id": ("logam", "besi"),
        "ms": ("logam",),
        "vi": ("kim loại",),
        "th": ("โลหะ",),
        "tl": ("metal",),
    },
    "plastic": {
        "id": ("plastik",),
        "ms": ("plastik",),
        "vi": ("nhựa",),
        "th": ("พลาสติก",),
        "tl": ("plastik",),
    },
    "ceramic": {
        "id": ("keramik",),
        "ms": ("seramik",),
        "vi": ("gốm", "sứ"),
        "th": ("เซรามิก",),
        "tl": ("seramik",),
    },
    "polyester": {
        "id": ("poliester",),
        "ms": ("poliester",),
        "vi": ("polyester",),
        "th": ("โพลีเอสเตอร์",),
        "tl": ("polyester",),
    },
    "stainless steel": {
        "id": ("baja tahan karat", "stainless"),
        "ms": ("keluli tahan karat",),
        "vi": ("thép không gỉ", "inox"),
        "th": ("สแตนเลส",),
        "tl": ("stainless",),
    },
    "large": {
        "id": ("besar",),
        "ms": ("besar",),
        "vi": ("lớn",),
        "th": ("ใหญ่",),
        "tl": ("malaki",),
    },
    "medium": {
        "id": ("sedang",),
        "ms": ("sederhana",),
        "vi": ("vừa", "trung bình"),
        "th": ("กลาง",),
        "tl": ("katamtaman",),
    },
    "small": {
        "id": ("kecil",),
        "ms": ("kecil",),
        "vi": ("nhỏ",),
        "th": ("เล็ก",),
        "tl": ("maliit",),
    },
}


def spellings(value: str, language: str) -> tuple[str, ...]:
    """Accepted ways to write an option value in a language (English always accepted)."""
    return (value, *OPTION_GLOSSARY.get(value.lower(), {}).get(language, ()))
