// The KV inspector page: asks POST /admin/kv/inspect (admin key as Bearer) and draws what each setting kept.
// Plain DOM, no build step, no network besides this origin. All server text goes in through textContent.
"use strict";

const KEY_STORAGE = "kvpilot.adminKey"; // sessionStorage: gone when the tab closes
// The service's compression methods (docs/api.md); the server validates whatever is sent.
const METHODS = ["snapkv", "keydiff", "streaming_llm", "h2o", "pyramidkv", "tova", "knorm", "adakv_snapkv",
  "chunkkv_snapkv", "lowrank_keys", "none"];
const RATIOS = [0, 0.25, 0.5, 0.75, 0.9];
const BITS = [16, 8, 4, 2];
const DEFAULT_SETTINGS = [["snapkv", 0.5, 16], ["streaming_llm", 0.75, 16], ["keydiff", 0.5, 4]];

let adminKey = sessionStorage.getItem(KEY_STORAGE) || "";
let last = null; // the last inspection, redrawn when the highlight view changes

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.entries(props || {}).forEach(([k, v]) => {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  });
  children.flat().forEach((c) => node.append(c));
  return node;
}

function select(options, value, className) {
  const s = el("select", { class: className });
  options.forEach((o) => s.append(el("option", { value: String(o), text: String(o), selected: o === value })));
  return s;
}

function addSettingRow(method, ratio, bits) {
  const row = el("div", { class: "setting-row" },
    select(METHODS, method, "method"), el("span", { class: "muted", text: "ratio" }),
    select(RATIOS, ratio, "ratio"), el("span", { class: "muted", text: "bits" }), select(BITS, bits, "bits"));
  const remove = el("button", { type: "button", class: "remove", text: "✕", title: "Remove this setting" });
  remove.addEventListener("click", () => row.remove());
  row.append(remove);
  $("setting-rows").append(row);
}

function settings() {
  const out = [...document.querySelectorAll(".setting-row")].map((row) => ({
    method: row.querySelector(".method").value,
    ratio: Number(row.querySelector(".ratio").value),
    bits: Number(row.querySelector(".bits").value),
  }));
  if ($("auto").checked) out.push("auto");
  return out;
}

function showKeyState() {
  $("key-state").textContent = adminKey ? "Key set for this tab." : "No key set (kept for this browser tab only).";
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

async function inspect(event) {
  event.preventDefault();
  clearError();
  if (!adminKey) {
    showError("Enter an admin key first.");
    return;
  }
  const body = { prompt: $("prompt").value, settings: settings(), max_tokens: Number($("max-tokens").value) };
  $("run").disabled = true;
  $("status").textContent = `Generating ${body.settings.length + 1} answers (uncompressed and each setting)…`;
  try {
    const response = await fetch("/admin/kv/inspect", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${adminKey}` },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const e = data && data.error;
      const what = e ? `${e.message}${e.param ? ` (field: ${e.param})` : ""}` : response.statusText;
      showError(`${response.status}: ${what}`);
      $("status").textContent = "";
      return;
    }
    last = data;
    $("status").textContent = `${data.tokens.length} prompt tokens, ${data.layers} layers × ${data.kv_heads} KV heads, `
      + `model ${data.model}.`;
    fillViews(data);
    draw();
  } catch (e) {
    showError(`The request failed: ${e.message}`);
    $("status").textContent = "";
  } finally {
    $("run").disabled = false;
  }
}

function fillViews(data) {
  const view = $("view");
  const keep = view.value;
  view.replaceChildren(el("option", { value: "all", text: "kept in how many layer-heads (overview)" }));
  for (let l = 0; l < data.layers; l++) {
    for (let h = 0; h < data.kv_heads; h++) {
      view.append(el("option", { value: `${l}:${h}`, text: `layer ${l} · KV head ${h}` }));
    }
  }
  if ([...view.options].some((o) => o.value === keep)) view.value = keep;
}

function decodeBits(b64, tokens) {
  const raw = atob(b64);
  const kept = new Uint8Array(tokens);
  for (let i = 0; i < tokens; i++) kept[i] = (raw.charCodeAt(i >> 3) >> (i & 7)) & 1;
  return kept;
}

/** Per token, the share of the selected layer-heads that kept it, in [0, 1]. */
function keptShares(result, data) {
  const n = data.tokens.length;
  if (!result.kept_counts) return new Array(n).fill(1);
  if ($("view").value === "all") {
    const total = data.layers * data.kv_heads;
    return result.kept_counts.map((c) => c / total);
  }
  const [l, h] = $("view").value.split(":").map(Number);
  return Array.from(decodeBits(result.kept[l][h], n));
}

function shadeClass(share) {
  if (share <= 0) return "k0";
  if (share >= 1) return "k4";
  return share < 1 / 3 ? "k1" : share < 2 / 3 ? "k2" : "k3";
}

function formatBytes(b) {
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${(b / 1024 / 1024).toFixed(2)} MiB`;
}

function settingLabel(setting) {
  if (setting === "auto") return "auto";
  if (setting === "off") return "uncompressed";
  return `${setting.method} · ratio ${setting.ratio} · ${setting.bits}-bit`;
}

function promptView(result, data) {
  const shares = keptShares(result, data);
  const total = data.layers * data.kv_heads;
  const box = el("div", { class: "prompt-text" });
  data.tokens.forEach((t, i) => {
    if (t.start === t.end) return; // a special token or part of a split character: no text of its own
    const count = result.kept_counts ? result.kept_counts[i] : total;
    box.append(el("span", {
      class: `token ${shadeClass(shares[i])}`, text: t.text,
      title: `token ${i} (id ${t.id}): kept in ${count} of ${total} layer-heads`,
      "data-kept": String(count), "data-index": String(i),
    }));
  });
  return box;
}

function bytesView(result) {
  const share = result.bytes_uncompressed > 0 ? result.bytes / result.bytes_uncompressed : 1;
  const fill = el("div", { class: "fill" });
  fill.style.width = `${Math.min(100, share * 100)}%`; // CSSOM: allowed by the page's style-src 'self'
  return el("div", { class: "bytes", title: "held: the storage the cache had allocated at the end (whole blocks, "
      + "scales and padding included); uncompressed: the same tokens stored uncompressed, without block rounding" },
    el("span", { class: "figure", text: `${formatBytes(result.bytes)} held of ${formatBytes(result.bytes_uncompressed)} `
      + `uncompressed (${(share * 100).toFixed(1)} %)` }),
    el("div", { class: "bar" }, fill));
}

function decisionSummary(decision) {
  const quality = decision.predicted_quality == null ? "" : `, predicted quality ${decision.predicted_quality.toFixed(3)}`;
  return el("div", { class: "decision" },
    el("h3", { text: "Controller decision" }),
    el("p", { class: "muted", text: `reason ${decision.reason}, decided by ${decision.decided_by}${quality}; `
      + `${decision.candidates.length} candidates scored (below)` }));
}

function formatSeconds(s) {
  return s == null ? "–" : `${(s * 1000).toFixed(1)} ms`;
}

/** The candidates the controller scored for one auto setting, full width under the cards. */
function candidatesView(result, index) {
  const d = result.decision;
  const rows = d.candidates.map((c) => el("tr", { class: c.verdict === "chosen" ? "chosen" : "" },
    el("td", { text: c.spec.method }), el("td", { text: String(c.spec.ratio) }), el("td", { text: String(c.spec.bits) }),
    el("td", { text: c.quality == null ? "–" : c.quality.toFixed(3) }), el("td", { text: formatBytes(c.bytes) }),
    el("td", { text: formatSeconds(c.tpot_seconds) }), el("td", { text: c.verdict })));
  const free = d.server ? ` with ${formatBytes(d.server.kv_free_bytes)} of KV free` : "";
  return el("section", { class: "panel candidates-panel" },
    el("h3", { text: `auto${index > 0 ? ` (${index + 1})` : ""}: the candidates the controller scored` }),
    el("p", { class: "muted", text: `It chose ${d.spec.method}, ratio ${d.spec.ratio}, ${d.spec.bits}-bit `
      + `(reason ${d.reason})${free}, for a floor of quality ${d.request.min_quality}.` }),
    el("table", { class: "candidates" },
      el("thead", {}, el("tr", {}, ...["method", "ratio", "bits", "predicted quality", "KV bytes reserved",
        "predicted time per token", "verdict"].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows)));
}

function card(result, data, baseline) {
  const applied = result.applied;
  const title = settingLabel(result.setting);
  const c = el("article", { class: `card${baseline ? " baseline" : ""}`, "data-setting": title },
    el("h2", { text: title }),
    el("div", { class: "applied", text: `applied: ${applied.method}, ratio ${applied.ratio}, ${applied.bits}-bit`
      + ` (decided by ${result.decided_by})`
      + (result.kept_fraction == null ? "" : ` · ${(result.kept_fraction * 100).toFixed(1)} % of prompt entries kept`) }),
    bytesView(result),
    el("h3", { text: "Prompt, by what the cache kept" }),
    promptView(result, data),
    el("h3", { text: "Answer" }),
    el("pre", { class: "answer", text: result.answer }));
  if (!baseline) {
    const same = result.answer === data.uncompressed.answer;
    c.append(el("div", { class: same ? "same" : "differs",
      text: same ? "Same answer as uncompressed" : "Differs from the uncompressed answer" }));
  }
  if (result.decision) c.append(decisionSummary(result.decision));
  return c;
}

function draw() {
  if (!last) return;
  $("results").hidden = false;
  $("cards").replaceChildren(card(last.uncompressed, last, true), ...last.results.map((r) => card(r, last, false)));
  $("decisions").replaceChildren(...last.results.filter((r) => r.decision).map((r, i) => candidatesView(r, i)));
}

document.addEventListener("DOMContentLoaded", () => {
  DEFAULT_SETTINGS.forEach(([m, r, b]) => addSettingRow(m, r, b));
  $("add-setting").addEventListener("click", () => addSettingRow("snapkv", 0.5, 16));
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    adminKey = $("admin-key").value.trim();
    if (adminKey) sessionStorage.setItem(KEY_STORAGE, adminKey); else sessionStorage.removeItem(KEY_STORAGE);
    $("admin-key").value = "";
    showKeyState();
  });
  $("inspect-form").addEventListener("submit", inspect);
  $("view").addEventListener("change", draw);
  showKeyState();
});
