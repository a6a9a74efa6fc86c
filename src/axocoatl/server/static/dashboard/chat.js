// Chat with any agent over the shared WebSocket: threads, streamed tokens, tool-call cards, stop.
import { html, useState, useEffect, useRef } from "/static/vendor/htm-preact-standalone.js";
import { api, send, subscribe, fmtTime } from "/static/api.js";
import { ErrorBox } from "/static/runs.js";

const THREAD = /^[A-Za-z0-9_.:-]{1,128}$/;

function ToolCard({ call }) {
  return html`<details class="toolcard" data-tool=${call.name}>
    <summary>tool <strong>${call.name}</strong> · ${call.result === undefined ? "running…" : call.is_error ? "error" : "done"}</summary>
    <pre>${JSON.stringify(call.arguments, null, 2)}</pre>
    ${call.result !== undefined && html`<pre>${typeof call.result === "string" ? call.result : JSON.stringify(call.result, null, 2)}</pre>`}
  </details>`;
}

/** A thread's stored messages as chat items: tool calls become cards, holding their results. */
function historyItems(messages) {
  const items = [];
  const cards = {};
  for (const m of messages) {
    if (m.role === "tool") {
      if (cards[m.tool_call_id]) Object.assign(cards[m.tool_call_id], { result: m.content });
      continue;
    }
    if (m.role !== "user" && m.role !== "assistant") continue;
    if (m.content) items.push({ role: m.role, text: m.content, done: m.role === "assistant" });
    for (const call of m.tool_calls || []) {
      cards[call.id] = { call_id: call.id, name: call.name, arguments: call.arguments };
      items.push({ tool: cards[call.id] });
    }
  }
  return items;
}

export function ChatView({ agentId, threadName }) {
  const [agents, setAgents] = useState([]);
  const [threads, setThreads] = useState([]);
  const thread = threadName || "main";
  const [newThread, setNewThread] = useState("");
  const [items, setItems] = useState([]);  // {role, text} | {tool}
  const [input, setInput] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const logRef = useRef(null);
  const agent = agentId || (agents[0] && agents[0].id) || null;
  // The thread is in the URL (#/chat/AGENT/THREAD): a reload or a shared link opens the same conversation.
  const setThread = (name) => { location.hash = `#/chat/${encodeURIComponent(agent)}/${encodeURIComponent(name)}`; };

  useEffect(() => { api("/api/agents").then(setAgents).catch(setError); }, []);
  function loadThreads() {
    if (agent) api(`/api/agents/${encodeURIComponent(agent)}/threads`).then((t) => setThreads(t.threads)).catch(setError);
  }
  useEffect(() => { loadThreads(); }, [agent]);
  useEffect(() => {
    setItems([]);
    if (!agent) return;
    // The history goes before what was said since it was asked for (a message sent while it loads stays),
    // and only the open thread's history is painted (an older thread's answer arriving late is dropped).
    let open = true;
    api(`/api/agents/${encodeURIComponent(agent)}/threads/${encodeURIComponent(thread)}/messages`, { query: { limit: 200 } })
      .then((history) => { if (open) setItems((live) => [...historyItems(history.messages), ...live]); }, setError);
    return () => { open = false; };
  }, [agent, thread]);
  useEffect(() => { if (logRef.current) logRef.current.scrollTop = logRef.current.scrollHeight; }, [items]);
  useEffect(() => subscribe((f) => {
    if (!f.kind || !f.kind.startsWith("chat-")) return;
    if (f.kind === "chat-token") {
      setItems((list) => {
        const last = list[list.length - 1];
        if (last && last.role === "assistant" && last.streaming) return [...list.slice(0, -1), { ...last, text: last.text + f.delta }];
        return [...list, { role: "assistant", text: f.delta, streaming: true }];
      });
    } else if (f.kind === "chat-tool-start") {
      setItems((list) => [...list, { tool: { call_id: f.call_id, name: f.name, arguments: f.arguments } }]);
    } else if (f.kind === "chat-tool-result") {
      setItems((list) => list.map((it) => (it.tool && it.tool.call_id === f.call_id ? { tool: { ...it.tool, result: f.result, is_error: f.is_error } } : it)));
    } else if (f.kind === "chat-approval") {
      setItems((list) => [...list, { role: "system", text: `${f.tool} waits for approval: ${f.message || ""} (see Approvals)` }]);
    } else if (f.kind === "chat-done") {
      setItems((list) => {
        const last = list[list.length - 1];
        const finished = { role: "assistant", text: f.content, done: true };
        return last && last.role === "assistant" && last.streaming ? [...list.slice(0, -1), finished] : [...list, finished];
      });
      setBusy(false);
      loadThreads();
    } else if (f.kind === "chat-error") {
      setError({ message: f.error, hint: f.hint });
      setBusy(false);
    } else if (f.kind === "chat-stopped") {
      setItems((list) => [...list, { role: "system", text: "stopped (the turn finishes in the background and is kept)" }]);
      setBusy(false);
    }
  }), [agent]);

  function submit(event) {
    event.preventDefault();
    if (!input.trim() || !agent) return;
    setError(null);
    if (!send({ cmd: "chat-turn", agent, content: input, thread })) {
      setError({ message: "not connected to the daemon", hint: "wait for “live” at the top right" });
      return;
    }
    setItems((list) => [...list, { role: "user", text: input }]);
    setInput("");
    setBusy(true);
  }
  function openThread(event) {
    event.preventDefault();
    if (!THREAD.test(newThread)) {
      setError({ message: `“${newThread}” is not a thread name`, hint: "1–128 characters of A-Z a-z 0-9 _ . : -" });
      return;
    }
    setThread(newThread);
    setNewThread("");
  }
  const known = [...new Set(["main", thread, ...threads.map((t) => t.thread)])];
  return html`<h2>Chat</h2>
    <div class="grid2">
    <section class="panel" aria-labelledby="chat-title">
      <h3 id="chat-title">${agent ? `${agent} · thread ${thread}` : "No agents"}</h3>
      <div class="chatlog" ref=${logRef} aria-live="polite" aria-label="Conversation" role="log" tabindex="0" data-testid="chatlog">
        ${items.length === 0 && html`<p class="muted">Nothing in this thread yet: say something to ${agent}.</p>`}
        ${items.map((it) => it.tool ? html`<${ToolCard} call=${it.tool} />`
          : html`<div class=${"msg " + it.role} data-role=${it.role} data-done=${it.done ? "true" : undefined}>${it.text}</div>`)}
      </div>
      <form class="row" onSubmit=${submit} aria-label="Send a message">
        <label class="grow">Message<textarea name="message" rows="2" value=${input} onInput=${(e) => setInput(e.target.value)}
          onKeyDown=${(e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit(e); }}></textarea></label>
        <button class="primary" type="submit" disabled=${busy || !agent}>Send</button>
        <button type="button" disabled=${!busy} onClick=${() => send({ cmd: "chat-stop" })}>Stop</button>
      </form>
      <${ErrorBox} error=${error} />
    </section>
    <section class="panel" aria-labelledby="threads-title">
      <h3 id="threads-title">Agent and thread</h3>
      <label>Agent<select name="agent" value=${agent || ""} onChange=${(e) => { location.hash = "#/chat/" + encodeURIComponent(e.target.value); }}>
        ${agents.map((a) => html`<option value=${a.id}>${a.name || a.id}</option>`)}</select></label>
      <ul>${known.map((t) => {
        const info = threads.find((x) => x.thread === t);
        return html`<li><button type="button" aria-pressed=${t === thread ? "true" : "false"} onClick=${() => setThread(t)}>${t}</button>
          ${info && html` <span class="muted">${info.messages} messages · ${fmtTime(info.last_active)}</span>`}</li>`;
      })}</ul>
      <form class="row" onSubmit=${openThread}><label>New thread<input name="thread" value=${newThread} onInput=${(e) => setNewThread(e.target.value)} /></label>
        <button type="submit">Open</button></form>
    </section>
    </div>`;
}
