"""Catalog files: CSV, JSONL and Parquet round trips; malformed catalogs give clear errors;
the catalog built from the shared data; and `pasar listing check` on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA, invoke_pasar

from pasar.apps.listing.catalog import CatalogError, read_catalog, write_catalog
from pasar.apps.listing.check import check_catalog
from pasar.data.catalogs import abo_rows, retail_rows

ROWS = [
    {
        "id": "1",
        "title": "Starter Yoga Bag, Iron Grey, ST1004",
        "description": "A gym bag, 100% polyester.",
        "bullet_points": ["Lightweight, fast-drying", "Two mesh pockets"],
        "attributes": {"color": "Iron Grey", "fabric": "100% Polyester"},
        "category": "Yoga Bag",
        "brand": "Starter",
        "price": "19.99",
        "image_paths": ["a.jpg"],
        "title_th": "กระเป๋าโยคะ Starter สีเทา ST1004",
    },
    {
        "id": "2",
        "title": 'Kettle "1,5 L", glass',
        "description": "",
        "bullet_points": [],
        "attributes": {},
        "category": "Kettle",
        "brand": "",
        "price": "30.00",
        "image_paths": [],
        "title_th": "",
    },
]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"catalog{suffix}"
    assert write_catalog(ROWS, path) == 2
    assert read_catalog(path) == ROWS


def test_formats_convert_into_each_other(tmp_path: Path) -> None:
    write_catalog(ROWS, tmp_path / "a.csv")
    write_catalog(read_catalog(tmp_path / "a.csv"), tmp_path / "b.parquet")
    write_catalog(read_catalog(tmp_path / "b.parquet"), tmp_path / "c.jsonl")
    assert read_catalog(tmp_path / "c.jsonl") == ROWS


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"sku,title\n1,Bag\n", "no 'id' column"),
        (b"id,title\n1,Bag\n2,Cup\n1,Pen\n", "id '1' appears twice"),
        (b"id,title\n1,Bag\n,Cup\n", "row 2 has an empty id"),
        ("id,title\n1,Caf\u00e9 mug\n".encode("latin-1"), r"is not UTF-8 \(byte 0xe9"),
        (b"id,title\n", "has no rows"),
    ],
)
def test_malformed_catalogs_give_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CatalogError, match=message):
        read_catalog(path)


def test_bad_jsonl_line_and_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "1"}\n{"id": 2,\n')
    with pytest.raises(CatalogError, match="line 2 is not valid JSON"):
        read_catalog(path)
    with pytest.raises(CatalogError, match="name the file .csv, .jsonl or .parquet"):
        read_catalog(tmp_path / "catalog.xlsx")


def test_catalog_from_shared_data() -> None:
    db = json.loads((SHARED_DATA / "retail" / "db.json").read_text())
    retail = retail_rows(db)
    abo = abo_rows(SHARED_DATA / "images" / "aws_product_samples")
    assert len(retail) == 591 and len({r["id"] for r in retail}) == 591
    assert [r["id"] for r in abo] == ["B0799CK52K"]
    bag = abo[0]
    assert bag["brand"] == "Starter" and "ST1004" in bag["title"]
    assert len(bag["image_paths"]) == 5 and all(Path(p).exists() for p in bag["image_paths"])
    committed = read_catalog(Path("examples/listing/catalog.csv"))
    assert [r["id"] for r in committed] == [r["id"] for r in abo + retail]


def test_check_reports_reason_codes_and_the_command_exits_1(tmp_path: Path) -> None:
    good = {
        "id": "a",
        "title": "Starter Yoga Bag ST1004, 100% polyester",
        "brand": "Starter",
        "title_id": "Tas Yoga Starter ST1004, bahan 100% poliester",
        "title_th": "กระเป๋าโยคะ Starter ST1004 ผ้าโพลีเอสเตอร์ 100%",
    }
    bad = {**good, "id": "b", "title_th": "Starter Yoga Bag ST1004, 100% polyester"}
    report = check_catalog([good])
    assert report["passed"] == 1 and report["results"][0]["codes"] == []
    assert report["columns"] == ["title_id", "title_th"]

    write_catalog([good, bad], tmp_path / "bad.jsonl")
    failed = invoke_pasar(
        "listing", "check", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "b.json")
    )
    assert failed.returncode == 1
    assert "1 of 2 items pass" in failed.stdout
    report = json.loads((tmp_path / "b.json").read_text())
    by_id = {item["id"]: item for item in report["results"]}
    assert by_id["a"]["passed"]
    assert {"wrong_language", "untranslated"} <= set(by_id["b"]["codes"])
    assert report["by_column"]["title_th"]["failed"] == 1


def test_check_errors_are_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pasar.cli.main import app

    missing = CliRunner().invoke(app, ["listing", "check", str(tmp_path / "no.csv"), "--out", "x"])
    assert missing.exit_code == 2 and "does not exist" in " ".join(missing.output.split())
    (tmp_path / "plain.csv").write_text("id,title\n1,Bag\n")
    untranslated = CliRunner().invoke(
        app, ["listing", "check", str(tmp_path / "plain.csv"), "--out", "x"]
    )
    message = " ".join(untranslated.output.split())
    assert untranslated.exit_code == 2 and "no translation columns found" in message
