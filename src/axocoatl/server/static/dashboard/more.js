// Tokens (spend per agent and per day against budgets), approvals inbox, schedules, MCP.
import { html, useState, useEffect, useRef } from "/static/vendor/htm-preact-standalone.js";
import { api, subscribe, fmtTime, fmtNum } from "/static/api.js";
import { Status, ErrorBox } from "/static/runs.js";

function dayStart(offset) {
  const d = new Date();
  d.setUTCHours(0, 0, 0, 0);
  d.setUTCDate(d.getUTCDate() - offset);
  return d;
}

/** Horizontal bars, one per row: {label, value, budget?}. */
function Bars({ rows, label }) {
  const max = Math.max(1, ...rows.map((r) => Math.max(r.value, r.budget || 0)));
  const W = 600, rowH = 26, left = 130, right = 90;
  const scale = (v) => (v / max) * (W - left - right);
  return html`<svg class="chart" viewBox=${`0 0 ${W} ${rows.length * rowH + 8}`} role="img" aria-label=${label}>
    <title>${label}</title>
    ${rows.map((r, i) => html`<g transform=${`translate(0,${i * rowH + 4})`}>
      <text x=${left - 8} y="15" text-anchor="end">${r.label}</text>
      <rect class=${"bar" + (r.budget && r.value > r.budget ? " over" : "")} x=${left} y="3" height="16" width=${Math.max(1, scale(r.value))} />
      ${r.budget && html`<line class="budget" x1=${left + scale(r.budget)} x2=${left + scale(r.budget)} y1="0" y2="22" />`}
      <text x=${left + scale(Math.max(r.value, r.budget || 0)) + 6} y="15">${fmtNum(r.value)}${r.budget ? ` / ${fmtNum(r.budget)}` : ""}</text>
    </g>`)}
  </svg>`;
}

export function TokensView() {
  const [days, setDays] = useState(null);
  const [agents, setAgents] = useState([]);
  const [error, setError] = useState(null);
  useEffect(() => {
    // The report sums from `since` on: per-day spend is the difference of consecutive days.
    const starts = [...Array(8).keys()].map(dayStart);  // today, yesterday, … 7 days back
    Promise.all([api("/api/agents"), ...starts.map((d) => api("/api/tokens/report", { query: { since: d.toISOString() } }))])
      .then(([list, ...reports]) => {
        setAgents(list);
        const perDay = starts.slice(0, 7).map((d, i) => {
          const later = i === 0 ? null : reports[i - 1];
          const byAgent = {};
          for (const a of reports[i].agents) byAgent[a.agent_id] = a.total - ((later && (later.agents.find((x) => x.agent_id === a.agent_id) || {}).total) || 0);
          return { day: d.toISOString().slice(0, 10), total: reports[i].totals.total - (later ? later.totals.total : 0), byAgent };
        });
        setDays(perDay);
      }, setError);
  }, []);
  if (error) return html`<h2>Tokens</h2><${ErrorBox} error=${error} />`;
  if (!days) return html`<h2>Tokens</h2><p class="muted">Loading…</p>`;
  const today = days[0];
  const budgetRows = agents.map((a) => ({ label: a.id, value: today.byAgent[a.id] || 0, budget: a.token_budget && a.token_budget.per_day }));
  return html`<h2>Tokens</h2>
    <div class="grid2">
      <section class="panel" aria-labelledby="tok-today"><h3 id="tok-today">Today (UTC) per agent, against <code>per_day</code> budgets</h3>
        <${Bars} rows=${budgetRows} label="Tokens spent today per agent; a dashed line marks a daily budget" />
        <p class="muted">A red bar is over its budget; agents without <code>token_budget.per_day</code> have no line.</p></section>
      <section class="panel" aria-labelledby="tok-days"><h3 id="tok-days">Last 7 days</h3>
        <${Bars} rows=${days.map((d) => ({ label: d.day, value: d.total }))} label="Tokens spent per UTC day, all agents" /></section>
    </div>
    <section class="panel"><h3>Per agent and day</h3><div class="scroll" tabindex="0" role="region" aria-label="Tokens per agent and day"><table>
      <thead><tr><th>Agent</th>${days.map((d) => html`<th class="num">${d.day.slice(5)}</th>`)}</tr></thead>
      <tbody>${agents.map((a) => html`<tr><td>${a.id}</td>${days.map((d) => html`<td class="num">${fmtNum(d.byAgent[a.id] || 0)}</td>`)}</tr>`)}</tbody>
    </table></div></section>`;
}

export function ApprovalsView() {
  const [status, setStatus] = useState("pending");
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  // Loads overlap (a filter change, a live event, a decision): only the newest may paint, or a slow
  // answer for the old filter would show under the new one.
  const latest = useRef(0);
  const load = () => {
    const ticket = ++latest.current;
    const fresh = (apply) => (value) => { if (ticket === latest.current) apply(value); };
    return api("/api/approvals", { query: { status } }).then(fresh((l) => { setList(l); setError(null); }), fresh(setError));
  };
  useEffect(() => { load(); }, [status]);
  useEffect(() => subscribe((f) => { if (f.kind === "approval-required" || f.kind === "approval-resolved") load(); }), [status]);
  async function decide(id, decision) {
    try {
      await api(`/api/approvals/${encodeURIComponent(id)}`, { method: "POST", body: { decision } });
      load();
    } catch (err) {
      setError(err);
    }
  }
  return html`<h2>Approvals</h2>
    <section class="panel">
      <div class="row"><label>Show<select name="status" value=${status} onChange=${(e) => setStatus(e.target.value)}>
        ${["pending", "allowed", "denied", ""].map((s) => html`<option value=${s}>${s || "all"}</option>`)}</select></label></div>
      <${ErrorBox} error=${error} />
      ${list && list.length === 0 && html`<p class="muted">No ${status} approval requests. Tools marked <code>requires_approval</code> wait here.</p>`}
      ${list && list.map((a) => html`<article class="toolcard" data-approval=${a.approval_id}>
        <p><strong>${a.tool}</strong> by ${a.agent_id} <${Status} value=${a.status} /> <span class="muted">${fmtTime(a.created_at)}${a.run_id ? ` · run ${a.run_id}` : ""}</span></p>
        ${a.message && html`<p>${a.message}</p>`}
        <pre>${JSON.stringify(a.arguments, null, 2)}</pre>
        ${a.status === "pending" ? html`<div class="row"><button type="button" class="primary" onClick=${() => decide(a.approval_id, "allow")}>Allow</button>
          <button type="button" class="danger" onClick=${() => decide(a.approval_id, "deny")}>Deny</button></div>`
          : html`<p class="muted">${a.decided_by || ""} ${fmtTime(a.decided_at)} ${a.reason || ""}</p>`}
      </article>`)}
    </section>`;
}

export function SchedulesView() {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [note, setNote] = useState(null);
  const load = () => api("/api/schedules").then(setList, setError);
  useEffect(() => { load(); }, []);
  async function act(id, what) {
    setError(null);
    try {
      const result = await api(`/api/schedules/${encodeURIComponent(id)}/${what}`, { method: "POST" });
      if (what === "run" && result.run_id) setNote(html`Started <a href=${"#/runs/" + encodeURIComponent(result.run_id)}>${result.run_id}</a>.`);
      load();
    } catch (err) {
      setError(err);
    }
  }
  return html`<h2>Schedules</h2><section class="panel">
    <${ErrorBox} error=${error} />${note && html`<p class="notice" role="status">${note}</p>`}
    ${list === null ? html`<p class="muted">Loading…</p>` : list.length === 0 ? html`<p class="muted">No schedules in the config (<code>schedules:</code>).</p>` : html`
    <div class="scroll" tabindex="0" role="region" aria-label="Schedules table"><table>
      <thead><tr><th>Schedule</th><th>Runs</th><th>When</th><th>Status</th><th>Next fire</th><th class="num">Runs so far</th><th>Last</th><th>Actions</th></tr></thead>
      <tbody>${list.map((s) => html`<tr><td>${s.name || s.id}</td><td>${s.workflow || s.agent}</td><td class="mono">${s.cron || (s.every ? `every ${s.every}` : "")}</td>
        <td><${Status} value=${s.status} /></td><td>${fmtTime(s.next_fire)}</td><td class="num">${s.run_count}</td><td>${s.last_outcome || ""}</td>
        <td><div class="row"><button type="button" onClick=${() => act(s.id, "run")} aria-label=${"Run now: " + s.id}>Run now</button>
          ${s.status === "paused" ? html`<button type="button" onClick=${() => act(s.id, "resume")}>Resume</button>`
            : html`<button type="button" onClick=${() => act(s.id, "pause")}>Pause</button>`}</div></td></tr>`)}</tbody>
    </table></div>`}</section>`;
}

export function McpView() {
  const [servers, setServers] = useState(null);
  const [tools, setTools] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(null);
  const load = () => Promise.all([api("/api/mcp/servers"), api("/api/mcp/tools")]).then(([s, t]) => { setServers(s); setTools(t); setError(null); }, setError);
  useEffect(() => { load(); }, []);
  async function restart(name) {
    setBusy(name);
    try {
      await api(`/api/mcp/servers/${encodeURIComponent(name)}/restart`, { method: "POST" });
      await load();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  }
  return html`<h2>MCP</h2><${ErrorBox} error=${error} />
    <section class="panel"><h3>Servers</h3>
    ${servers === null ? html`<p class="muted">Loading…</p>` : servers.length === 0 ? html`<p class="muted">No MCP servers configured (<code>mcp.servers</code>).</p>` : html`
    <div class="scroll" tabindex="0" role="region" aria-label="MCP servers"><table>
      <thead><tr><th>Server</th><th>Status</th><th>Transport</th><th class="num">Tools</th><th class="num">Restarts</th><th>Last error</th><th>Actions</th></tr></thead>
      <tbody>${servers.map((s) => html`<tr data-server=${s.name}><td><strong>${s.name}</strong>${s.server_name ? html`<div class="muted">${s.server_name} ${s.protocol_version || ""}</div>` : ""}</td>
        <td><${Status} value=${s.status} /></td><td><span class="mono">${s.transport}</span><div class="muted mono">${s.target}</div></td>
        <td class="num">${s.tool_count}</td><td class="num">${s.restarts}</td><td>${s.last_error || ""}</td>
        <td><button type="button" disabled=${busy === s.name} onClick=${() => restart(s.name)} aria-label=${"Restart: " + s.name}>Restart</button></td></tr>`)}</tbody>
    </table></div>`}</section>
    ${tools.length > 0 && html`<section class="panel"><h3>Tools</h3><div class="scroll" tabindex="0" role="region" aria-label="MCP tools"><table>
      <thead><tr><th>Tool (as agents call it)</th><th>Effect</th><th>Description</th></tr></thead>
      <tbody>${tools.map((t) => html`<tr><td class="mono">${t.name}</td><td>${t.effect}</td><td>${t.description}</td></tr>`)}</tbody>
    </table></div></section>`}`;
}
