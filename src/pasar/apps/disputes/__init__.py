"""Disputes: a refund agent (return or not, and how much) and a chargeback defense agent.

Refunds: ``cases`` builds a case from the store, ``model`` learns decisions from (synthetic)
history, ``policy`` bounds every decision. Chargebacks: ``chargeback`` assembles the evidence per
reason code, ``letter`` writes the defense letter, ``packet`` renders the PDF. docs/disputes.md
has the commands and the measured accuracy.
"""
