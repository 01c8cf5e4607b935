// Shared by the pages: calls to the API with the API key kept in this browser, if any.
"use strict";

const keyBox = document.getElementById("key-box");
const keyInput = document.getElementById("key-input");

function apiHeaders(extra = {}) {
  const key = localStorage.getItem("pasar-key");
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: apiHeaders({ "Content-Type": "application/json", ...(options.headers || {}) }),
  });
  if (response.status === 401 || response.status === 403) keyBox.hidden = false;
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function showError(error) {
  document.getElementById("error").textContent = error ? String(error.message || error) : "";
}

document.getElementById("key-save").addEventListener("click", () => {
  localStorage.setItem("pasar-key", keyInput.value.trim());
  location.reload();
});
