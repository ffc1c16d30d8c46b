// The run page beyond its task table: the stage timeline, the plan's task graph with live
// states, each task's gates (FAIL → pass, with their output), evidence per requirement, the
// lineage spec → IR → plan → tasks → gates → merges, cost and duration against the
// forecast, and DORA. Built from the run's view (GET /api/v1/runs/ID) and kept live by its
// events (app.js passes each one to runEvent).
"use strict";
let stages = {}, gates = {}, seen = new Set(), lastView = null;

function resetRun() {
  stages = {}; gates = {}; seen = new Set(); lastView = null;
  for (const id of ["#stages", "#gates", "#lineage", "#escalations tbody"]) $(id).replaceChildren();
  $("#escalations-box").hidden = true;
  $("#graph").replaceChildren();
  for (const id of ["#forecast", "#dora"]) $(`${id} tbody`).replaceChildren();
}

function runEvent(e) {
  if (e.id && seen.has(e.id)) return;
  if (e.id) seen.add(e.id);
  const at = Date.parse(e.at);
  if (e.event === "stage_started") stages[e.stage] = { start: at, end: null };
  if (e.event === "stage_finished") {
    stages[e.stage] = stages[e.stage] || { start: at };
    stages[e.stage].end = at;
    stages[e.stage].summary = e.summary;
    stages[e.stage].failed = !!e.failed;
  }
  if (e.event === "gate_finished") {
    (gates[e.task] = gates[e.task] || []).push(e);
  }
  if (e.event === "escalation") escalated(e);
  if (e.event.startsWith("stage_")) drawStages();
  if (e.event === "gate_finished") drawGates();
  if (e.event.startsWith("task_") && lastView) drawGraph(lastView);
}

// A paused step, answered with a button: it did not happen (run it again) or it did.
function escalated(e) {
  const step = (e.reason.split("`")[1] || "");
  const body = $("#escalations tbody");
  $("#escalations-box").hidden = false;
  const tr = body.insertRow();
  tr.dataset.escalation = e.task;
  cell(tr, e.task.slice(0, 13)); cell(tr, e.reason);
  const td = tr.insertCell();
  if (!step) { td.textContent = e.resolve; return; }
  for (const [label, action] of [["It did not happen: run it again", "rerun"], ["It happened", "done"]]) {
    const b = document.createElement("button");
    b.textContent = label;
    b.dataset.resolve = action;
    b.onclick = () => {
      const answer = { step, action };
      if (action === "done") {
        const text = prompt(`What did ${step} return (JSON)?`, "{}");
        if (text === null) return;
        try { answer.value = JSON.parse(text); } catch (x) { alert("not JSON: " + x.message); return; }
      }
      api(`/api/v1/tasks/${e.task}/resolve`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(answer),
      }).then(() => { tr.remove(); refresh(); }).catch(x => alert(x.message));
    };
    td.append(b, " ");
  }
}

function drawStages() {
  const list = Object.entries(stages);
  if (!list.length) return;
  const t0 = Math.min(...list.map(([, s]) => s.start));
  const t1 = Math.max(...list.map(([, s]) => s.end || Date.now()));
  const span = Math.max(t1 - t0, 1);
  const box = $("#stages");
  box.replaceChildren();
  for (const [name, s] of list) {
    const bar = document.createElement("div");
    bar.className = "bar" + (s.failed ? " failed" : s.end ? " done" : "");
    bar.dataset.stage = name;
    const end = s.end || Date.now();
    bar.style.marginLeft = `${(100 * (s.start - t0)) / span}%`;
    bar.style.width = `${Math.max((100 * (end - s.start)) / span, 0.5)}%`;
    bar.textContent = `${name} ${((end - s.start) / 1000).toFixed(2)} s`;
    bar.title = s.summary || "";
    box.append(bar);
  }
}

function drawGates() {
  const box = $("#gates");
  box.replaceChildren();
  for (const [task, list] of Object.entries(gates)) {
    const row = document.querySelector(`#tasks tr[data-task="${task}"]`);
    const name = (row && row.dataset.taskName) || task.slice(0, 13);
    const d = document.createElement("details");
    d.dataset.gates = name;
    const s = document.createElement("summary");
    s.textContent = `${name}: ` + list.map(g => (g.passed ? "pass" : "FAIL")).join(" → ");
    d.append(s);
    for (const g of list) {
      const p = document.createElement("pre");
      p.textContent = `round ${g.round}: ${g.passed ? "pass" : "FAIL"} (exit ${g.exit_code})\n$ ${g.command || ""}\n${g.output_tail || ""}`;
      d.append(p);
    }
    box.append(d);
  }
}

// The chosen plan: the candidate the result names, or (while running) the one whose tasks
// the run has started.
function chosenPlan(v) {
  const cands = (v.stages && v.stages.candidates) || [];
  // The run's result names it; while the run goes, the simulation's best is the one chosen.
  const ranked = (v.simulation && v.simulation.ranked) || [];
  const chosen = (v.result && v.result.chosen) || (ranked[0] && ranked[0].name);
  const named = cands.find(c => c.plan.strategy.replace(/_/g, "-") === chosen);
  if (named) return named.plan;
  const started = new Set((v.timeline || []).map(t => t.name));
  let best = null, score = -1;
  for (const c of cands) {
    const s = c.plan.tasks.filter(t => started.has(t.id)).length;
    if (s > score) { best = c.plan; score = s; }
  }
  return best;
}

function stateOf(v, id) {
  const row = document.querySelector(`#tasks tr[data-task-name="${CSS.escape(id)}"]`);
  if (row && row.dataset.state) return row.dataset.state;
  const t = (v.timeline || []).find(t => t.name === id);
  return t ? t.state : (row ? "leased" : "planned");
}

function drawGraph(v) {
  const plan = chosenPlan(v);
  const svg = $("#graph");
  if (!plan) return;
  const depth = {};
  const level = id => {
    if (depth[id] !== undefined) return depth[id];
    depth[id] = 0;
    const t = plan.tasks.find(t => t.id === id);
    depth[id] = t && t.deps.length ? 1 + Math.max(...t.deps.map(level)) : 0;
    return depth[id];
  };
  const rows = {};
  const pos = {};
  for (const t of plan.tasks) {
    const l = level(t.id);
    rows[l] = (rows[l] || 0) + 1;
    pos[t.id] = { x: 10 + l * 170, y: 10 + (rows[l] - 1) * 44 };
  }
  const ns = "http://www.w3.org/2000/svg";
  const el = (name, attrs) => { const e = document.createElementNS(ns, name); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; };
  svg.replaceChildren();
  const defs = el("defs", {});
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "6", markerHeight: "6", orient: "auto" });
  marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#888" }));
  defs.append(marker);
  svg.append(defs);
  for (const t of plan.tasks) for (const d of t.deps) {
    if (!pos[d]) continue;
    svg.append(el("line", { x1: pos[d].x + 150, y1: pos[d].y + 15, x2: pos[t.id].x, y2: pos[t.id].y + 15 }));
  }
  for (const t of plan.tasks) {
    const g = el("g", { "data-node": t.id, class: stateOf(v, t.id) });
    g.append(el("rect", { x: pos[t.id].x, y: pos[t.id].y, width: 150, height: 30, rx: 4 }));
    const label = el("text", { x: pos[t.id].x + 6, y: pos[t.id].y + 19 });
    label.textContent = t.id.length > 24 ? t.id.slice(0, 23) + "…" : t.id;
    g.append(label);
    const tip = el("title", {});
    tip.textContent = `${t.title} — ${stateOf(v, t.id)}`;
    g.append(tip);
    svg.append(g);
  }
  const w = Math.max(...Object.values(pos).map(p => p.x)) + 170;
  const h = Math.max(...Object.values(pos).map(p => p.y)) + 44;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
}

function drawLineage(v) {
  const l = v.lineage;
  const box = $("#lineage");
  box.replaceChildren();
  if (!l) return;
  const node = (kind, text) => {
    const n = document.createElement("span");
    n.className = "node"; n.dataset.lineage = kind; n.textContent = text;
    return n;
  };
  const arrow = () => Object.assign(document.createElement("span"), { className: "arrow", textContent: "→" });
  box.append(node("spec", "spec " + (l.spec || "?").slice(0, 8)), arrow(), node("ir", "IR " + (l.ir || "?").slice(0, 8)),
    arrow(), node("plan", "plan " + (l.plan || "?").slice(0, 8)), arrow());
  for (const t of l.tasks) {
    const row = (v.timeline || []).find(x => x.task === t.task);
    const n = node("task", `${row ? row.name : t.task.slice(0, 8)}: ${t.gates} gate(s) → merge ${(t.merge || "—").slice(0, 8)} ${t.linked ? "✓" : "✗"}`);
    box.append(n);
  }
  box.append(node("complete", l.complete ? "lineage complete ✓" : "lineage incomplete ✗"));
}

function tableRows(sel, rows) {
  const body = $(`${sel} tbody`);
  body.replaceChildren();
  for (const [label, a, b, key] of rows) {
    const tr = body.insertRow();
    tr.dataset.row = key;
    cell(tr, label); cell(tr, a); cell(tr, b);
  }
}

function drawForecast(v) {
  const r = v.result || {};
  const f = r.forecast, x = r.execution, d = r.dora;
  if (!f) return;
  const spent = (x && x.spent) || {};
  const minutes = d ? d.lead_time_minutes : null;
  tableRows("#forecast", [
    ["success", `${(100 * f.success).toFixed(0)}%`, r.outcome || v.state, "success"],
    ["cost", `$${f.expected_cost_usd.toFixed(2)}`, spent.micro_usd !== undefined ? `$${(spent.micro_usd / 1e6).toFixed(2)}` : "—", "cost"],
    ["tokens", Math.round(f.expected_tokens).toLocaleString(), spent.tokens !== undefined ? spent.tokens.toLocaleString() : "—", "tokens"],
    ["duration", `${f.makespan_p50_h.toFixed(1)} h (p50), ${f.makespan_p90_h.toFixed(1)} h (p90)`, minutes !== null ? `${minutes.toFixed(2)} min` : "—", "duration"],
    ["retries", f.expected_retries.toFixed(1), x && x.tasks ? String(x.tasks.reduce((n, t) => n + Math.max(t.attempts - 1, 0), 0)) : "—", "retries"],
  ]);
  if (d) {
    const pct = p => (p === null || p === undefined ? "—" : `${(100 * p).toFixed(0)}%`);
    tableRows("#dora", [
      ["lead time", d.forecast_lead_time_h !== null ? `${d.forecast_lead_time_h.toFixed(1)} h` : "—", `${d.lead_time_minutes.toFixed(2)} min`, "lead_time"],
      ["change failure rate", pct(d.forecast_change_failure_rate), pct(d.change_failure_rate), "change_failure_rate"],
      ["time to restore", "—", d.time_to_restore_minutes !== null ? `${d.time_to_restore_minutes.toFixed(2)} min` : "—", "time_to_restore"],
      ["merges", "—", String((d.merged || []).length), "merges"],
    ]);
  }
}

// The tasks of the run's plan at an approval gate (the questions its deliberation asked),
// each approved or rejected with a button; the run goes on on the server's worker.
function showApprovalGates(v) {
  const body = $("#approval-gates tbody");
  body.replaceChildren();
  const gates = v.approval_gates || [];
  for (const g of gates) {
    const tr = body.insertRow();
    tr.dataset.gate = g.task;
    cell(tr, g.task);
    const qs = g.questions || [];
    const more = qs.length > 10 ? `\n… ${qs.length - 10} more (l9 show ${v.run})` : "";
    cell(tr, qs.slice(0, 10).map(q => `${q.id} ${q.text}`).join("\n") + more);
    const td = tr.insertCell();
    for (const [label, verb] of [["Approve", "approve"], ["Reject", "reject"]]) {
      const b = document.createElement("button");
      b.textContent = label;
      b.dataset[verb + "Gate"] = g.task;
      b.onclick = () => {
        const answer = { gate: g.task };
        if (verb === "reject") {
          const why = prompt(`Why is ${g.task} rejected?`, "");
          if (why === null) return;
          answer.note = why;
        }
        api(`/api/v1/tasks/${v.run}/${verb}`, {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(answer),
        }).then(() => { tr.remove(); refresh(); }).catch(x => alert(x.message));
      };
      td.append(b, " ");
    }
  }
  $("#approval-box").hidden = !gates.length;
}

function showRunView(v) {
  lastView = v;
  $("#run-state").textContent = v.state;
  $("#run-state").className = v.state;
  showApprovalGates(v);
  for (const e of v.events || []) runEvent(e);
  // An escalation is answered while its task waits; after that it is history (Events).
  for (const tr of document.querySelectorAll("#escalations tr[data-escalation]")) {
    const t = (v.timeline || []).find(t => t.task === tr.dataset.escalation);
    if ((t && t.state !== "waiting") || (!t && v.state !== "waiting")) tr.remove();
  }
  $("#escalations-box").hidden = !document.querySelector("#escalations tr[data-escalation]");
  drawGraph(v);
  drawLineage(v);
  drawForecast(v);
  const body = $("#evidence tbody");
  body.replaceChildren();
  const ev = v.evidence;
  if (!ev) return;
  for (const [req, idx] of Object.entries(ev.requirements)) {
    for (const i of idx) {
      const e = ev.evidence[i];
      const tr = body.insertRow();
      tr.dataset.requirement = req;
      cell(tr, req); cell(tr, e.passed ? "✓" : "✗", e.passed ? "pass" : "fail");
      cell(tr, e.command); cell(tr, String(e.exit_code));
    }
  }
}
