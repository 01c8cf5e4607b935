// The disputes page: refund decisions and chargeback evidence / PDF packets over /v1/disputes.
"use strict";

// What a loaded JSON file had beyond the form's fields; sent along unchanged.
const loadedExtras = { refund: {}, chargeback: {} };

function lines(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean);
}

function setField(form, name, value) {
  if (form.elements[name] && value !== undefined && value !== null) {
    form.elements[name].value = Array.isArray(value) ? value.join(name === "item_ids" ? ", " : "\n") : value;
  }
}

// Fill a form from a JSON file; keep the keys the form has no field for.
function loadInto(kind, form, file, fields) {
  file.text().then((text) => {
    const data = JSON.parse(text);
    const extras = { ...data };
    for (const name of fields) { setField(form, name, data[name]); delete extras[name]; }
    if (kind === "chargeback") {
      form.elements.code.value = `${data.network} ${data.reason_code}`;
      delete extras.network; delete extras.reason_code;
    }
    loadedExtras[kind] = extras;
    showError("");
  }).catch((error) => showError(new Error(`${file.name} is not valid JSON: ${error.message}`)));
}

function refundBody(form) {
  const value = (name) => form.elements[name].value.trim();
  const body = { ...loadedExtras.refund, order_id: value("order_id"), reason: value("reason"), messages: lines(value("messages")) };
  const items = value("item_ids").split(",").map((id) => id.trim()).filter(Boolean);
  if (items.length) body.item_ids = items;
  if (value("return_shipping_cost") !== "") body.return_shipping_cost = Number(value("return_shipping_cost"));
  return body;
}

function chargebackBody(form) {
  const value = (name) => form.elements[name].value.trim();
  const [network, reasonCode] = value("code").split(" ");
  const body = {
    ...loadedExtras.chargeback,
    order_id: value("order_id"),
    network,
    reason_code: reasonCode,
    amount: Number(value("amount")),
    currency: value("currency") || "USD",
    dispute_date: value("dispute_date"),
    communications: lines(value("communications")),
  };
  for (const name of ["transaction_date", "case_number"]) if (value(name)) body[name] = value(name);
  return body;
}

function post(path, body) {
  return api(path, { method: "POST", body: JSON.stringify(body) });
}

function showDecision(decision) {
  const text = (id, value) => { document.querySelector(`[data-testid=${id}]`).textContent = value; };
  text("decision-status", decision.status === "decided" ? "decided" : "needs a human (low confidence)");
  text("decision-return", decision.return_required ? "yes" : "no");
  text("decision-refund", `${decision.refund_type} · ${decision.refund_amount.toFixed(2)} ${decision.currency}`);
  text("decision-by", `${decision.decided_by} (confidence ${decision.confidence.toFixed(2)})`);
  text("decision-adjustments", decision.policy_adjustments.join("; ") || "none");
  text("decision-reply", `[${decision.reply_language}] ${decision.reply}`);
  document.querySelector("[data-testid=decision-rationale]").replaceChildren(
    ...decision.rationale.map((citation) => {
      const li = document.createElement("li");
      li.textContent = `${citation.fact} (${citation.evidence})`;
      return li;
    }),
  );
  document.getElementById("decision").hidden = false;
}

function showEvidence(checklist) {
  const table = document.getElementById("evidence");
  table.querySelector("tbody").replaceChildren(
    ...checklist.items.map((item) => {
      const tr = document.createElement("tr");
      tr.className = item.status;
      const facts = item.status === "present" ? item.lines.join("\n") : item.why_missing;
      for (const value of [item.title, item.status, item.source, facts]) {
        const td = document.createElement("td");
        td.textContent = value;
        tr.append(td);
      }
      return tr;
    }),
  );
  table.hidden = false;
}

const refundForm = document.getElementById("refund-form");
const chargebackForm = document.getElementById("chargeback-form");
chargebackForm.elements.dispute_date.valueAsDate = new Date();

document.getElementById("refund-file").addEventListener("change", (event) => {
  loadInto("refund", refundForm, event.target.files[0], ["order_id", "reason", "item_ids", "messages", "return_shipping_cost"]);
});
document.getElementById("chargeback-file").addEventListener("change", (event) => {
  loadInto("chargeback", chargebackForm, event.target.files[0],
    ["order_id", "amount", "currency", "transaction_date", "dispute_date", "case_number", "communications"]);
});

refundForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  try {
    showDecision(await (await post("/v1/disputes/refund/decide", refundBody(refundForm))).json());
  } catch (error) { showError(error); }
});

chargebackForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  try {
    showEvidence(await (await post("/v1/disputes/chargeback/checklist", chargebackBody(chargebackForm))).json());
  } catch (error) { showError(error); }
});

document.getElementById("packet").addEventListener("click", async () => {
  if (!chargebackForm.reportValidity()) return;
  const status = document.getElementById("packet-status");
  showError("");
  status.textContent = "Building the packet…";
  try {
    const body = chargebackBody(chargebackForm);
    const response = await post("/v1/disputes/chargeback/packet", body);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = `chargeback-${body.order_id.replace("#", "")}.pdf`;
    link.click();
    const missing = response.headers.get("X-Evidence-Missing");
    status.textContent = missing ? `Packet saved; missing evidence: ${missing}` : "Packet saved; all evidence present";
  } catch (error) {
    status.textContent = "";
    showError(error);
  }
});
