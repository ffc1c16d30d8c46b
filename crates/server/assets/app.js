// The dashboard's core: the runs list, approvals answered with a button, a run's tasks live
// over Server-Sent Events, and the views (#runs, #world, #memory). The run page's other
// parts are in run.js, the world and memory pages in world.js. The token comes in the
// page's address (?access_token=…) and goes with every request.
"use strict";
const token = new URLSearchParams(location.search).get("access_token") || "";
const api = (path, opts = {}) =>
  fetch(path, { ...opts, headers: { ...(opts.headers || {}), Authorization: "Bearer " + token } })
    .then(r => r.json().then(body => { if (!r.ok) throw new Error(body.error ? body.error.message : r.status); return body; }));
const $ = sel => document.querySelector(sel);
const cell = (tr, text, cls) => { const td = tr.insertCell(); td.textContent = text; if (cls) td.className = cls; return td; };
let current = null, source = null;

function showRuns(rows) {
  const body = $("#runs tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = body.insertRow();
    tr.dataset.run = r.run;
    cell(tr, r.run.slice(0, 13));
    cell(tr, r.state, r.state).dataset.state = r.state;
    cell(tr, (r.spec || "").split("/").pop());
    tr.onclick = () => openRun(r.run);
  }
}

function showApprovals(tasks) {
  const body = $("#approvals tbody");
  body.replaceChildren();
  for (const t of tasks.filter(t => t.state === "waiting")) {
    const tr = body.insertRow();
    tr.dataset.task = t.id;
    cell(tr, t.id.slice(0, 13));
    cell(tr, (t.payload && t.payload.what) || t.kind);
    const td = tr.insertCell();
    for (const [label, verb] of [["Approve", "approve"], ["Reject", "reject"]]) {
      const b = document.createElement("button");
      b.textContent = label;
      b.dataset[verb] = t.id;
      b.onclick = () => api(`/api/v1/tasks/${t.id}/${verb}`, { method: "POST" }).then(refresh);
      td.append(b, " ");
    }
  }
}

// Runs stopped at an approval gate of their plan (the runs list carries each waiting run's
// gates): one row per gate; a click opens the run, whose page shows the questions and the
// Approve/Reject buttons.
function showRunGates(rows) {
  const body = $("#run-gates tbody");
  body.replaceChildren();
  for (const r of rows) {
    for (const g of r.approval_gates || []) {
      const tr = body.insertRow();
      tr.dataset.run = r.run;
      tr.dataset.gate = g.task;
      cell(tr, r.run.slice(0, 13));
      cell(tr, `${g.task}: ${(g.questions || []).length} open question(s)`);
      tr.onclick = () => openRun(r.run);
    }
  }
}

function refresh() {
  api("/api/v1/runs?limit=50").then(rows => { showRuns(rows); showRunGates(rows); })
    .then(() => { $("#status").textContent = "live"; })
    .catch(e => { $("#status").textContent = "error: " + e.message; });
  api("/api/v1/tasks?kind=l9.approval&limit=50").then(showApprovals).catch(() => {});
  if (current) api(`/api/v1/runs/${current}`).then(showRunView).catch(() => {});
}

function taskRow(task, name, kind) {
  let tr = document.querySelector(`#tasks tr[data-task="${task}"]`);
  if (!tr) {
    tr = $("#tasks tbody").insertRow();
    tr.dataset.task = task;
    tr.dataset.taskName = name;
    cell(tr, name); cell(tr, kind || ""); cell(tr, "running", "leased"); cell(tr, "");
  }
  return tr;
}

function onEvent(e) {
  runEvent(e);
  const li = document.createElement("li");
  li.textContent = `${e.event} ${e.name || e.stage || e.gate || ""} ${e.state || e.decision || ""}`.trim();
  $("#events").append(li);
  if (e.event === "task_started") taskRow(e.task, e.name, e.kind);
  if (e.event === "task_finished") {
    const tr = taskRow(e.task, e.name);
    tr.cells[2].textContent = e.state; tr.cells[2].className = e.state; tr.dataset.state = e.state;
  }
  if (e.event === "gate_finished") {
    const tr = document.querySelector(`#tasks tr[data-task="${e.task}"]`);
    if (tr) tr.cells[3].append(Object.assign(document.createElement("span"),
      { textContent: (e.passed ? "pass " : "FAIL "), className: e.passed ? "pass" : "fail" }));
  }
  if (e.event === "run_finished") { $("#run-state").textContent = e.outcome; refresh(); }
}

function openRun(run) {
  current = run;
  $("#run-panel").hidden = false;
  $("#run-id").textContent = run;
  $("#tasks tbody").replaceChildren();
  $("#events").replaceChildren();
  resetRun();
  if (source) source.close();
  source = new EventSource(`/api/v1/runs/${run}/events?access_token=${encodeURIComponent(token)}`);
  source.onmessage = m => onEvent(JSON.parse(m.data));
  for (const kind of ["run_started", "stage_started", "stage_finished", "task_started", "agent_turn",
    "model_call", "gate_started", "gate_finished", "review_verdict", "merge", "task_finished",
    "budget_update", "waiting", "gate_answered", "escalation", "run_finished"]) {
    source.addEventListener(kind, m => onEvent(JSON.parse(m.data)));
  }
  api(`/api/v1/runs/${run}`).then(showRunView);
}

function route() {
  const view = (location.hash || "#runs").slice(1);
  for (const v of ["runs", "world", "memory"]) {
    $(`#${v}-view`).hidden = v !== view;
    document.querySelector(`nav a[data-nav="${v}"]`).className = v === view ? "on" : "";
  }
  if (view === "world") showWorld();
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  // Links keep the token in the address.
  for (const a of document.querySelectorAll("nav a")) a.href = location.search + a.getAttribute("href");
  route();
  refresh();
  setInterval(refresh, 1000);
});
