"""Product photos as captioning examples, split by product.

    examples = load_examples(Path("../shared/data/images"))
    train, heldout = split_by_product(examples)

Two layouts under ``../shared/data/images`` are read, and a JSONL manifest for a team's own
photos:

- ``grocery_iconic/``: ``classes.csv`` (class, coarse class) and per class an iconic photo with
  ``<Class>_Description.txt`` (81 products: fruit, vegetables, packages; MIT, Klasson et al.).
- ``aws_product_samples/<ASIN>/*.jpg`` with a ``metadata.txt`` (brand, colour, material, style…;
  3 products, 12 photos; Amazon Berkeley Objects, CC BY 4.0).
- ``*.jsonl``: one ``{"image": path, "product_id", "title", "attributes": {...}}`` per line,
  image paths relative to the file.

This is small data (93 photos of 84 products): enough to check that the pipeline learns and to
compare connectors on held-out products, far too little for a captioner that generalises.

The caption target is the title on the first line, then one ``key: value`` line per attribute,
so that ``parse_caption`` can turn a generated caption back into attributes.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GROCERY = "grocery_iconic"
AWS = "aws_product_samples"
AWS_ATTRIBUTES = ("color", "material", "fabric_type", "finish_type", "style")
# "[{language_tag=en_US, value=Iron Grey}, ...]": the value of each language-tagged entry
TAGGED_VALUE = re.compile(r"\{language_tag=(?P<lang>[\w-]+), value=(?P<value>[^}]*)\}")


@dataclass(frozen=True)
class ProductImage:
    image: Path
    product_id: str
    category: str  # e.g. "Fruit", or the product type for catalog photos
    coarse_category: str  # e.g. "Apple"
    title: str
    attributes: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def caption(self) -> str:
        """The training target: the title, then ``key: value`` lines."""
        return caption_text(self.title, self.attributes)


def caption_text(title: str, attributes: dict[str, str]) -> str:
    return "\n".join([title, *(f"{key}: {value}" for key, value in attributes.items())])


def parse_caption(text: str) -> tuple[str, dict[str, str]]:
    """(title, attributes) of a generated caption: lines ``key: value`` after the first."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "", {}
    attributes = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip() and value.strip():
            attributes[key.strip()] = value.strip()
    return lines[0], attributes


# What `pasar vision caption` prints: the caption's title and attributes, the common ones named.
CAPTION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "pasar vision caption",
    "type": "object",
    "properties": {
        "title": {"type": "string", "description": "the caption's first line"},
        "category": {"type": ["string", "null"], "description": "e.g. 'Fruit / Apple'"},
        "colour": {"type": ["string", "null"], "description": "the colour (or color) attribute"},
        "material": {"type": ["string", "null"]},
        "visible_text": {
            "type": "array",
            "items": {"type": "string"},
            "description": "text printed on the product, one line per item (OCR)",
        },
        "attributes": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "every `key: value` line of the caption",
        },
    },
    "required": ["title", "category", "colour", "material", "visible_text", "attributes"],
}


def caption_record(text: str, visible_text: list[str] | None = None) -> dict[str, Any]:
    """A generated caption as a ``CAPTION_SCHEMA`` record; ``visible_text`` from OCR."""
    title, attributes = parse_caption(text)
    return {
        "title": title,
        "category": attributes.get("category"),
        "colour": attributes.get("colour") or attributes.get("color"),
        "material": attributes.get("material"),
        "visible_text": list(visible_text or []),
        "attributes": attributes,
    }


def _grocery_examples(root: Path) -> list[ProductImage]:
    examples = []
    with (root / "classes.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            # paths in the CSV start with /iconic-images-and-descriptions/, the folder's old name
            relative = Path(*Path(row["Iconic Image Path (str)"]).parts[2:])
            description_path = Path(*Path(row["Product Description Path (str)"]).parts[2:])
            name = row["Class Name (str)"].replace("-", " ")
            coarse = row["Coarse Class Name (str)"].replace("-", " ")
            top = relative.parts[0]  # Fruit, Vegetables or Packages
            description_file = root / description_path
            description = description_file.read_text().strip() if description_file.exists() else ""
            title = name if coarse.lower() in name.lower() else f"{name} {coarse.lower()}"
            examples.append(
                ProductImage(
                    image=root / relative,
                    product_id=f"grocery:{row['Class Name (str)']}",
                    category=top,
                    coarse_category=coarse,
                    title=title,
                    attributes={"category": f"{top} / {coarse}"},
                    description=description,
                )
            )
    return examples


def tagged_values(field_text: str, prefer: str = "en") -> list[str]:
    """The values of an ABO ``[{language_tag=…, value=…}]`` field, English ones first."""
    pairs = [(m["lang"], m["value"].strip()) for m in TAGGED_VALUE.finditer(field_text)]
    english = [v for lang, v in pairs if lang.startswith(prefer)]
    return english or [v for _, v in pairs]


def _aws_examples(root: Path) -> list[ProductImage]:
    examples = []
    for product in sorted(p for p in root.iterdir() if p.is_dir()):
        metadata_file = product / "metadata.txt"
        if not metadata_file.exists():
            continue
        metadata = ast.literal_eval(metadata_file.read_text())  # a Python dict literal
        first = {key: (tagged_values(str(metadata.get(key, ""))) or [""])[0] for key in metadata}
        brand, name = first.get("brand", ""), first.get("model_name") or first.get("style", "")
        attributes = {"brand": brand} if brand else {}
        attributes |= {key: first[key] for key in AWS_ATTRIBUTES if first.get(key)}
        bullets = tagged_values(str(metadata.get("bullet_point", "")))
        for image in sorted(product.glob("*.jpg")):
            examples.append(
                ProductImage(
                    image=image,
                    product_id=f"abo:{product.name}",
                    category="catalog",
                    coarse_category=first.get("style", "") or "product",
                    title=" ".join(part for part in (brand, name) if part) or product.name,
                    attributes=attributes,
                    description=" ".join(bullets[:2]),
                )
            )
    return examples


def _manifest_examples(path: Path) -> list[ProductImage]:
    examples = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if "image" not in row or "title" not in row:
            raise ValueError(f"{path}:{number} needs at least 'image' and 'title'; got {row}")
        image = Path(row["image"])
        examples.append(
            ProductImage(
                image=image if image.is_absolute() else path.parent / image,
                product_id=str(row.get("product_id", row["image"])),
                category=str(row.get("category", "")),
                coarse_category=str(row.get("coarse_category", "")),
                title=str(row["title"]),
                attributes={str(k): str(v) for k, v in row.get("attributes", {}).items()},
                description=str(row.get("description", "")),
            )
        )
    return examples


def load_examples(source: Path) -> list[ProductImage]:
    """Every photo under ``source`` (the shared images folder, or either of its two folders), or
    in a JSONL manifest."""
    if source.is_file() and source.suffix == ".jsonl":
        examples = _manifest_examples(source)
    else:
        examples = []
        for root in (source, source / GROCERY):
            if (root / "classes.csv").is_file():
                examples += _grocery_examples(root)
        for root in (source, source / AWS):
            if root.is_dir() and any(root.glob("*/metadata.txt")):
                examples += _aws_examples(root)
    if not examples:
        raise ValueError(
            f"no product photos found in {source}: give ../shared/data/images (grocery_iconic/ "
            "with classes.csv, aws_product_samples/<ASIN>/metadata.txt) or a .jsonl manifest"
        )
    missing = [str(e.image) for e in examples if not e.image.is_file()]
    if missing:
        raise ValueError(f"{len(missing)} photo(s) listed but missing, e.g. {missing[0]}")
    return examples


def is_heldout(product_id: str, heldout_percent: int = 20) -> bool:
    """Whether a product is held out: a hash of its id, so the split never changes when
    products are added, and all photos of one product fall on the same side."""
    digest = hashlib.sha256(product_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < heldout_percent


def split_by_product(
    examples: list[ProductImage], heldout_percent: int = 20
) -> tuple[list[ProductImage], list[ProductImage]]:
    """(train, heldout): held-out products are never trained on."""
    if not 0 <= heldout_percent < 100:
        raise ValueError(f"heldout_percent must be in [0, 100), not {heldout_percent}")
    heldout = [e for e in examples if is_heldout(e.product_id, heldout_percent)]
    train = [e for e in examples if not is_heldout(e.product_id, heldout_percent)]
    return train, heldout
