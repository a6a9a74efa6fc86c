// Agents: status and supervision with a restart button; one agent's memory (blocks, search, daily log).
import { html, useState, useEffect } from "/static/vendor/htm-preact-standalone.js";
import { api, subscribe, fmtTime, fmtNum } from "/static/api.js";
import { Status, ErrorBox } from "/static/runs.js";

export function AgentsView() {
  const [agents, setAgents] = useState(null);
  const [status, setStatus] = useState({});
  const [error, setError] = useState(null);
  async function load() {
    try {
      const list = await api("/api/agents");
      setAgents(list);
      const all = await Promise.all(list.map((a) => api(`/api/agents/${encodeURIComponent(a.id)}/status`)));
      setStatus(Object.fromEntries(all.map((s) => [s.agent_id, s])));
    } catch (err) {
      setError(err);
    }
  }
  useEffect(() => { load(); }, []);
  useEffect(() => subscribe((f) => {
    if (f.kind === "agent-status" && f.agent) setStatus((s) => ({ ...s, [f.agent_id]: f.agent }));
    if (f.kind === "snapshot") setStatus((s) => ({ ...s, ...Object.fromEntries((f.agents || []).map((a) => [a.agent_id, a])) }));
  }), []);
  async function restart(id) {
    try {
      await api(`/api/agents/${encodeURIComponent(id)}/restart`, { method: "POST" });
      const fresh = await api(`/api/agents/${encodeURIComponent(id)}/status`);
      setStatus((s) => ({ ...s, [id]: fresh }));
    } catch (err) {
      setError(err);
    }
  }
  return html`<h2>Agents</h2>
    <${ErrorBox} error=${error} />
    <section class="panel">
    ${agents === null ? html`<p class="muted">Loading…</p>` : html`
    <div class="scroll" tabindex="0" role="region" aria-label="Agents table"><table>
      <thead><tr><th>Agent</th><th>Status</th><th class="hide-narrow">Model</th><th class="num">Turns</th><th class="num">Tokens</th><th class="num">Restarts</th><th class="hide-narrow">Last error</th><th><span class="hide-narrow">Actions</span></th></tr></thead>
      <tbody>${agents.map((a) => {
        const s = status[a.id] || {};
        const sup = s.supervision || {};
        return html`<tr data-agent=${a.id}>
          <td><a href=${"#/agents/" + encodeURIComponent(a.id)}>${a.name || a.id}</a>${a.depends_on.length ? html`<div class="muted">after ${a.depends_on.join(", ")}</div>` : ""}</td>
          <td>${s.status && html`<${Status} value=${s.status} />`}</td>
          <td class="hide-narrow">${a.provider}${a.model ? "/" + a.model : ""}</td>
          <td class="num">${fmtNum(s.turns)}</td><td class="num">${s.usage ? fmtNum(s.usage.total) : ""}</td>
          <td class="num">${fmtNum(sup.restarts || 0)}${sup.gave_up ? " (gave up)" : ""}</td>
          <td class="hide-narrow">${s.last_error || sup.last_reason || ""}</td>
          <td><div class="row"><button type="button" onClick=${() => restart(a.id)} aria-label=${"Restart " + a.id}>Restart</button>
            <a href=${"#/chat/" + encodeURIComponent(a.id)}>Chat</a></div></td></tr>`;
      })}</tbody></table></div>`}
    </section>`;
}

function Block({ agentId, block, onSaved }) {
  const [value, setValue] = useState(block.value);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => { setValue(block.value); }, [block.value]);
  const id = `block-${block.label}`;
  async function save(event) {
    event.preventDefault();
    setError(null);
    setSaved(false);
    try {
      const updated = await api(`/api/agents/${encodeURIComponent(agentId)}/memory/blocks/${encodeURIComponent(block.label)}`, { method: "PUT", body: { value } });
      setSaved(true);
      onSaved(updated);
    } catch (err) {
      setError(err);
    }
  }
  const over = block.limit && value.length > block.limit;
  return html`<form class="block" onSubmit=${save} data-block=${block.label}>
    <label for=${id}><strong>${block.label}</strong>${block.shared ? " · shared" : ""}${block.description ? ` — ${block.description}` : ""}</label>
    <textarea id=${id} name=${block.label} value=${value} onInput=${(e) => { setValue(e.target.value); setSaved(false); }}></textarea>
    <div class="row"><span class=${over ? "error" : "muted"}>${value.length}${block.limit ? ` / ${block.limit}` : ""} characters</span>
      <button type="submit" class="primary" disabled=${value === block.value}>Save ${block.label}</button>
      ${saved && html`<span role="status" class="s-completed">saved</span>`}</div>
    <${ErrorBox} error=${error} />
  </form>`;
}

function Search({ agentId }) {
  const [query, setQuery] = useState("");
  const [found, setFound] = useState(null);
  const [error, setError] = useState(null);
  async function search(event) {
    event.preventDefault();
    setError(null);
    try {
      setFound(await api(`/api/agents/${encodeURIComponent(agentId)}/memory/search`, { query: { q: query, k: 10 } }));
    } catch (err) {
      setError(err);
    }
  }
  return html`<form class="row" onSubmit=${search} role="search" aria-label="Search semantic memory">
      <label class="grow">Search memory by meaning<input name="q" required value=${query} onInput=${(e) => setQuery(e.target.value)} /></label>
      <button type="submit">Search</button></form>
    <${ErrorBox} error=${error} />
    ${found && (found.count === 0 ? html`<p class="muted">Nothing found.</p>` : html`<ol>${found.results.map((r) => html`<li><span class="mono">${r.score.toFixed(3)}</span> <span class="muted">${fmtTime(r.timestamp)}</span><pre>${r.text}</pre></li>`)}</ol>`)}`;
}

function DailyLog({ agentId }) {
  const today = new Date().toLocaleDateString("en-CA");  // YYYY-MM-DD, local day like the daemon's
  const [day, setDay] = useState(today);
  const [log, setLog] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api(`/api/agents/${encodeURIComponent(agentId)}/memory/log`, { query: { date: day, limit: 100 } }).then((l) => { setLog(l); setError(null); }, setError);
  }, [agentId, day]);
  return html`<div class="row"><label>Day<input type="date" name="date" value=${day} onChange=${(e) => setDay(e.target.value || today)} /></label>
      ${log && html`<span class="muted">${log.count} of ${log.total} entries</span>`}</div>
    <${ErrorBox} error=${error} />
    ${log && log.entries.length === 0 && html`<p class="muted">No activity logged that day.</p>`}
    ${log && log.entries.slice().reverse().map((e) => html`<details class="toolcard"><summary><strong>${e.type}</strong> · ${fmtTime(e.timestamp)}</summary><pre>${typeof e.content === "string" ? e.content : JSON.stringify(e.content, null, 2)}</pre></details>`)}`;
}

export function AgentView({ agentId }) {
  const [agent, setAgent] = useState(null);
  const [status, setStatus] = useState(null);
  const [blocks, setBlocks] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api("/api/agents").then((list) => setAgent(list.find((a) => a.id === agentId) || null)).catch(setError);
    api(`/api/agents/${encodeURIComponent(agentId)}/status`).then(setStatus).catch(setError);
    api(`/api/agents/${encodeURIComponent(agentId)}/memory/blocks`).then(setBlocks).catch(setError);
  }, [agentId]);
  useEffect(() => subscribe((f) => { if (f.kind === "agent-status" && f.agent_id === agentId) setStatus(f.agent); }), [agentId]);
  const saved = (updated) => setBlocks((list) => list.map((b) => (b.label === updated.label ? updated : b)));
  return html`<p><a href="#/agents">← All agents</a></p>
    <h2>Agent ${agentId} ${status && html`<${Status} value=${status.status} />`}</h2>
    <${ErrorBox} error=${error} />
    ${agent && html`<p class="muted">${[agent.role, agent.provider + (agent.model ? "/" + agent.model : ""), "tools: " + (agent.tools.join(", ") || "none"),
      ...(status ? [`${fmtNum(status.turns)} turns`, `${fmtNum(status.usage.total)} tokens`, `${status.supervision ? status.supervision.restarts : 0} restarts`] : [])].filter(Boolean).join(" · ")}
      ${" · "}<a href=${"#/chat/" + encodeURIComponent(agentId)}>Chat with it</a></p>`}
    <div class="grid2">
      <section class="panel" aria-labelledby="blocks-title"><h3 id="blocks-title">Core memory blocks</h3>
        ${blocks === null ? html`<p class="muted">Loading…</p>` : blocks.length === 0
          ? html`<p class="muted">No core blocks (add <code>memory.core.blocks</code> to this agent).</p>`
          : blocks.map((b) => html`<${Block} key=${b.label} agentId=${agentId} block=${b} onSaved=${saved} />`)}
      </section>
      <div>
        <section class="panel" aria-labelledby="search-title"><h3 id="search-title">Semantic memory</h3><${Search} agentId=${agentId} /></section>
        <section class="panel" aria-labelledby="log-title"><h3 id="log-title">Daily log</h3><${DailyLog} agentId=${agentId} /></section>
      </div>
    </div>`;
}
