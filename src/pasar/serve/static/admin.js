// The admin page: feedback counts, recent thumbs-down with corrections, export.
"use strict";

function row(cells) {
  const tr = document.createElement("tr");
  for (const value of cells) {
    const td = document.createElement("td");
    td.textContent = value ?? "";
    tr.append(td);
  }
  return tr;
}

async function loadStats() {
  const stats = await (await api("/v1/admin/stats")).json();
  document.getElementById("counts").replaceChildren(
    ...stats.feedback_by_model_and_day.map((r) => row([r.day, r.model, r.up, r.down, r.corrections])),
  );
  document.getElementById("downs").replaceChildren(
    ...stats.recent_thumbs_down.map((r) => row([r.created_at, r.model, r.answer, r.correction, r.comment])),
  );
}

document.getElementById("export").addEventListener("click", async () => {
  const format = document.getElementById("export-format").value;
  const status = document.getElementById("export-status");
  try {
    const response = await api(`/v1/admin/export?format=${format}`);
    const text = await response.text();
    const rows = text.split("\n").filter(Boolean).length;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
    link.download = `feedback-${format}.jsonl`;
    link.click();
    status.textContent = `${rows} rows exported`;
  } catch (error) { showError(error); }
});

loadStats().catch(showError);
