"""Localize a batch of catalog items: rewrite the title for search, translate every field into
every target language, check each translation, retry the failures with the gates' feedback, and
flag what still fails. A flagged field is left empty in the output (``status_<lang>`` says
``flagged``, ``issues_<lang>`` why); its rejected text is only in the report.

``Localizer`` is the batch function the pipelines run: rows in, one result per row out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pasar.apps.listing.gates import Field, Issue, check_field, meaning_issues
from pasar.apps.listing.memory import TranslationMemory
from pasar.apps.listing.prompts import (
    MAX_BULLETS,
    rewrite_messages,
    rewrite_schema,
    with_feedback,
)
from pasar.data.translation import (
    Glossary,
    load_glossary,
    protect,
    restore,
    translate_messages,
)
from pasar.languages import check_languages
from pasar.models.engine import Engine
from pasar.models.types import Message

Row = dict[str, Any]


@dataclass(frozen=True)
class LocalizeConfig:
    targets: tuple[str, ...]
    source_lang: str = "en"
    model: str | None = None  # any pasar model name; None = the configured default
    model_engine: str | None = None  # llamacpp, hf or http; None = the model's own
    glossary: Path | None = None  # CSV or JSON of protected terms (see glossary.py)
    rewrite: bool = True  # rewrite the source title and bullets for search first
    retries: int = 1  # new attempts with the gates' feedback before a field is flagged
    title_chars: int = 150  # marketplace title limit
    description_chars: int = 2000
    fuzzy: bool = True  # fuzzy translation memory (multilingual-e5-small embeddings)
    fuzzy_threshold: float = 0.9  # cosine similarity for a fuzzy match
    meaning_threshold: float = 0.8  # minimum source-output similarity (0 = no meaning gate)
    max_tokens: int = 256  # longest model answer for a description (or the rewrite)
    short_tokens: int = 96  # longest model answer for a title or a bullet point
    record: bool = False  # record every model answer in the configured store's interaction log

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("give at least one target language (--to id,th,...)")
        check_languages((self.source_lang, *self.targets))
        if self.source_lang in self.targets:
            raise ValueError(f"{self.source_lang} is the source language; drop it from --to")
        if self.retries < 0:
            raise ValueError(f"retries={self.retries}: must be >= 0")


@dataclass
class Job:
    """One field of one item into one language, and what happened to it."""

    item_id: str
    name: str  # title, description, bullet_points.0 ...
    target: str
    source: str
    spec: Field
    slots: dict[str, str] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    output: str = ""
    raw: str = ""  # the model's answer before placeholders were put back
    issues: list[Issue] = field(default_factory=list)
    attempts: int = 0
    memory: str | None = None  # "exact" or "fuzzy" when the translation memory helped

    @property
    def passed(self) -> bool:
        return self.attempts > 0 and not self.issues

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "passed": self.passed,
            "attempts": self.attempts,
            "issues": [i.to_dict() for i in self.issues],
            "memory": self.memory,
        }


def _facts(item: Row) -> str:
    attributes = item.get("attributes") or {}
    values = attributes.values() if isinstance(attributes, dict) else [attributes]
    return " ".join([*map(str, values), str(item.get("description") or "")])


def _source_fields(item: Row) -> dict[str, str]:
    fields = {"title": str(item.get("title") or "")}
    if item.get("description"):
        fields["description"] = str(item["description"])
    for i, bullet in enumerate(item.get("bullet_points") or []):
        fields[f"bullet_points.{i}"] = str(bullet)
    return fields


class Localizer:
    """The batch function: ``Localizer(config)(items) -> results``; loads the model once."""

    def __init__(self, config: LocalizeConfig, engine: Engine | None = None):
        from pasar.models.registry import load_engine

        self.config = config
        self.engine = engine or load_engine(config.model, engine=config.model_engine)
        if config.record:  # each worker records the answers it gets
            from pasar.store.db import open_configured_store
            from pasar.store.recorder import recording

            self.engine = recording(self.engine, open_configured_store())
        self.glossary: Glossary = load_glossary(config.glossary)
        self.memory = TranslationMemory(fuzzy=config.fuzzy, threshold=config.fuzzy_threshold)

    def __call__(self, items: list[Row]) -> list[Row]:
        rewrites = self.rewrite(items) if self.config.rewrite else [None] * len(items)
        sources = []
        for item, rewrite in zip(items, rewrites, strict=True):
            if rewrite and rewrite["passed"]:
                item = {**item, "title": rewrite["title"]}
                if not item.get("bullet_points"):
                    item["bullet_points"] = rewrite["bullets"]
            sources.append(item)
        jobs = [
            self._job(item, name, text, target)
            for item in sources
            for target in self.config.targets
            for name, text in _source_fields(item).items()
        ]
        self.translate(jobs)
        return [
            self._result(item, rewrite, [j for j in jobs if j.item_id == item["id"]])
            for item, rewrite in zip(sources, rewrites, strict=True)
        ]

    def _spec(self, item: Row, name: str, text: str, target: str) -> Field:
        limit = self.config.title_chars if name == "title" else self.config.description_chars
        return Field(
            source_lang=self.config.source_lang,
            target_lang=target,
            max_chars=limit,
            brand=str(item["brand"]) if item.get("brand") else None,
            required_terms=self.glossary.required(text, target),
            max_word_repeats=2 if name == "title" else 4,
        )

    def _job(self, item: Row, name: str, text: str, target: str) -> Job:
        spec = self._spec(item, name, text, target)
        return Job(item["id"], name, target, text, spec)

    # -- rewrite ---------------------------------------------------------------------------------
    def rewrite(self, items: list[Row]) -> list[dict[str, Any]]:
        """A search-friendly title (and bullets) per item in the source language, checked by
        the same gates against the item's facts; a rejected rewrite keeps the original."""
        lang, limit = self.config.source_lang, self.config.title_chars
        answers = self.engine.batch(
            [rewrite_messages(item, lang, limit) for item in items],
            max_tokens=self.config.max_tokens,
            json_schema=rewrite_schema(limit),
        )
        out = []
        for item, answer in zip(items, answers, strict=True):
            try:
                parsed = json.loads(answer.text)
                title, bullets = (
                    str(parsed["title"]).strip(),
                    [str(b).strip() for b in parsed["bullets"]][:MAX_BULLETS],
                )
            except (json.JSONDecodeError, KeyError, TypeError):
                out.append({"passed": False, "issues": [{"code": "empty", "detail": "no JSON"}]})
                continue
            original = str(item.get("title") or "")
            facts = _facts(item)
            # The title keeps the original's numbers and brand and invents none; a bullet
            # (checked against no source) may only use numbers found in the item's facts.
            spec = self._spec(item, "title", original, lang)
            issues = check_field(original, title, spec, facts=facts)
            if spec.brand and not title.lower().startswith(spec.brand.lower()):
                issues.append(Issue("brand_not_first", f"the title must start with {spec.brand}"))
            for bullet in bullets:
                bullet_spec = Field(lang, lang, max_chars=160)
                issues += check_field("", bullet, bullet_spec, facts=f"{original} {facts}")
            out.append(
                {
                    "passed": not issues,
                    "title": title,
                    "bullets": bullets,
                    "issues": [i.to_dict() for i in issues],
                }
            )
        return out

    # -- translate -------------------------------------------------------------------------------
    def translate(self, jobs: list[Job]) -> None:
        """Translate every job in place: memory first, then the model, retried with feedback."""
        pending = []
        for job in jobs:
            pair = (job.spec.source_lang, job.target)
            remembered = self.memory.lookup(job.source, pair)
            if remembered is not None:
                job.output, job.attempts, job.memory = remembered, 1, "exact"
                job.issues = check_field(job.source, job.output, job.spec)
                if job.passed:
                    continue
            pending.append(job)
        for target in self.config.targets:
            group = [j for j in pending if j.target == target]
            pair = (self.config.source_lang, target)
            examples = self.memory.examples([j.source for j in group], pair)
            for job, example in zip(group, examples, strict=True):
                brand = job.spec.brand
                protected = self.glossary.protected(job.source, target, brand)
                text, job.slots = protect(job.source, protected)
                job.messages = translate_messages(text, job.spec.source_lang, target, example)
                job.attempts, job.memory = 0, "fuzzy" if example else None
        for _ in range(self.config.retries + 1):
            if not pending:
                break
            for job, raw in zip(pending, self.generate(pending), strict=True):
                job.raw = raw
                job.attempts += 1
                job.output = restore(raw, job.slots)
                job.issues = check_field(job.source, job.output, job.spec)
            self.check_meaning([j for j in pending if not j.issues])
            for job in pending:
                if job.issues:
                    job.messages = with_feedback(job.messages, job.raw, job.issues, job.target)
            pending = [j for j in pending if j.issues]
        for target in self.config.targets:
            done = [(j.source, j.output) for j in jobs if j.target == target and j.passed]
            self.memory.add(done, (self.config.source_lang, target))

    def check_meaning(self, jobs: list[Job]) -> None:
        if self.config.meaning_threshold <= 0:
            return
        pairs = [(j.source, j.output) for j in jobs]
        for job, issue in zip(
            jobs, meaning_issues(pairs, self.config.meaning_threshold), strict=True
        ):
            if issue:
                job.issues = [issue]

    def generate(self, jobs: list[Job]) -> list[str]:
        """One engine batch per kind of field: a title or bullet is one line (it stops at a
        newline, within ``short_tokens``), a description one paragraph."""
        answers: dict[int, str] = {}
        short = [i for i, j in enumerate(jobs) if j.name != "description"]
        long = [i for i, j in enumerate(jobs) if j.name == "description"]
        for group, stop, max_tokens in (
            (short, "\n", self.config.short_tokens),
            (long, "\n\n", self.config.max_tokens),
        ):
            if group:
                results = self.engine.batch(
                    [jobs[i].messages for i in group], max_tokens=max_tokens, stop=[stop]
                )
                answers.update({i: r.text.strip() for i, r in zip(group, results, strict=True)})
        return [answers[i] for i in range(len(jobs))]

    # -- results ---------------------------------------------------------------------------------
    def _result(self, item: Row, rewrite: dict[str, Any] | None, jobs: list[Job]) -> Row:
        fields: Row = {}
        if rewrite and rewrite["passed"]:
            fields["title_rewritten"] = rewrite["title"]
            fields["bullet_points_rewritten"] = rewrite["bullets"]
        languages = {}
        for target in self.config.targets:
            mine = [j for j in jobs if j.target == target]
            by_name = {j.name: j for j in mine}
            title = by_name.get("title")
            fields[f"title_{target}"] = title.output if title and title.passed else None
            description = by_name.get("description")
            if description:
                fields[f"description_{target}"] = description.output if description.passed else None
            bullets = [j for j in mine if j.name.startswith("bullet_points.")]
            if bullets:
                fields[f"bullet_points_{target}"] = (
                    [j.output for j in bullets] if all(j.passed for j in bullets) else None
                )
            codes = sorted({i.code for j in mine for i in j.issues})
            fields[f"status_{target}"] = "flagged" if codes else "ok"
            fields[f"issues_{target}"] = " ".join(codes)
            languages[target] = {
                "status": fields[f"status_{target}"],
                "fields": {j.name: j.to_dict() for j in mine},
            }
        return {
            "id": item["id"],
            "fields": fields,
            "report": {"id": item["id"], "rewrite": rewrite, "languages": languages},
        }
