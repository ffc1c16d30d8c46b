// The world model page (items per pack, executor success rates, calibration, item search —
// all as of the moment the slider names, from the first run to now) and memory search.
"use strict";
let since = null;

// The slider's range: from the oldest run (or a day ago) to now; 100 is now.
function asOf() {
  const v = Number($("#as-of").value);
  if (v >= 100 || since === null) return null;
  return new Date(since + ((Date.now() - since) * v) / 100);
}

function worldQuery() {
  const t = asOf();
  return t ? `as_of=${encodeURIComponent(t.toISOString())}` : "";
}

function showWorld() {
  api("/api/v1/runs?limit=1000").then(rows => {
    const times = rows.map(r => Date.parse(r.updated)).filter(x => !isNaN(x));
    since = times.length ? Math.min(...times) - 60000 : Date.now() - 86400000;
    loadWorld();
  }).catch(e => { $("#status").textContent = "error: " + e.message; });
}

function loadWorld() {
  const t = asOf();
  $("#as-of-label").textContent = t ? t.toISOString().replace(".000", "") : "now";
  api(`/api/v1/world/stats?${worldQuery()}`).then(s => {
    const packs = $("#packs tbody");
    packs.replaceChildren();
    for (const [pack, n] of Object.entries(s.items)) {
      const tr = packs.insertRow();
      tr.dataset.pack = pack;
      cell(tr, pack); cell(tr, String(n));
    }
    const ex = $("#executors tbody");
    ex.replaceChildren();
    for (const [name, e] of Object.entries(s.executors)) {
      const tr = ex.insertRow();
      tr.dataset.executor = name;
      cell(tr, name); cell(tr, String(e.succeeded)); cell(tr, String(e.failed));
      cell(tr, e.rate === null || e.rate === undefined ? "—" : `${(100 * e.rate).toFixed(0)}%`);
    }
    const c = s.calibration || {};
    $("#calibration").textContent = c.n
      ? `${c.n} forecast(s) scored; Brier ${Number(c.brier).toFixed(3)}, p50 coverage ${(100 * c.p50_coverage).toFixed(0)}%, p90 coverage ${(100 * c.p90_coverage).toFixed(0)}%`
      : "no run has been scored against its forecast yet";
    $("#calibration").dataset.n = String(c.n || 0);
  }).catch(e => { $("#status").textContent = "error: " + e.message; });
  searchWorld();
}

function searchWorld() {
  const q = $("#world-q").value.trim();
  if (!q) return;
  api(`/api/v1/world/query?q=${encodeURIComponent(q)}&k=20&${worldQuery()}`).then(items => {
    const body = $("#world-items tbody");
    body.replaceChildren();
    for (const i of items) {
      const tr = body.insertRow();
      tr.dataset.item = i.id;
      cell(tr, i.id); cell(tr, i.pack); cell(tr, i.title); cell(tr, `${i.votes[0]}↑ ${i.votes[1]}↓`);
    }
  }).catch(e => { $("#status").textContent = "error: " + e.message; });
}

function searchMemory() {
  const q = $("#memory-q").value.trim();
  if (!q) return;
  api(`/api/v1/memory/search?q=${encodeURIComponent(q)}&k=10`)
    .then(hits => Promise.all(hits.map(h => api(`/api/v1/memory/${h.id}`))))
    .then(packets => {
      const body = $("#memory-hits tbody");
      body.replaceChildren();
      for (const p of packets) {
        const tr = body.insertRow();
        tr.dataset.packet = p.id;
        cell(tr, p.kind); cell(tr, p.text || JSON.stringify(p.body).slice(0, 200)); cell(tr, p.at.slice(0, 19).replace("T", " "));
      }
    })
    .catch(e => { $("#status").textContent = "error: " + e.message; });
}

window.addEventListener("DOMContentLoaded", () => {
  $("#as-of").addEventListener("input", loadWorld);
  $("#world-search").addEventListener("submit", e => { e.preventDefault(); searchWorld(); });
  $("#memory-search").addEventListener("submit", e => { e.preventDefault(); searchMemory(); });
});
