"""A product catalog made from the real data in ../shared/data, for the listing app:

  * every variant of the retail store database (tau2-bench, MIT): the product type, its options
    (color, size, capacity...) as attributes, its price;
  * the Amazon Berkeley Objects samples (CC BY 4.0) that have English text: brand, model number,
    bullet points, photos.

Titles and descriptions of retail variants are composed from those fields the way a merchant
feed does ("T-Shirt - blue, M, cotton, crew neck"); the ABO bullets are the originals.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

Row = dict[str, Any]
TAGGED = re.compile(r"\{language_tag=([^,]*), value=(.*?)\}(?=, \{language_tag=|\]$)", re.DOTALL)


def retail_rows(db: dict[str, Any]) -> list[Row]:
    rows = []
    for product in sorted(db["products"].values(), key=lambda p: p["product_id"]):
        for variant in sorted(product["variants"].values(), key=lambda v: v["item_id"]):
            options = {k: str(v) for k, v in variant["options"].items()}
            listed = ", ".join(options.values())
            details = "; ".join(f"{k}: {v}" for k, v in options.items())
            rows.append(
                {
                    "id": variant["item_id"],
                    "title": f"{product['name']} - {listed}",
                    "description": f"{product['name']}. {details}.",
                    "bullet_points": [],
                    "attributes": options,
                    "category": product["name"],
                    "brand": options.get("brand", ""),
                    "price": f"{variant['price']:.2f}",
                    "image_paths": [],
                }
            )
    return rows


def _english(value: str) -> list[str]:
    return [text.strip() for tag, text in TAGGED.findall(value) if tag.startswith("en_")]


def _any(value: str) -> str:
    found = TAGGED.findall(value)
    return found[0][1].strip() if found else ""


def abo_rows(directory: Path) -> list[Row]:
    """ABO sample products with an English name (model name or style) and English bullets."""
    rows = []
    for folder in sorted(p for p in directory.iterdir() if (p / "metadata.txt").exists()):
        meta = ast.literal_eval((folder / "metadata.txt").read_text(encoding="utf-8"))
        name = (_english(meta["model_name"]) or _english(meta["style"]) or [""])[0]
        bullets = _english(meta["bullet_point"])
        if not name or not bullets:
            continue
        brand = (_english(meta["brand"]) or [_any(meta["brand"])])[0]
        model_number = _any(meta["model_number"])
        color = (_english(meta["color"]) or [""])[0]
        fabric = (_english(meta["fabric_type"]) or [""])[0]
        attributes = {
            k: v
            for k, v in {"color": color, "fabric": fabric, "model number": model_number}.items()
            if v
        }
        rows.append(
            {
                "id": folder.name,
                "title": " ".join(p for p in [brand, name, color, model_number] if p),
                "description": bullets[1] if len(bullets) > 1 else bullets[0],
                "bullet_points": bullets[2:6],
                "attributes": attributes,
                "category": name,
                "brand": brand,
                "price": "",
                "image_paths": sorted(str(p) for p in folder.glob("*.jpg")),
            }
        )
    return rows
