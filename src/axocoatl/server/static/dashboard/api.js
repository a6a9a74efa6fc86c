// Talking to the daemon: JSON over fetch (the session cookie rides along: same origin), and one
// WebSocket shared by every view, subscribed to all runs and agents.

export class ApiError extends Error {
  constructor(status, error, hint) {
    super(error);
    this.status = status;
    this.hint = hint;
  }
}

const listeners = new Set();
/** Called with 401 responses, so the app can show the login form. */
export const onUnauthorized = new Set();

export async function api(path, { method = "GET", body, query } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
    const text = params.toString();
    if (text) url += "?" + text;
  }
  const init = { method, headers: { accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (!response.ok) {
    if (response.status === 401) onUnauthorized.forEach((f) => f());
    throw new ApiError(response.status, (data && data.error) || response.statusText, data && data.hint);
  }
  return data;
}

let paths = null;
/** The API's routes from /openapi.json: views offer an action only when the daemon has it. */
export async function apiPaths() {
  if (paths === null) {
    try {
      const doc = await api("/openapi.json");
      paths = doc.paths || {};
    } catch {
      paths = {};
    }
  }
  return paths;
}
export function hasRoute(all, path, method) {
  return Boolean(all[path] && all[path][method]);
}

// ------------------------------------------------------------------------------ the WebSocket

export const socket = { state: "connecting", ws: null, ready: null, retries: 0 };

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
function emit(frame) {
  for (const fn of [...listeners]) {
    try { fn(frame); } catch (err) { console.warn("dashboard listener failed", err); }
  }
}

export function send(command) {
  if (socket.ws && socket.ws.readyState === WebSocket.OPEN) {
    socket.ws.send(JSON.stringify(command));
    return true;
  }
  return false;
}

export function connect() {
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url);
  socket.ws = ws;
  socket.state = "connecting";
  emit({ kind: "_conn", state: "connecting" });
  ws.addEventListener("open", () => {
    socket.retries = 0;
    ws.send(JSON.stringify({ cmd: "subscribe", runs: "*", agents: "*" }));
  });
  ws.addEventListener("message", (message) => {
    let frame;
    try { frame = JSON.parse(message.data); } catch { return; }
    if (frame.kind === "ready") {
      socket.state = "open";
      socket.ready = frame;
      emit({ kind: "_conn", state: "open" });
    } else if (frame.kind === "lagged") {
      ws.send(JSON.stringify({ cmd: "subscribe", runs: "*", agents: "*" }));
    }
    emit(frame);
  });
  ws.addEventListener("close", () => {
    if (socket.ws !== ws) return;
    socket.state = "closed";
    emit({ kind: "_conn", state: "closed" });
    if (socket.stopped) return;
    socket.retries += 1;
    setTimeout(connect, Math.min(10000, 500 * 2 ** Math.min(socket.retries, 5)));
  });
}

export function disconnect() {
  socket.stopped = true;
  if (socket.ws) socket.ws.close();
}

// ------------------------------------------------------------------------------ formatting

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
export function fmtDuration(start, end) {
  if (!start) return "";
  const ms = (end ? new Date(end) : new Date()) - new Date(start);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}
export function fmtNum(n) {
  return n === null || n === undefined ? "" : Number(n).toLocaleString("en-US");
}
