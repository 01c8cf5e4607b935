"""The gates alone, on translations a catalog already has: columns ``title_<lang>``,
``description_<lang>`` and ``bullet_points_<lang>`` (any subset, any of pasar's languages)
are checked against ``title``, ``description`` and ``bullet_points``; a ``brand`` column, when
present, is protected, and so are glossary terms."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tqdm import tqdm

from pasar.apps.listing.gates import Field, check_field, meaning_issues
from pasar.data.translation import Glossary
from pasar.languages import LANGUAGES, check_languages

Row = dict[str, Any]
CHECKED = ("title", "description", "bullet_points")


def translated_columns(columns: list[str], source_lang: str) -> list[tuple[str, str]]:
    """(field, language) for every translation column present."""
    return [
        (name, lang)
        for name in CHECKED
        for lang in LANGUAGES
        if lang != source_lang and f"{name}_{lang}" in columns
    ]


def _pairs(source: Any, output: Any) -> list[tuple[str, str]]:
    if isinstance(source, list) or isinstance(output, list):
        sources = source if isinstance(source, list) else []
        outputs = output if isinstance(output, list) else []
        if len(sources) != len(outputs):
            return [(" ".join(map(str, sources)), " ".join(map(str, outputs)))]
        return list(zip(map(str, sources), map(str, outputs), strict=True))
    return [(str(source or ""), str(output or ""))]


def check_item(
    row: Row,
    columns: list[tuple[str, str]],
    *,
    source_lang: str,
    glossary: Glossary,
    title_chars: int,
    description_chars: int,
    meaning_threshold: float,
) -> Row:
    fields: dict[str, list[dict[str, str]]] = {}
    unflagged: list[tuple[str, str, str]] = []  # (column, source, output) that passed so far
    for name, lang in columns:
        source = row.get(name)
        if not source:
            continue
        issues = []
        for src, out in _pairs(source, row.get(f"{name}_{lang}")):
            spec = Field(
                source_lang=source_lang,
                target_lang=lang,
                max_chars=title_chars if name == "title" else description_chars,
                brand=str(row["brand"]) if row.get("brand") else None,
                required_terms=glossary.required(src, lang),
                max_word_repeats=2 if name == "title" else 4,
            )
            found = check_field(src, out, spec)
            issues += [i.to_dict() for i in found]
            if not found:
                unflagged.append((f"{name}_{lang}", src, out))
        fields[f"{name}_{lang}"] = issues
    if meaning_threshold > 0:
        pairs = [(src, out) for _, src, out in unflagged]
        for (column, _, _), issue in zip(
            unflagged, meaning_issues(pairs, meaning_threshold), strict=True
        ):
            if issue:
                fields[column].append(issue.to_dict())
    failed = sorted({i["code"] for issues in fields.values() for i in issues})
    return {"id": row["id"], "passed": not failed, "codes": failed, "fields": fields}


def check_catalog(
    rows: list[Row],
    *,
    source_lang: str = "en",
    glossary: Glossary | None = None,
    title_chars: int = 150,
    description_chars: int = 2000,
    meaning_threshold: float = 0.8,
    progress: bool = False,
) -> dict[str, Any]:
    """A report: one entry per item with its reason codes, and counts."""
    check_languages((source_lang,))
    names = list(dict.fromkeys(k for row in rows for k in row))
    columns = translated_columns(names, source_lang)
    if not columns:
        raise ValueError(
            "no translation columns found: name them title_<lang>, description_<lang> or "
            f"bullet_points_<lang> with <lang> one of {', '.join(LANGUAGES)}"
        )
    items = [
        check_item(
            row,
            columns,
            source_lang=source_lang,
            glossary=glossary or Glossary(),
            title_chars=title_chars,
            description_chars=description_chars,
            meaning_threshold=meaning_threshold,
        )
        for row in tqdm(rows, unit="item", disable=not progress, dynamic_ncols=True)
    ]
    codes = Counter(code for item in items for code in item["codes"])
    by_column = {}
    for name, lang in columns:
        column = f"{name}_{lang}"
        found = [item["fields"][column] for item in items if column in item["fields"]]
        by_column[column] = {
            "checked": len(found),
            "failed": sum(bool(issues) for issues in found),
            "reason_codes": dict(
                Counter(code for issues in found for code in {i["code"] for i in issues})
            ),
        }
    return {
        "source_lang": source_lang,
        "columns": [f"{name}_{lang}" for name, lang in columns],
        "items": len(items),
        "passed": sum(item["passed"] for item in items),
        "failed": sum(not item["passed"] for item in items),
        "reason_codes": dict(codes.most_common()),
        "by_column": by_column,
        "results": items,
    }
