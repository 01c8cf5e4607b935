// The chat page: streaming answers, model picker, history, and feedback on every answer.
"use strict";

const modelSelect = document.getElementById("model");
const messagesBox = document.getElementById("messages");
const promptBox = document.getElementById("prompt");
const conversationsList = document.getElementById("conversations");
let conversationId = null;
let history = [];

let samplingDefaults = {};

async function loadModels() {
  const { data } = await (await api("/v1/models")).json();
  const wanted = modelSelect.dataset.default;
  samplingDefaults = Object.fromEntries(data.map(({ id, sampling }) => [id, sampling]));
  modelSelect.replaceChildren(...data.map(({ id }) => new Option(id, id, id === wanted, id === wanted)));
  applySamplingDefaults();
}

// A model's card says which temperature suits it (GET /v1/models, "sampling").
function applySamplingDefaults() {
  const sampling = samplingDefaults[modelSelect.value];
  if (sampling) document.getElementById("temperature").value = sampling.temperature;
}
modelSelect.addEventListener("change", applySamplingDefaults);

async function loadConversations() {
  const { data } = await (await api("/v1/conversations?limit=30")).json();
  conversationsList.replaceChildren(...data.map((c) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = "#";
    link.textContent = c.title || "(untitled)";
    link.title = c.updated_at;
    link.addEventListener("click", (event) => { event.preventDefault(); openConversation(c.id); });
    item.append(link);
    return item;
  }));
}

async function openConversation(id) {
  const conversation = await (await api(`/v1/conversations/${id}`)).json();
  conversationId = id;
  history = [];
  messagesBox.replaceChildren();
  for (const m of conversation.messages) {
    if (m.role === "assistant" && m.id.includes(".")) continue; // alternative choices
    history.push({ role: m.role, content: m.content });
    const bubble = addBubble(m.role, m.content);
    if (m.role === "assistant") addFeedback(bubble, m.id);
  }
}

function addBubble(role, text) {
  const bubble = document.createElement("div");
  bubble.className = `bubble ${role}`;
  bubble.dataset.role = role;
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  bubble.append(body);
  messagesBox.append(bubble);
  messagesBox.scrollTop = messagesBox.scrollHeight;
  return bubble;
}

function addFeedback(bubble, messageId) {
  const bar = document.createElement("div");
  bar.className = "feedback";
  bar.dataset.messageId = messageId;
  const status = document.createElement("span");
  status.className = "status";
  const send = async (body) => {
    try {
      await api("/v1/feedback", { method: "POST", body: JSON.stringify({ message_id: messageId, ...body }) });
      status.textContent = body.correction ? "Thanks, correction saved" : "Thanks";
    } catch (error) { status.textContent = `Not saved: ${error.message}`; }
  };
  const up = button("👍 Good", "thumbs-up", () => send({ rating: "up" }));
  const down = button("👎 Bad", "thumbs-down", () => send({ rating: "down" }));
  const suggest = button("Suggest a better answer", "suggest", () => {
    if (bar.querySelector("textarea")) return;
    const box = document.createElement("textarea");
    box.rows = 3;
    box.dataset.testid = "correction";
    const original = bubble.querySelector(".text").textContent;
    box.value = original;
    const save = button("Save correction", "save-correction", () => {
      if (box.value.trim() === original.trim() || !box.value.trim()) {
        status.textContent = "Edit the answer into the one you wanted first";
        return;
      }
      send({ rating: "down", correction: box.value });
    });
    bar.append(box, save);
  });
  bar.append(up, down, suggest, status);
  bubble.append(bar);
}

function button(label, testid, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.testid = testid;
  b.addEventListener("click", onClick);
  return b;
}

async function sendPrompt(text) {
  showError(null);
  history.push({ role: "user", content: text });
  addBubble("user", text);
  const bubble = addBubble("assistant", "");
  const out = bubble.querySelector(".text");
  const response = await api("/v1/chat/completions", {
    method: "POST",
    body: JSON.stringify({
      model: modelSelect.value,
      messages: history,
      temperature: Number(document.getElementById("temperature").value),
      stream: true,
      conversation_id: conversationId,
    }),
  });
  conversationId = response.headers.get("X-Pasar-Conversation-Id") || conversationId;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let completionId = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const line = buffer.slice(0, cut).trim();
      buffer = buffer.slice(cut + 2);
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const event = JSON.parse(line.slice(6));
      if (event.error) throw new Error(event.error.message);
      completionId = event.id || completionId;
      const delta = event.choices?.[0]?.delta?.content;
      if (delta) { out.textContent += delta; messagesBox.scrollTop = messagesBox.scrollHeight; }
    }
  }
  history.push({ role: "assistant", content: out.textContent });
  addFeedback(bubble, completionId);
  loadConversations();
}

document.getElementById("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = promptBox.value.trim();
  if (!text) return;
  promptBox.value = "";
  const sendButton = document.getElementById("send");
  sendButton.disabled = true;
  try { await sendPrompt(text); } catch (error) { showError(error); } finally { sendButton.disabled = false; }
});
promptBox.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    document.getElementById("composer").requestSubmit();
  }
});
document.getElementById("new-chat").addEventListener("click", () => {
  conversationId = null;
  history = [];
  messagesBox.replaceChildren();
  promptBox.focus();
});

Promise.all([loadModels(), loadConversations()]).catch(showError);
