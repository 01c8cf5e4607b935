"""The chargeback defense letter: a template filled from the evidence, plus one summary paragraph
written by an LLM and checked against the evidence.

Every fact in the letter's body comes from a template sentence filled with evidence fields. The
LLM (any pasar engine; by default the embedded SmolLM2-135M) writes only the opening summary,
and that paragraph is kept only if (1) every number and id in it appears in the evidence and
(2) it does not mention delivery, tracking or messages when that evidence is missing. Otherwise
the template's summary is used and the letter records why (``summary_source``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from pasar.apps.disputes.chargeback import reason_code
from pasar.apps.disputes.schemas import ChargebackRequest, Checklist, EvidenceItem
from pasar.models.engine import Engine

NUMBER_OR_ID = re.compile(r"#?[A-Za-z]*\d[\w.,-]*")
# Words an LLM summary may use only when the matching evidence is present.
CLAIM_WORDS = {
    "delivery_confirmation": ("deliver",),
    "shipping_tracking": ("tracking", "shipped"),
    "customer_communications": ("message", "email", "contacted", "communicat"),
    "prior_undisputed_orders": ("previous order", "prior order", "earlier order"),
}
SUMMARY_MAX_TOKENS = 120


@dataclass(frozen=True)
class Letter:
    text: str
    summary_source: str  # "llm (verified)", "template (...why...)"


def _tokens(text: str) -> set[str]:
    return {t.rstrip(".,-").lstrip("#") for t in NUMBER_OR_ID.findall(text)}


def unsupported_facts(summary: str, checklist: Checklist, request: ChargebackRequest) -> list[str]:
    """Numbers, ids and claims in ``summary`` that the evidence does not support."""
    evidence_text = " ".join(
        [request.order_id, request.reason_code, f"{request.amount:.2f}", request.case_number or ""]
        + [line for item in checklist.items for line in item.lines]
    )
    known = {t.replace(",", "") for t in _tokens(evidence_text)}  # 2,895.55 is 2895.55
    problems = [t for t in sorted(_tokens(summary)) if t and t.replace(",", "") not in known]
    lowered = summary.lower()
    for item in checklist.items:
        if item.status == "missing":
            problems += [
                f"'{w}' but {item.key} is missing"
                for w in CLAIM_WORDS.get(item.key, ())
                if w in lowered
            ]
    return problems


def template_summary(request: ChargebackRequest, checklist: Checklist) -> str:
    present = [i.title.lower() for i in checklist.items if i.status == "present"]
    return (
        f"The cardholder disputes order {request.order_id} under {checklist.network.title()} "
        f"reason code {checklist.reason_code} ({checklist.title}). We contest it with the "
        f"enclosed {', '.join(present)} from our records."
    )


def llm_summary(engine: Engine, request: ChargebackRequest, checklist: Checklist) -> str:
    facts = "\n".join(
        f"- {item.title}: " + "; ".join(item.lines[:4])
        for item in checklist.items
        if item.status == "present"
    )
    prompt = (
        f"Write two sentences for a bank, contesting a {checklist.network} chargeback with reason "
        f"code {checklist.reason_code} ({checklist.title}) on order {request.order_id}. "
        f"Use only these facts and no other numbers:\n{facts}"
    )
    result = engine.chat(
        [{"role": "user", "content": prompt}], max_tokens=SUMMARY_MAX_TOKENS, temperature=0.0
    )
    return " ".join(result.text.split())


def _argument(item: EvidenceItem, exhibit: int) -> str:
    facts = "; ".join(line.rstrip(".") for line in item.lines[:6])
    return f"{item.title} (Exhibit {exhibit}, source: {item.source}): {facts}."


def write_letter(
    request: ChargebackRequest, checklist: Checklist, engine: Engine | None, *, today: date
) -> Letter:
    """The letter text. ``engine`` None: template summary only."""
    code = reason_code(request.network, request.reason_code)
    summary = template_summary(request, checklist)
    source = "template (no LLM requested)"
    if engine is not None:
        candidate = llm_summary(engine, request, checklist)
        problems = unsupported_facts(candidate, checklist, request) if candidate else ["empty"]
        if problems:
            source = f"template (LLM summary rejected: unsupported {', '.join(problems[:5])})"
        else:
            summary, source = candidate, f"llm ({engine.name}, verified against the evidence)"
    present = [i for i in checklist.items if i.status == "present"]
    missing = [i for i in checklist.items if i.status == "missing"]
    body = [_argument(item, n) for n, item in enumerate(present, 1)]
    lines = [
        request.merchant_name,
        today.isoformat(),
        "",
        f"To: the issuing bank, {code.network.title()} dispute resolution",
        f"Re: chargeback {request.case_number or '(no case number given)'}, reason code "
        f"{code.code} ({code.title}), order {request.order_id}, "
        f"{request.amount:.2f} {request.currency}, disputed on {request.dispute_date}",
        "",
        "Dear Sir or Madam,",
        "",
        summary,
        "",
        "Our evidence, point by point:",
        *(f"{n}. {arg}" for n, arg in enumerate(body, 1)),
    ]
    if missing:
        lines += [
            "",
            "We do not hold the following and do not rely on it: "
            + "; ".join(f"{i.title} ({i.why_missing})" for i in missing)
            + ".",
        ]
    lines += [
        "",
        "We ask that the chargeback be reversed. The evidence index and the exhibits follow.",
        "",
        "Sincerely,",
        request.merchant_name,
    ]
    return Letter(text="\n".join(lines), summary_source=source)
