// The dashboard's shell: login, navigation (hash routes, so a reload keeps the view), connection state.
import { html, render, useState, useEffect } from "/static/vendor/htm-preact-standalone.js";
import { api, connect, disconnect, onUnauthorized, socket, subscribe } from "/static/api.js";
import { RunsView, RunView } from "/static/runs.js";
import { AgentsView, AgentView } from "/static/agents.js";
import { ChatView } from "/static/chat.js";
import { TokensView, ApprovalsView, SchedulesView, McpView } from "/static/more.js";

const NAV = [
  ["runs", "Runs"],
  ["agents", "Agents"],
  ["chat", "Chat"],
  ["tokens", "Tokens"],
  ["approvals", "Approvals"],
  ["schedules", "Schedules"],
  ["mcp", "MCP"],
];

function parseRoute() {
  const decode = (part) => { try { return decodeURIComponent(part); } catch { return part; } };  // a hand-typed "%"
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decode);
  return { view: parts[0] || "runs", id: parts[1] || null, rest: parts.slice(2) };
}

function useRoute() {
  const [route, setRoute] = useState(parseRoute());
  useEffect(() => {
    const update = () => setRoute(parseRoute());
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}

function Login({ onDone, expired }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api("/login", { method: "POST", body: { key } });
      setKey("");
      onDone();
    } catch (err) {
      setError(err.message + (err.hint ? ` — ${err.hint}` : ""));
    } finally {
      setBusy(false);
    }
  }
  return html`<main id="main" class="login">
    <section class="panel">
      <h2>Log in to axocoatl</h2>
      ${expired && html`<p class="notice">Your session has ended: log in again.</p>`}
      <p class="muted">This daemon needs a key (one of <code>server.auth.api_keys</code> or <code>bearer_tokens</code>).
        It is sent once, in the request body; the browser then keeps only a session cookie.</p>
      <form onSubmit=${submit}>
        <label>API key<input type="password" name="key" autocomplete="current-password" required
          value=${key} onInput=${(e) => setKey(e.target.value)} /></label>
        <button class="primary" type="submit" disabled=${busy}>Log in</button>
        ${error && html`<p class="error" role="alert">${error}</p>`}
      </form>
    </section>
  </main>`;
}

function Connection({ session, onLogout }) {
  const [state, setState] = useState(socket.state);
  useEffect(() => subscribe((f) => f.kind === "_conn" && setState(f.state)), []);
  const label = { open: "live", connecting: "connecting…", closed: "reconnecting…" }[state] || state;
  async function logout() {
    await api("/logout", { method: "POST" }).catch(() => {});
    onLogout();
  }
  return html`<div class="conn">
    <span role="status" aria-live="polite"><span class=${"dot" + (state === "open" ? " on" : "")}></span>${label}</span>
    <a href="/docs" class="hide-narrow">API docs</a>
    ${session.auth_required && html`<button type="button" onClick=${logout}>Log out</button>`}
  </div>`;
}

function View({ route }) {
  switch (route.view) {
    case "runs": return route.id ? html`<${RunView} runId=${route.id} step=${route.rest[0] || null} />` : html`<${RunsView} />`;
    case "agents": return route.id ? html`<${AgentView} agentId=${route.id} />` : html`<${AgentsView} />`;
    case "chat": return html`<${ChatView} agentId=${route.id} threadName=${route.rest[0] || null} />`;
    case "tokens": return html`<${TokensView} />`;
    case "approvals": return html`<${ApprovalsView} />`;
    case "schedules": return html`<${SchedulesView} />`;
    case "mcp": return html`<${McpView} />`;
    default: return html`<p class="error">No view “${route.view}”. <a href="#/runs">Go to the runs.</a></p>`;
  }
}

function App() {
  const route = useRoute();
  const [session, setSession] = useState(null);
  const [expired, setExpired] = useState(false);
  const [loadError, setLoadError] = useState(null);

  async function load() {
    try {
      setSession(await api("/session"));
      setLoadError(null);
    } catch (err) {
      setLoadError(err.message);
    }
  }
  useEffect(() => {
    load();
    const lost = () => { setExpired(true); setSession((s) => ({ ...(s || {}), auth_required: true, authenticated: false })); };
    onUnauthorized.add(lost);
    return () => onUnauthorized.delete(lost);
  }, []);
  const authed = session && session.authenticated;
  useEffect(() => {
    if (!authed) return undefined;
    socket.stopped = false;
    connect();
    return () => disconnect();
  }, [authed]);
  useEffect(() => {
    const name = NAV.find(([id]) => id === route.view);
    document.title = `${name ? name[1] : "axocoatl"} · axocoatl`;
  }, [route.view]);

  if (loadError) return html`<main id="main"><p class="error" role="alert">The daemon did not answer: ${loadError}</p></main>`;
  if (!session) return html`<main id="main"><p class="boot">Loading…</p></main>`;
  if (!authed) return html`<${Login} expired=${expired} onDone=${() => { setExpired(false); load(); }} />`;
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById("main").focus(); }}>Skip to content</a>
    <header class="top">
      <h1>axocoatl</h1>
      <nav aria-label="Views"><ul>
        ${NAV.map(([id, label]) => html`<li><a href=${"#/" + id} aria-current=${route.view === id ? "page" : undefined}>${label}</a></li>`)}
      </ul></nav>
      <${Connection} session=${session} onLogout=${() => { setExpired(false); load(); }} />
    </header>
    <main id="main" tabindex="-1"><${View} route=${route} /></main>`;
}

const root = document.getElementById("app");
root.textContent = "";  // the no-JavaScript notice
render(html`<${App} />`, root);
