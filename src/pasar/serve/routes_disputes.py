"""Disputes over HTTP: refund decisions and chargeback packets (``pasar.apps.disputes``).

POST /v1/disputes/refund/decide        body: CASE.json          -> the decision JSON
POST /v1/disputes/chargeback/checklist body: CHARGEBACK.json    -> the evidence checklist JSON
POST /v1/disputes/chargeback/packet    body: CHARGEBACK.json    -> the PDF packet

The refund model is the one in ``$PASAR_HOME/disputes/refund-model`` when there is one
(``pasar disputes refund train HISTORY --out ~/.pasar/disputes/refund-model``), else the
rules-only baseline. Packets are written with the template summary (no LLM), so a request never
waits on a model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from pasar.apps.disputes.chargeback import assemble_evidence
from pasar.apps.disputes.policy import load_policy
from pasar.apps.disputes.schemas import ChargebackRequest, RefundDecision, RefundRequest
from pasar.serve.deps import DisputesDep, StateDep

router = APIRouter(prefix="/v1/disputes", tags=["disputes"])


@router.post("/refund/decide")
def refund_decide(body: RefundRequest, state: StateDep, caller: DisputesDep) -> RefundDecision:
    """A buyer-facing key's own carrier events, shipping cost and dispute count are ignored:
    only an admin key (or a server without keys) may supply facts the store does not hold."""
    # imported here: scikit-learn and the embedder are loaded on the first dispute, not at start
    from pasar.apps.disputes.cases import build_case
    from pasar.apps.disputes.features import default_embedder
    from pasar.apps.disputes.model import MODEL_FILE, load_model
    from pasar.apps.disputes.refund import decide

    policy = load_policy()
    trusted = caller is None or caller.scope == "admin"
    case = build_case(state.store, body, policy, trusted=trusted)
    model_dir = state.settings.home / "disputes" / "refund-model"
    model = (
        load_model(model_dir, policy, default_embedder())
        if (model_dir / MODEL_FILE).exists()
        else None
    )
    return decide(case, policy, model)


@router.post("/chargeback/checklist")
def chargeback_checklist(
    body: ChargebackRequest, state: StateDep, _: DisputesDep
) -> dict[str, Any]:
    checklist = assemble_evidence(state.store, body, load_policy())
    return checklist.model_dump() | {"missing": checklist.missing}


@router.post("/chargeback/packet")
def chargeback_packet(body: ChargebackRequest, state: StateDep, _: DisputesDep) -> Response:
    from pasar.apps.disputes.defense import build_defense

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "packet.pdf"
        report = build_defense(state.store, body, load_policy(), None, out)
        pdf = out.read_bytes()
    name = f"chargeback-{body.order_id.lstrip('#')}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Evidence-Missing": ",".join(report["missing"]),
        },
    )
