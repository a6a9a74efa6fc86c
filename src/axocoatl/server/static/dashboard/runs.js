// Runs: the filterable list, and a run's page with its live lattice graph, steps and actions.
import { html, useState, useEffect, useMemo, useRef } from "/static/vendor/htm-preact-standalone.js";
import { api, apiPaths, hasRoute, subscribe, fmtTime, fmtDuration, fmtNum } from "/static/api.js";

export function Status({ value }) {
  return html`<span class=${"badge s-" + value}>${String(value).replace("_", " ")}</span>`;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${error.message || String(error)}${error.hint ? html` — <span>${error.hint}</span>` : ""}</p>`;
}

function useDebounced(fn, ms) {
  const timer = useRef(null);
  return () => {
    clearTimeout(timer.current);
    timer.current = setTimeout(fn, ms);
  };
}

function StartRun({ workflows }) {
  const [workflow, setWorkflow] = useState("");
  const [input, setInput] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const chosen = workflow || (workflows[0] && workflows[0].id) || "";
  async function start(event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const started = await api(`/api/workflows/${encodeURIComponent(chosen)}/execute`, { method: "POST", body: { input } });
      location.hash = `#/runs/${encodeURIComponent(started.run_id)}`;
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  if (!workflows.length) return html`<p class="muted">No workflows in the config: add one under <code>workflows:</code> to run it from here.</p>`;
  return html`<form class="row" onSubmit=${start} aria-label="Start a run">
    <label>Workflow<select name="workflow" value=${chosen} onChange=${(e) => setWorkflow(e.target.value)}>
      ${workflows.map((w) => html`<option value=${w.id}>${w.name || w.id}</option>`)}
    </select></label>
    <label class="grow">Task<input name="input" required value=${input} onInput=${(e) => setInput(e.target.value)} placeholder="what the entry agents get" /></label>
    <button class="primary" type="submit" disabled=${busy}>Run workflow</button>
    <${ErrorBox} error=${error} />
  </form>`;
}

export function RunsView() {
  const [runs, setRuns] = useState(null);
  const [workflows, setWorkflows] = useState([]);
  const [filter, setFilter] = useState({ workflow: "", status: "", trigger: "" });
  const [error, setError] = useState(null);
  async function load() {
    try {
      setRuns(await api("/api/runs", { query: { limit: 100, workflow: filter.workflow, status: filter.status } }));
      setError(null);
    } catch (err) {
      setError(err);
    }
  }
  const reload = useDebounced(load, 250);
  useEffect(() => { api("/api/workflows").then(setWorkflows).catch(setError); }, []);
  useEffect(() => { load(); }, [filter.workflow, filter.status]);
  useEffect(() => subscribe((f) => { if (f.kind === "run-status" || f.kind === "step-status") reload(); }), [filter.workflow, filter.status]);
  const triggers = useMemo(() => [...new Set((runs || []).map((r) => r.trigger))].sort(), [runs]);
  const shown = (runs || []).filter((r) => !filter.trigger || r.trigger === filter.trigger);
  const set = (key) => (e) => setFilter({ ...filter, [key]: e.target.value });
  return html`
    <h2>Runs</h2>
    <section class="panel"><h3>Start a run</h3><${StartRun} workflows=${workflows} /></section>
    <section class="panel">
      <h3>Recent runs</h3>
      <form class="row" aria-label="Filter runs" onSubmit=${(e) => e.preventDefault()}>
        <label>Workflow<select name="workflow" value=${filter.workflow} onChange=${set("workflow")}>
          <option value="">any</option>${workflows.map((w) => html`<option value=${w.id}>${w.id}</option>`)}
        </select></label>
        <label>Status<select name="status" value=${filter.status} onChange=${set("status")}>
          <option value="">any</option>${["running", "waiting", "completed", "failed", "interrupted", "cancelled"].map((s) => html`<option value=${s}>${s}</option>`)}
        </select></label>
        <label>Trigger<select name="trigger" value=${filter.trigger} onChange=${set("trigger")}>
          <option value="">any</option>${triggers.map((t) => html`<option value=${t}>${t}</option>`)}
        </select></label>
      </form>
      <${ErrorBox} error=${error} />
      ${runs === null ? html`<p class="muted">Loading…</p>` : shown.length === 0 ? html`<p class="muted">No runs match.</p>` : html`
      <div class="scroll" tabindex="0" role="region" aria-label="Runs table">
      <table>
        <thead><tr><th>Run</th><th>Workflow</th><th>Status</th><th>Trigger</th><th class="num">Steps</th><th>Started</th><th class="hide-narrow">Took</th></tr></thead>
        <tbody>${shown.map((r) => html`<tr>
          <td><a class="mono" href=${"#/runs/" + encodeURIComponent(r.run_id)}>${r.run_id}</a></td>
          <td>${r.workflow_id}</td><td><${Status} value=${r.status} /></td><td>${r.trigger}</td>
          <td class="num">${r.steps_completed}/${r.steps_total}</td><td>${fmtTime(r.started_at)}</td>
          <td class="hide-narrow">${fmtDuration(r.started_at, r.finished_at)}</td></tr>`)}
        </tbody>
      </table></div>`}
    </section>`;
}

// ------------------------------------------------------------------------------ the lattice graph

const NODE_W = 160, NODE_H = 64, GAP_X = 70, GAP_Y = 24, PAD = 20;

/** The step keys of a run and what each depends on, from its planned lattice (GET /api/runs/{id}/graph).
 *  A map's item steps (agent[i]) are not lattice nodes: they sit with their map agent. */
export function dependencies(stepIds, graph) {
  const nodes = Object.fromEntries(((graph && graph.nodes) || []).map((n) => [n.id, n]));
  const inRun = new Set(stepIds);
  const deps = {};
  for (const id of stepIds) {
    const node = nodes[id] || nodes[id.split("[")[0]];
    deps[id] = node ? [...new Set(node.inputs.map((i) => i.from))].filter((d) => inRun.has(d) && d !== id) : [];
  }
  return { nodes, deps };
}

/** Agents laid out by dependency layers: an agent sits one column right of its deepest dependency. */
export function layout(stepIds, deps) {
  const layer = {};
  const depth = (id, seen = new Set()) => {
    if (layer[id] !== undefined) return layer[id];
    if (seen.has(id)) return 0;  // a cycle: the lattice caps it; draw it flat
    seen.add(id);
    layer[id] = deps[id].length ? 1 + Math.max(...deps[id].map((d) => depth(d, seen))) : 0;
    return layer[id];
  };
  stepIds.forEach((id) => depth(id));
  const columns = [];
  stepIds.forEach((id) => { (columns[layer[id]] = columns[layer[id]] || []).push(id); });
  const rows = Math.max(1, ...columns.map((c) => c.length));
  const height = PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y;
  const pos = {};
  columns.forEach((column, x) => {
    const offset = (height - (column.length * NODE_H + (column.length - 1) * GAP_Y)) / 2;
    column.forEach((id, y) => { pos[id] = { x: PAD + x * (NODE_W + GAP_X), y: offset + y * (NODE_H + GAP_Y) }; });
  });
  const width = PAD * 2 + columns.length * NODE_W + Math.max(0, columns.length - 1) * GAP_X;
  return { pos, width, height };
}

const round = (x) => Math.round(x * 100) / 100;

/** How far a node's activation signal has come toward its threshold: the summed strengths of its
 *  producers that completed (the plan's subscriptions); entry nodes fire on the input. */
export function signal(step, node, statusOf) {
  if (!node || node.entry || !node.inputs.length) {
    return { level: step.status !== "pending" ? 1 : 0, threshold: 1 };
  }
  const strength = {};
  for (const input of node.inputs) strength[input.from] = Math.max(strength[input.from] || 0, input.strength);
  const level = Object.entries(strength).filter(([from]) => statusOf[from] === "completed").reduce((sum, [, v]) => sum + v, 0);
  return { level: round(level), threshold: round(node.threshold) };
}

function Graph({ run, graph, pulses, selected, onSelect }) {
  const ids = run.steps.map((s) => s.agent_id);
  const { nodes, deps } = dependencies(ids, graph);
  const { pos, width, height } = layout(ids, deps);
  const statusOf = Object.fromEntries(run.steps.map((s) => [s.agent_id, s.status]));
  const described = run.steps.map((s) => `${s.agent_id}: ${s.status}`).join(", ");
  return html`<svg class="lattice" viewBox=${`0 0 ${width} ${height}`} role="group" aria-label=${"Lattice graph: " + described}>
    ${ids.flatMap((id) => deps[id].map((d) => {
      const a = pos[d], b = pos[id];
      const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2, mx = (x1 + x2) / 2;
      return html`<path class=${"edge" + (statusOf[d] === "completed" ? " done" : "")} d=${`M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 6},${y2}`} marker-end="url(#arrow)" />`;
    }))}
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#9aa3b3" /></marker></defs>
    ${run.steps.map((step) => {
      const p = pos[step.agent_id];
      const sig = signal(step, nodes[step.agent_id], statusOf);
      const trackW = NODE_W - 20;
      const fillW = Math.min(1, sig.threshold ? sig.level / sig.threshold : 0) * trackW;
      const pulse = pulses[step.agent_id];
      const open = () => onSelect(step.agent_id);
      const name = step.agent_id.length > 19 ? step.agent_id.slice(0, 18) + "…" : step.agent_id;
      const sub = step.status.replace("_", " ") + (step.attempts > 1 ? ` · ${step.attempts} attempts` : "");
      return html`<g key=${step.agent_id + ":" + (pulse || 0)} class=${`node st-${step.status}${pulse ? " pulse" : ""}`}
          data-agent=${step.agent_id} data-status=${step.status} transform=${`translate(${p.x},${p.y})`}
          tabindex="0" role="button" aria-pressed=${selected === step.agent_id ? "true" : "false"}
          onClick=${open} onKeyDown=${(e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } }}>
        <rect class="halo" x="-2" y="-2" width=${NODE_W + 4} height=${NODE_H + 4} rx="9" />
        <rect class="box" width=${NODE_W} height=${NODE_H} rx="7" />
        <text x="10" y="20">${name}</text>
        <text class="sub" x="10" y="36">${sub}</text>
        <text class="sub" x=${NODE_W - 10} y="36" text-anchor="end">signal ${sig.level}/${sig.threshold}</text>
        <rect class="track" x="10" y="46" width=${trackW} height="7" rx="3" />
        <rect class="fill" x="10" y="46" width=${fillW} height="7" rx="3" />
        <line class="threshold" x1=${10 + trackW} x2=${10 + trackW} y1="43" y2="56" />
      </g>`;
    })}
  </svg>
  <div class="legend" aria-hidden="true"><span class="s-pending">■ pending</span><span class="s-running">■ running</span>
    <span class="s-completed">■ completed</span><span class="s-failed">■ failed</span><span class="s-skipped">■ skipped</span>
    <span>bar: signal toward the threshold (mark)</span></div>`;
}

function StepDetail({ run, agentId, live, toolCalls }) {
  const step = run.steps.find((s) => s.agent_id === agentId);
  if (!step) return html`<p class="muted">No step “${agentId}” in this run.</p>`;
  const calls = (toolCalls || []).filter((c) => c.agent_id === agentId);
  return html`<section class="panel" aria-labelledby="step-title">
    <h3 id="step-title">Step ${agentId}</h3>
    <p><${Status} value=${step.status} /> · ${step.attempts} attempt${step.attempts === 1 ? "" : "s"}
      ${step.tokens && ` · ${fmtNum(step.tokens.input)} in / ${fmtNum(step.tokens.output)} out tokens`}
      ${step.started_at && ` · ${fmtDuration(step.started_at, step.finished_at)}`}</p>
    ${step.status === "waiting" && step.question && html`<${AnswerForm} run=${run} step=${step} />`}
    ${step.answer && html`<h4>Answer</h4><pre>${step.answer}</pre>`}
    ${step.reused_from && html`<p class="muted">Reused from run ${step.reused_from} (no LLM call).</p>`}
    ${step.error && html`<h4>Error</h4><pre class="error">${step.error}</pre>`}
    <h4>Input</h4><pre>${step.input || "(not started)"}</pre>
    <h4>Output</h4><pre data-testid="step-output">${step.output || live || (step.status === "running" ? "…" : "(none)")}</pre>
    ${calls.length > 0 && html`<h4>Tool calls</h4>${calls.map((c) => html`<details class="toolcard"><summary><strong>${c.name}</strong> · ${c.status}${c.is_error ? " · error" : ""}</summary>
      <pre>${JSON.stringify(c.arguments, null, 2)}</pre><pre>${typeof c.result === "string" ? c.result : JSON.stringify(c.result, null, 2)}</pre></details>`)}`}
    <${ForkForm} run=${run} step=${step} />
  </section>`;
}

function usePaths() {
  const [paths, setPaths] = useState({});
  useEffect(() => { apiPaths().then(setPaths); }, []);
  return paths;
}

const RUN_PATH = "/api/runs/{run_id}";
const goToRun = (result) => { if (result && result.run_id) location.hash = `#/runs/${encodeURIComponent(result.run_id)}`; };

async function runAction(runId, action, body) {
  return api(`/api/runs/${encodeURIComponent(runId)}/${action}`, { method: "POST", body });
}

function RunActions({ run, onChanged }) {
  const paths = usePaths();
  const [error, setError] = useState(null);
  async function act(path) {
    setError(null);
    try {
      await runAction(run.run_id, path);
      onChanged();
    } catch (err) {
      setError(err);
    }
  }
  const resumable = ["failed", "interrupted", "cancelled"].includes(run.status);
  const cancelable = ["running", "waiting", "interrupted"].includes(run.status);
  return html`<div class="row" role="group" aria-label="Run actions">
    ${hasRoute(paths, RUN_PATH + "/resume", "post") && html`<button type="button" disabled=${!resumable} onClick=${() => act("resume")}
      title=${resumable ? "finish the run (completed steps are not run again)" : "only a failed, interrupted or cancelled run resumes"}>Resume</button>`}
    ${hasRoute(paths, RUN_PATH + "/cancel", "post") && cancelable && html`<button type="button" class="danger" onClick=${() => act("cancel")}
      title="stop its running steps (committed steps stay; Resume continues it)">Cancel</button>`}
    ${run.parent_run_id && html`<span class="muted">${run.relation === "fork" ? "forked from " : "started from "}<a href=${"#/runs/" + encodeURIComponent(run.parent_run_id)}>${run.parent_run_id}</a>${run.parent_step ? ` at ${run.parent_step}` : ""}</span>`}
    <${ErrorBox} error=${error} />
  </div>`;
}

/** A step waiting for a human (an interrupt): its question and the answer form. */
function AnswerForm({ run, step }) {
  const paths = usePaths();
  const [answer, setAnswer] = useState("");
  const [error, setError] = useState(null);
  if (!hasRoute(paths, RUN_PATH + "/answer", "post")) return null;
  async function submit(event) {
    event.preventDefault();
    setError(null);
    try {
      await runAction(run.run_id, "answer", { answer, step: step.agent_id });
      setAnswer("");
    } catch (err) {
      setError(err);
    }
  }
  const id = `answer-${step.agent_id}`;
  return html`<form class="notice" onSubmit=${submit} aria-label=${"Answer " + step.agent_id}>
    <label for=${id}><strong>${step.agent_id} waits for an answer:</strong> ${step.question}</label>
    ${step.wait_until && html`<p class="muted">until ${fmtTime(step.wait_until)}</p>`}
    <textarea id=${id} name="answer" required value=${answer} onInput=${(e) => setAnswer(e.target.value)}></textarea>
    <div class="row"><button type="submit" class="primary">Send answer</button></div>
    <${ErrorBox} error=${error} />
  </form>`;
}

/** Fork the run at a step: a new run reuses the steps before it and runs this one and what follows again. */
function ForkForm({ run, step }) {
  const paths = usePaths();
  const [input, setInput] = useState("");
  const [error, setError] = useState(null);
  if (!hasRoute(paths, RUN_PATH + "/fork", "post") || step.status !== "completed" && step.status !== "failed") return null;
  async function submit(event) {
    event.preventDefault();
    setError(null);
    try {
      goToRun(await runAction(run.run_id, "fork", input ? { from_step: step.agent_id, input } : { from_step: step.agent_id }));
    } catch (err) {
      setError(err);
    }
  }
  return html`<form class="row" onSubmit=${submit} aria-label=${"Fork from " + step.agent_id}>
    <label class="grow">New input (optional: default the run's)<input name="fork-input" value=${input} onInput=${(e) => setInput(e.target.value)} /></label>
    <button type="submit">Fork from ${step.agent_id}</button>
    <${ErrorBox} error=${error} />
  </form>`;
}

/** A coordinator run's plan: its subtasks (worker, score, attempts) and every auction round's bids. */
function CoordinatorPlan({ plan }) {
  return html`<section class="panel" aria-labelledby="plan-title">
    <h3 id="plan-title">Coordinator plan</h3>
    <p class="muted">${plan.coordinator} · ${plan.source} · root task ${plan.root}</p>
    <div class="scroll" tabindex="0" role="region" aria-label="Subtasks"><table>
      <thead><tr><th>Subtask</th><th>Status</th><th>Worker</th><th class="num">Score</th><th class="num">Attempts</th><th class="num">Tokens in/out</th><th>After</th></tr></thead>
      <tbody>${plan.tasks.map((t) => html`<tr data-task=${t.id}><td><strong>${t.id}</strong><div class="muted">${t.description}</div></td>
        <td><${Status} value=${t.status} /></td><td>${t.worker || ""}${t.adhoc ? " (ad hoc)" : ""}</td>
        <td class="num">${t.score === null ? "" : t.score}</td><td class="num">${t.attempts.length}</td>
        <td class="num">${fmtNum(t.tokens.input)} / ${fmtNum(t.tokens.output)}</td><td>${t.after.join(", ")}</td></tr>`)}</tbody>
    </table></div>
    ${plan.bids.length > 0 && html`<h4>Auction</h4><div class="scroll" tabindex="0" role="region" aria-label="Bids"><table>
      <thead><tr><th class="num">Round</th><th>Subtask</th><th>Winner</th><th>Bids</th></tr></thead>
      <tbody>${plan.bids.map((b) => html`<tr><td class="num">${b.round}</td><td>${b.task}${b.attempt > 1 ? ` (attempt ${b.attempt})` : ""}</td>
        <td>${b.winner || "none"}${b.adhoc ? " (ad hoc)" : ""}</td><td>${b.bids.map((x) => `${x.worker} ${x.score}`).join(" · ")}</td></tr>`)}</tbody>
    </table></div>`}
  </section>`;
}

export function RunView({ runId, step }) {
  const [run, setRun] = useState(null);
  const [graph, setGraph] = useState(null);
  const [error, setError] = useState(null);
  const [pulses, setPulses] = useState({});
  const [live, setLive] = useState({});
  const [toolCalls, setToolCalls] = useState([]);
  const [events, setEvents] = useState([]);
  async function load() {
    try {
      const [record, calls] = await Promise.all([api(`/api/runs/${encodeURIComponent(runId)}`), api(`/api/runs/${encodeURIComponent(runId)}/tool-calls`)]);
      setRun(record);
      setToolCalls(calls);
      setError(null);
    } catch (err) {
      setError(err);
    }
  }
  const reload = useDebounced(load, 150);
  useEffect(() => {
    setRun(null); setLive({}); setEvents([]);
    load();
    api(`/api/runs/${encodeURIComponent(runId)}/graph`).then(setGraph).catch(setError);
    api("/api/events/recent", { query: { run: runId, limit: 200 } }).then(setEvents).catch(() => {});
  }, [runId]);
  useEffect(() => subscribe((f) => {
    if (f.run_id !== runId && !(f.kind === "snapshot")) return;
    if (f.kind === "snapshot") {
      const mine = (f.runs || []).find((r) => r.run_id === runId);
      if (mine) setRun(mine);
    } else if (f.kind === "step-status") {
      setRun((r) => r && { ...r, steps: r.steps.map((s) => (s.agent_id === f.agent_id
        ? { ...s, status: f.status, output: f.output ?? s.output, error: f.error ?? s.error, tokens: f.tokens ?? s.tokens } : s)) });
      reload();
    } else if (f.kind === "run-status") {
      setRun((r) => r && { ...r, status: f.status, error: f.error });
      reload();
    } else if (f.kind === "token") {
      setLive((l) => ({ ...l, [f.agent_id]: (l[f.agent_id] || "") + f.delta }));
    } else if ((f.kind === "tool-call" && f.phase === "result") || f.kind.startsWith("coordinator-") || f.kind === "subtask") {
      reload();
    } else if (f.kind === "event") {
      setEvents((list) => [...list.slice(-199), f]);
      if (f.agent_id) setPulses((p) => ({ ...p, [f.agent_id]: (p[f.agent_id] || 0) + 1 }));
    }
  }), [runId]);

  if (error && !run) return html`<h2>Run ${runId}</h2><${ErrorBox} error=${error} /><p><a href="#/runs">All runs</a></p>`;
  if (!run) return html`<h2>Run ${runId}</h2><p class="muted">Loading…</p>`;
  const select = (agent) => { location.hash = `#/runs/${encodeURIComponent(runId)}/${encodeURIComponent(agent)}`; };
  return html`
    <p><a href="#/runs">← All runs</a></p>
    <h2>Run <span class="mono">${run.run_id}</span> <span data-testid="run-status"><${Status} value=${run.status} /></span></h2>
    <p class="muted">${run.workflow_id} · ${run.trigger} · started ${fmtTime(run.started_at)}${run.finished_at ? ` · took ${fmtDuration(run.started_at, run.finished_at)}` : ""}</p>
    <${RunActions} run=${run} onChanged=${load} />
    ${run.error && html`<p class="error">${run.error}</p>`}
    ${run.steps.filter((s) => s.status === "waiting" && s.question && s.agent_id !== step).map((s) => html`<${AnswerForm} key=${s.agent_id} run=${run} step=${s} />`)}
    <div class="grid2">
      <div>
        <section class="panel"><h3>Lattice</h3>
          <${Graph} run=${run} graph=${graph} pulses=${pulses} selected=${step} onSelect=${select} /></section>
        ${run.plan && html`<${CoordinatorPlan} plan=${run.plan} />`}
        <section class="panel"><h3>Steps</h3>
          <div class="scroll" tabindex="0" role="region" aria-label="Steps table"><table>
          <thead><tr><th>Agent</th><th>Status</th><th class="num">Attempts</th><th class="num">Tokens in/out</th><th>Started</th><th class="num">Took</th></tr></thead>
          <tbody>${run.steps.map((s) => html`<tr class=${s.agent_id === step ? "sel" : ""}>
            <td><a href=${`#/runs/${encodeURIComponent(runId)}/${encodeURIComponent(s.agent_id)}`}>${s.agent_id}</a></td>
            <td><${Status} value=${s.status} /></td><td class="num">${s.attempts}</td>
            <td class="num">${s.tokens ? `${fmtNum(s.tokens.input)} / ${fmtNum(s.tokens.output)}` : ""}</td>
            <td>${fmtTime(s.started_at)}</td><td class="num">${fmtDuration(s.started_at, s.finished_at)}</td></tr>`)}</tbody>
          </table></div>
          ${run.final_output && html`<h4>Final output</h4><pre data-testid="final-output">${run.final_output}</pre>`}
        </section>
      </div>
      <div>
        ${step ? html`<${StepDetail} run=${run} agentId=${step} live=${live[step]} toolCalls=${toolCalls} />`
          : html`<section class="panel"><h3>Step</h3><p class="muted">Select an agent in the graph or the table to see its input, output and tool calls.</p></section>`}
        <section class="panel"><h3>Events</h3>
          <div class="scroll" tabindex="0" role="region" aria-label="Events of this run"><table><thead><tr><th>Type</th><th>Agent</th><th>At</th></tr></thead>
          <tbody>${events.slice(-30).reverse().map((e) => html`<tr><td>${e.type}</td><td>${e.agent_id || e.produced_by || ""}</td><td>${fmtTime(typeof e.timestamp === "number" ? new Date(e.timestamp * 1000).toISOString() : e.timestamp)}</td></tr>`)}</tbody></table></div>
        </section>
      </div>
    </div>`;
}
