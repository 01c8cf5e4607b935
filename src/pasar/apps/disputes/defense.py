"""The chargeback defense agent end to end: evidence checklist -> letter -> PDF packet.

report = build_defense(store, request, policy, engine, Path("packet.pdf"))
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from pasar.apps.disputes.chargeback import assemble_evidence
from pasar.apps.disputes.letter import write_letter
from pasar.apps.disputes.packet import render_packet
from pasar.apps.disputes.policy import PolicyConfig
from pasar.apps.disputes.schemas import ChargebackRequest
from pasar.models.engine import Engine
from pasar.store.db import Store


def build_defense(
    db: Store,
    request: ChargebackRequest,
    policy: PolicyConfig,
    load_engine: Callable[[], Engine] | None,
    out: Path,
    *,
    today: date | None = None,
) -> dict[str, Any]:
    """Write the packet to ``out``; returns the checklist, the letter and where the summary came
    from, as a JSON-ready report. ``load_engine`` (None: template only) is called only once the
    evidence is assembled, so a bad order id or reason code fails before a model loads."""
    checklist = assemble_evidence(db, request, policy)
    engine = load_engine() if load_engine is not None else None
    letter = write_letter(request, checklist, engine, today=today or date.today())
    render_packet(letter, checklist, request, out)
    return {
        "packet": str(out),
        "order_id": request.order_id,
        "network": checklist.network,
        "reason_code": checklist.reason_code,
        "title": checklist.title,
        "checklist": [item.model_dump() for item in checklist.items],
        "missing": checklist.missing,
        "letter": letter.text,
        "summary_source": letter.summary_source,
    }
