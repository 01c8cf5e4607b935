"""Chargeback defense on the real retail data: per-reason-code checklists on complete and
incomplete orders, the letter's fact check, the PDF packet, bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from conftest import SHARED_DATA, run_pasar
from pypdf import PdfReader
from typer.testing import CliRunner

from pasar.apps.disputes.chargeback import UnknownReasonCodeError, assemble_evidence
from pasar.apps.disputes.defense import build_defense
from pasar.apps.disputes.letter import unsupported_facts, write_letter
from pasar.apps.disputes.policy import load_policy
from pasar.apps.disputes.schemas import ChargebackRequest
from pasar.cli.main import app
from pasar.errors import NotFoundError
from pasar.store.commerce import import_retail, load_retail_json
from pasar.store.db import open_configured_store

EXAMPLES = Path(__file__).parent.parent / "examples" / "disputes"
POLICY = load_policy()


def example(name: str, **change) -> ChargebackRequest:
    data = json.loads((EXAMPLES / name).read_text()) | change
    return ChargebackRequest.model_validate(data)


def statuses(checklist) -> dict[str, str]:
    return {item.key: item.status for item in checklist.items}


def test_visa_13_1_complete_and_incomplete(store):
    complete = assemble_evidence(store, example("chargeback-visa-13.1.json"), POLICY)
    assert statuses(complete) == dict.fromkeys(
        [
            "order_receipt",
            "payment_record",
            "shipping_tracking",
            "delivery_confirmation",
            "customer_communications",
        ],
        "present",
    )
    delivery = next(i for i in complete.items if i.key == "delivery_confirmation")
    assert "SYNTHETIC" in delivery.source  # the example's carrier events are made up, and say so
    assert any("2024-05-07: delivered" in line for line in delivery.lines)
    tracking = next(i for i in complete.items if i.key == "shipping_tracking")
    assert tracking.lines == ["Tracking 119858784661 for items 2658930189"]
    bare = example("chargeback-visa-13.1.json", logistics=None, communications=[])
    incomplete = assemble_evidence(store, bare, POLICY)
    assert incomplete.missing == ["delivery_confirmation", "customer_communications"]
    gone = next(i for i in incomplete.items if i.key == "delivery_confirmation")
    assert gone.lines == [] and "'delivered'" in gone.why_missing
    pending = assemble_evidence(  # a pending order has no fulfillment: no tracking
        store, example("chargeback-visa-13.1.json", order_id="#W2974929", logistics=None), POLICY
    )
    assert "shipping_tracking" in pending.missing


def test_visa_13_3_needs_description_and_policy(store):
    request = example("chargeback-visa-13.1.json", reason_code="13.3")
    checklist = assemble_evidence(store, request, POLICY)
    assert checklist.title.startswith("Not as Described")
    assert statuses(checklist)["product_description"] == "present"
    assert statuses(checklist)["refund_policy"] == "present"
    no_policy = replace(POLICY, refund_policy_text="")
    assert "refund_policy" in assemble_evidence(store, request, no_policy).missing


def test_visa_10_4_prior_orders_and_device_data(store):
    checklist = assemble_evidence(store, example("chargeback-visa-10.4.json"), POLICY)
    s = statuses(checklist)
    assert s["prior_undisputed_orders"] == "present"
    assert s["address_match"] == "present"
    assert s["device_and_ip"] == "missing"  # the store has none: said, not invented
    prior = next(i for i in checklist.items if i.key == "prior_undisputed_orders")
    assert [line.split(":")[0] for line in prior.lines[:2]] == [
        "Order #W1579621",
        "Order #W2260828",
    ]
    assert len(prior.lines) == 3  # the two orders and the note on dates (the store has none)
    payment = next(i for i in checklist.items if i.key == "payment_record")
    assert "payment: 241.68 USD via visa card ending" in payment.lines[0]
    assert not any(line.startswith("Note:") for line in payment.lines)
    mismatch = example("chargeback-visa-10.4.json", network="mastercard", reason_code="4853")
    paid = next(
        i for i in assemble_evidence(store, mismatch, POLICY).items if i.key == "payment_record"
    )
    assert "Note: the order was paid by visa card, not mastercard" in paid.lines
    # a buyer whose only order is disputed has no prior orders to show
    lone = example("chargeback-visa-10.4.json", order_id="#W7678072")
    assert "prior_undisputed_orders" in assemble_evidence(store, lone, POLICY).missing


def test_mastercard_4853(store):
    checklist = assemble_evidence(store, example("chargeback-mastercard-4853.json"), POLICY)
    assert checklist.network == "mastercard"
    assert checklist.missing == ["delivery_confirmation", "customer_communications"]
    assert statuses(checklist)["shipping_tracking"] == "present"


def test_unknown_reason_code_and_order(store):
    with pytest.raises(UnknownReasonCodeError, match="visa reason code '99.9'.*visa 13.1"):
        assemble_evidence(store, example("chargeback-unknown-code.json"), POLICY)
    with pytest.raises(NotFoundError, match="no order with id '#W0'"):
        assemble_evidence(store, example("chargeback-visa-10.4.json", order_id="#W0"), POLICY)


def test_letter_keeps_only_supported_facts(store):
    request = example("chargeback-mastercard-4853.json")
    checklist = assemble_evidence(store, request, POLICY)
    assert (
        unsupported_facts(
            "Order #W3386455 for $602.11 was paid and shipped with tracking.", checklist, request
        )
        == []
    )
    invented = unsupported_facts(
        "The item was delivered on 2024-01-05 and we refunded 1,099.99.", checklist, request
    )
    assert "2024-01-05" in invented and "1,099.99" in invented
    assert any("deliver" in p for p in invented)  # delivery evidence is missing


def test_pdf_packet_with_the_embedded_model(store, llama_engine, tmp_path: Path):
    out = tmp_path / "packet.pdf"
    report = build_defense(
        store,
        example("chargeback-visa-13.1.json"),
        POLICY,
        lambda: llama_engine,
        out,
        today=date(2024, 6, 12),
    )
    assert report["summary_source"].startswith(("llm (smollm2", "template (LLM summary rejected"))
    text = "\n".join(page.extract_text() for page in PdfReader(out).pages)
    assert "Chargeback defense letter" in text
    assert "Evidence index: Visa 13.1" in text
    assert "Exhibit 5: Customer communications" in text
    assert "#W3972714" in text and "119858784661" in text
    letter = write_letter(
        example("chargeback-visa-13.1.json"),
        assemble_evidence(store, example("chargeback-visa-13.1.json"), POLICY),
        None,
        today=date(2024, 6, 12),
    )
    assert letter.summary_source == "template (no LLM requested)"
    assert "VISA-2024-000123" in letter.text


def test_pdf_packet_sets_thai_in_a_thai_font(store, tmp_path: Path):
    thai = "ได้รับรองเท้าแล้ว ขอบคุณ"  # "got the boots, thanks"
    request = example(
        "chargeback-visa-13.1.json", communications=[f"2024-05-08 cardholder: {thai}"]
    )
    out = tmp_path / "thai.pdf"
    build_defense(store, request, POLICY, None, out, today=date(2024, 6, 12))
    reader = PdfReader(out)
    fonts = {
        str(font["/BaseFont"]).split("+")[-1]
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert "Sarabun" in fonts, fonts
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "ขอบคุณ" in text.replace(" ", "")


def test_cli_build_and_bad_input(tmp_path: Path):
    import_retail(open_configured_store(), load_retail_json(SHARED_DATA / "retail" / "db.json"))
    out, report = tmp_path / "p.pdf", tmp_path / "p.json"
    result = run_pasar(
        "disputes",
        "chargeback",
        "build",
        str(EXAMPLES / "chargeback-visa-10.4.json"),
        "--out",
        str(out),
        "--no-llm",
        "--report",
        str(report),
    )
    assert result.returncode == 0, result.stderr
    assert "missing  Device id and IP address" in result.stdout
    assert json.loads(report.read_text())["missing"] == ["delivery_confirmation", "device_and_ip"]
    assert PdfReader(out).pages
    runner = CliRunner()  # bad input, in-process: no need to start pasar again
    unknown = str(EXAMPLES / "chargeback-unknown-code.json")
    result = runner.invoke(app, ["disputes", "chargeback", "build", unknown, "--out", str(out)])
    assert result.exit_code == 2
    assert "no evidence checklist for visa reason code" in " ".join(result.stderr.split())
    bad = tmp_path / "neg.json"
    data = json.loads((EXAMPLES / "chargeback-visa-10.4.json").read_text())
    bad.write_text(json.dumps(data | {"amount": -3}))
    result = runner.invoke(app, ["disputes", "chargeback", "build", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    assert "amount: Input should be greater than 0" in " ".join(result.stderr.split())
