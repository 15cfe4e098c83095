// The console: a router over /ui/* paths, one function per page, every
// read and action through the admin API. The admin token, when the server
// asks for one, lives in this tab's sessionStorage and goes out as a
// bearer header only.

import { drawGraph, hasTasks, nodeName } from "/ui/assets/graph.js";

const TOKEN_KEY = "swirl-admin-token";
// JSON longer than this is shown cut, with a button for the rest.
const JSON_PREVIEW = 20000;
// Timeline rows drawn at most; the rest are counted.
const TIMELINE_ROWS = 400;
const POLL_MS = 2000;
// Dead letters listed on the events page, oldest first.
const LETTERS_SHOWN = 50;

let timer = null;
let generation = 0;

class Unauthorized extends Error {}

// ---- DOM ----

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    // Through the CSSOM: the page's policy refuses inline style attributes.
    else if (key === "style") for (const [name, v] of Object.entries(value)) node.style.setProperty(name, v);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const link = (href, text, attrs = {}) => h("a", { href, ...attrs }, text);
const statusBadge = (status) => h("span", { class: `status ${status}`, "data-status": status }, status);
const uiPath = (...parts) => "/ui/" + parts.map(encodeURIComponent).join("/");

function when(text) {
  if (!text) return "";
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toLocaleString();
}

function ms(value) {
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60000) return `${(value / 1000).toFixed(value < 10000 ? 2 : 1)} s`;
  return `${(value / 60000).toFixed(1)} min`;
}

// JSON, cut at JSON_PREVIEW characters with a button that shows all of it.
const jsonView = (value, label) => textView(JSON.stringify(value, null, 2) ?? "null", label);

function textView(text, label) {
  if (text.length <= JSON_PREVIEW) return h("pre", { "aria-label": label }, text);
  const pre = h("pre", { "aria-label": label }, text.slice(0, JSON_PREVIEW) + "\n…");
  const more = h("button", { type: "button", class: "secondary", onclick: () => {
    pre.textContent = text;
    more.remove();
  } }, `Show all ${(text.length / 1024).toFixed(0)} KiB`);
  return h("div", {}, h("p", { class: "muted" }, `${text.length.toLocaleString()} characters; the first ${JSON_PREVIEW.toLocaleString()} shown.`), pre, more);
}

// ---- API ----

async function api(path, options = {}) {
  const headers = { accept: "application/json", ...(options.headers || {}) };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 || response.status === 403) throw new Unauthorized();
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!response.ok) {
    const message = body && body.error ? body.error : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return body;
}

// A button's click handler: the request, then the page drawn again; a
// refusal is shown in the element `errorId`.
const action = (method, path, errorId) => async (event) => {
  event.target.disabled = true;
  try {
    await api(path, { method, headers: { "content-type": "application/json" } });
    await refresh();
  } catch (error) {
    if (error instanceof Unauthorized) return askToken();
    document.getElementById(errorId).textContent = error.message;
    event.target.disabled = false;
  }
};

// ---- routing ----

const routes = [
  [/^\/ui\/?$/, instancesPage],
  [/^\/ui\/instances\/?$/, instancesPage],
  [/^\/ui\/instances\/([^/]+)$/, instancePage],
  [/^\/ui\/workflows\/?$/, workflowsPage],
  [/^\/ui\/workflows\/([^/]+)$/, workflowPage],
  [/^\/ui\/functions\/?$/, functionsPage],
  [/^\/ui\/functions\/([^/]+)$/, functionPage],
  [/^\/ui\/events\/?$/, eventsPage],
];

function navigate(href) {
  history.pushState(null, "", href);
  render();
}

async function render() {
  clearTimeout(timer);
  const mine = ++generation;
  const main = document.getElementById("main");
  const path = location.pathname;
  for (const a of document.querySelectorAll("header nav a")) {
    const section = a.getAttribute("href");
    const here = path.startsWith(section) || (section === "/ui/instances" && /^\/ui\/?$/.test(path));
    if (here) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const found = routes.map(([pattern, page]) => [path.match(pattern), page]).find(([match]) => match);
  try {
    if (!found) throw new Error(`no console page at ${path}`);
    const [match, page] = found;
    const params = match.slice(1).map(decodeURIComponent);
    const content = await page(...params, new URLSearchParams(location.search), mine);
    if (mine !== generation) return;
    document.getElementById("login").hidden = true;
    main.replaceChildren(...[content].flat(Infinity).filter((node) => node !== null && node !== undefined));
  } catch (error) {
    if (mine !== generation) return;
    if (error instanceof Unauthorized) return askToken();
    main.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { class: "error", role: "alert" }, error.message));
  }
  document.getElementById("forget").hidden = !sessionStorage.getItem(TOKEN_KEY);
}

// While the page stays the one shown, asks `look` every POLL_MS for a
// summary of what the page shows, and draws the page again only when that
// changed: a redraw would close what the reader opened.
function watch(mine, shown, look) {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    if (mine !== generation) return;
    let now;
    try { now = await look(); } catch { now = null; }
    if (mine !== generation) return;
    if (now !== null && now !== shown) refresh(); else watch(mine, shown, look);
  }, POLL_MS);
}

// A refresh keeps the focus and the scroll where they were.
async function refresh() {
  const focused = document.activeElement && document.activeElement.id;
  const y = window.scrollY;
  await render();
  window.scrollTo(0, y);
  if (focused) document.getElementById(focused)?.focus();
}

function askToken() {
  const form = document.getElementById("login");
  const had = sessionStorage.getItem(TOKEN_KEY);
  document.getElementById("login-error").textContent = had ? "The server refused that token." : "";
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById("main").replaceChildren();
  form.hidden = false;
  document.getElementById("token").focus();
}

// ---- pages ----

const STATUSES = ["running", "waiting", "suspended", "completed", "failed", "cancelled"];

async function instancesPage(query, mine) {
  const workflow = query.get("workflow") || "";
  const status = query.get("status") || "";
  const cursor = query.get("cursor") || "";
  const back = query.getAll("back");
  // Without inputs and outputs, which the list does not show and which may
  // be megabytes each.
  const list = new URLSearchParams({ limit: "50", view: "summary" });
  if (workflow) list.set("workflow", workflow);
  if (status) list.set("status", status);
  if (cursor) list.set("cursor", cursor);
  const [page, counts, workflows] = await Promise.all([
    api(`/instances?${list}`), api("/instance-counts"), api("/workflows"),
  ]);
  const pageUrl = (changes) => {
    const next = new URLSearchParams();
    const values = { workflow, status, ...changes };
    for (const key of ["workflow", "status", "cursor"]) if (values[key]) next.set(key, values[key]);
    for (const b of values.back || []) next.append("back", b);
    const text = next.toString();
    return "/ui/instances" + (text ? `?${text}` : "");
  };
  const filters = h("form", { class: "bar", role: "search", onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    navigate(pageUrl({ workflow: data.get("workflow"), status: data.get("status"), cursor: "", back: [] }));
  } },
    h("label", {}, "Workflow", h("select", { name: "workflow", id: "filter-workflow" },
      h("option", { value: "" }, "all"),
      workflows.map((w) => h("option", { value: w.id, selected: w.id === workflow }, w.id)))),
    h("label", {}, "Status", h("select", { name: "status", id: "filter-status" },
      h("option", { value: "" }, "any"),
      STATUSES.map((s) => h("option", { value: s, selected: s === status }, s)))),
    h("button", { type: "submit", id: "apply-filters" }, "Filter"));
  const total = STATUSES.reduce((sum, s) => sum + (counts[s] || 0), 0);
  const summary = h("ul", { class: "counts", "aria-label": "instances by status" },
    h("li", {}, link(pageUrl({ status: "", cursor: "", back: [] }), `all ${total}`, { "aria-current": status ? "false" : "true" })),
    STATUSES.map((s) => h("li", {}, link(pageUrl({ status: s, cursor: "", back: [] }), `${s} ${counts[s] || 0}`,
      { "aria-current": s === status ? "true" : "false", "data-count": s }))));
  const rows = page.instances.map((i) => h("tr", { "data-instance": i.id },
    h("td", { class: "id mono" }, link(uiPath("instances", i.id), i.id)),
    h("td", {}, link(uiPath("workflows", i.workflowId), i.workflowId)),
    h("td", {}, statusBadge(i.status)),
    h("td", { class: "wide" }, (i.states || []).join(", ")),
    h("td", { class: "wide" }, when(i.createdAt)),
    h("td", {}, when(i.updatedAt))));
  const table = page.instances.length
    ? h("div", { class: "scroll" }, h("table", { id: "instances" },
        h("thead", {}, h("tr", {}, ["Instance", "Workflow", "Status", "State", "Started", "Updated"].map((t, n) =>
          h("th", { scope: "col", class: n === 3 || n === 4 ? "wide" : undefined }, t)))),
        h("tbody", {}, rows)))
    : h("p", { class: "muted" }, "No instances match.");
  const paging = h("div", { class: "actions" },
    back.length || cursor
      ? link(pageUrl({ cursor: back[back.length - 1] || "", back: back.slice(0, -1) }), "← Newer")
      : null,
    page.nextCursor ? link(pageUrl({ cursor: page.nextCursor, back: [...back, cursor] }), "Older →", { id: "next-page" }) : null);
  // While some instance may still change, the counts (kept by the server,
  // cheap to read) say when: a start, an end, a suspend all move them.
  if (["running", "waiting", "suspended"].some((s) => (counts[s] || 0) > 0)) {
    watch(mine, JSON.stringify(counts), async () => JSON.stringify(await api("/instance-counts")));
  }
  return [h("h1", {}, "Instances"), summary, filters, table, paging];
}

// Spans of the history: states from entered to left, action calls from
// start to finish (each attempt), timers from set to fired. Spans still
// open last until `end`; they are running unless the instance ended.
function spans(history, end, ended) {
  const out = [];
  const open = new Map();
  const close = (key, at, extra = {}) => {
    const span = open.get(key);
    if (span) { span.end = at; Object.assign(span, extra); open.delete(key); }
  };
  for (const entry of history) {
    const at = entry.atMs;
    switch (entry.kind) {
      case "stateEntered": {
        const span = { label: entry.state, kind: "state", start: at, state: entry.state };
        open.set(`s:${entry.state}`, span); out.push(span); break;
      }
      case "stateLeft": close(`s:${entry.state}`, at); break;
      // A 1.0 task: its state is named by the task's pointer.
      case "taskStarted": {
        const span = { label: entry.task, kind: "state", start: at, state: entry.reference };
        open.set(`s:${entry.reference}`, span); out.push(span); break;
      }
      case "taskCompleted": close(`s:${entry.reference}`, at); break;
      case "actionStarted": {
        const span = { label: `${entry.function} #${entry.attempt}`, kind: "action", start: at, state: entry.state };
        open.set(`a:${entry.state}:${entry.function}:${entry.attempt}`, span); out.push(span); break;
      }
      case "actionFinished": close(`a:${entry.state}:${entry.function}:${entry.attempt}`, at); break;
      case "actionFailed":
        close(`a:${entry.state}:${entry.function}:${entry.attempt}`, at, { failed: true, error: entry.error }); break;
      case "timerSet": {
        const span = { label: `${entry.state}: ${entry.purpose}`, kind: "wait", start: at, state: entry.state };
        open.set(`t:${entry.state}:${entry.purpose}`, span); out.push(span); break;
      }
      case "timerFired": close(`t:${entry.state}:${entry.purpose}`, at); break;
      default: break;
    }
  }
  for (const span of out) if (span.end === undefined) { span.end = end; span.open = !ended; }
  return out;
}

function timeline(history, instance) {
  if (!history.length) return h("p", { class: "muted" }, "No history yet.");
  const first = history[0].atMs;
  const final = ["completed", "failed", "cancelled"].includes(instance.status);
  const last = final ? history[history.length - 1].atMs : Math.max(Date.now(), history[history.length - 1].atMs);
  const all = spans(history, last, final);
  const total = Math.max(1, last - first);
  const shown = all.slice(0, TIMELINE_ROWS);
  const rows = shown.map((span) => {
    const left = ((span.start - first) / total) * 100;
    const width = ((span.end - span.start) / total) * 100;
    const classes = ["span", span.kind, span.failed ? "failed" : "", span.open ? "open" : ""].join(" ");
    const took = span.open ? `${ms(span.end - span.start)}…` : ms(span.end - span.start);
    const title = `${span.label}: ${took}${span.error ? ` — ${span.error.name}: ${span.error.message}` : ""}`;
    return h("li", { "data-span": span.kind, "data-state": span.state },
      h("span", { class: "label", title: span.label }, span.kind === "state" ? span.label : `  ${span.label}`),
      h("span", { class: "track", title },
        h("span", { class: classes, style: { left: `${left.toFixed(3)}%`, width: `${width.toFixed(3)}%` } })),
      h("span", { class: "took" }, took));
  });
  return h("div", {},
    h("div", { class: "legend" },
      h("span", { style: { "--swatch": "#0b5cad" } }, "state"), h("span", { style: { "--swatch": "#4a8fd4" } }, "action call"),
      h("span", { style: { "--swatch": "#b3261e" } }, "failed call"), h("span", { style: { "--swatch": "#d9a300" } }, "timer (wait, retry)"),
      h("span", {}, `${ms(total)} in all`)),
    h("ol", { class: "timeline", id: "timeline", "aria-label": "timeline" }, rows),
    all.length > shown.length ? h("p", { class: "muted" }, `${all.length - shown.length} more spans not drawn; the full history is below.`) : null);
}

async function instancePage(id, _query, mine) {
  const instance = await api(`/instances/${encodeURIComponent(id)}`);
  const [history, graph, now] = await Promise.all([
    api(`/instances/${encodeURIComponent(id)}/history`),
    api(`/workflows/${encodeURIComponent(instance.workflowId)}/graph`).catch(() => null),
    api(`/instances/${encodeURIComponent(id)}/data`).catch(() => null),
  ]);
  const threads = (now && now.threads) || [];
  const final = ["completed", "failed", "cancelled"].includes(instance.status);
  const act = (verb) => action("POST", `/instances/${encodeURIComponent(id)}/${verb}`, "action-error");
  const actions = h("div", { class: "actions" },
    h("button", { type: "button", id: "cancel", class: "danger", disabled: final, onclick: act("cancel") }, "Cancel"),
    h("button", { type: "button", id: "suspend", class: "secondary", disabled: final || instance.status === "suspended", onclick: act("suspend") }, "Suspend"),
    h("button", { type: "button", id: "resume", class: "secondary", disabled: instance.status !== "suspended", onclick: act("resume") }, "Resume"),
    h("span", { id: "action-error", class: "error", role: "alert" }));
  const facts = h("dl", { class: "facts" },
    h("dt", {}, "Status"), h("dd", { id: "status" }, statusBadge(instance.status)),
    h("dt", {}, "Workflow"), h("dd", {}, link(uiPath("workflows", instance.workflowId), instance.workflowId)),
    h("dt", {}, "State"), h("dd", { id: "current-states" }, (instance.states || []).join(", ") || "—"),
    h("dt", {}, "Started"), h("dd", {}, when(instance.createdAt)),
    h("dt", {}, "Updated"), h("dd", {}, when(instance.updatedAt)),
    instance.parentId ? [h("dt", {}, "Parent"), h("dd", {}, link(uiPath("instances", instance.parentId), instance.parentId))] : null);
  const past = history
    .filter((e) => e.kind === "stateEntered" || e.kind === "taskStarted")
    .map((e) => e.state || e.reference);
  const marks = { current: final ? [] : instance.states || [], past, failed: instance.error && instance.error.state };
  const error = instance.error
    ? h("section", { id: "error", "aria-label": "error" }, h("h2", {}, "Error"),
        h("p", { class: "error" }, h("strong", {}, instance.error.name), `: ${instance.error.message}`,
          instance.error.state ? ` (in state ${instance.error.state})` : ""),
        instance.error.details !== undefined ? jsonView(instance.error.details, "error details") : null)
    : null;
  if (!final) {
    const look = async () => {
      const latest = await api(`/instances/${encodeURIComponent(id)}`);
      return `${latest.status} ${latest.updatedAt}`;
    };
    watch(mine, `${instance.status} ${instance.updatedAt}`, look);
  }
  return [
    h("h1", {}, "Instance ", h("span", { class: "mono", id: "instance-id" }, instance.id)),
    facts, actions, error,
    h("h2", {}, "Timeline"), timeline(history, instance),
    h("h2", {}, "Graph"),
    graph ? h("div", { class: "graph", id: "graph" }, drawGraph(graph, marks)) : h("p", { class: "muted" }, "The workflow is no longer deployed."),
    h("div", { class: "grid2" },
      h("section", {}, h("h2", {}, "Input"), jsonView(instance.input, "input")),
      threads.map((thread) => h("section", { class: "data" },
        h("h2", { title: thread.state }, "Data in ", nodeName(thread.state)), h("p", { class: "muted" }, `since ${when(thread.enteredAt)}`),
        jsonView(thread.data, `data in ${thread.state}`))),
      h("section", {}, h("h2", {}, "Output"), "output" in instance ? jsonView(instance.output, "output") : h("p", { class: "muted" }, "None yet."))),
    h("details", {}, h("summary", {}, `History (${history.length} entries)`), jsonView(history, "history")),
  ];
}

async function workflowsPage() {
  const workflows = await api("/workflows");
  return [h("h1", {}, "Workflows"),
    workflows.length ? h("div", { class: "scroll" }, h("table", { id: "workflows" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Id"), h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Version"), h("th", { scope: "col" }, "Instances"))),
      h("tbody", {}, workflows.map((w) => h("tr", { "data-workflow": w.id },
        h("td", { class: "id mono" }, link(uiPath("workflows", w.id), w.id)),
        h("td", {}, w.name || ""), h("td", {}, w.version || ""),
        h("td", {}, link(`/ui/instances?workflow=${encodeURIComponent(w.id)}`, "instances")))))))
      : h("p", { class: "muted" }, "No workflow is deployed.")];
}

async function workflowPage(id) {
  const at = `/workflows/${encodeURIComponent(id)}`;
  const [definition, graph, source] = await Promise.all([api(at), api(`${at}/graph`), api(`${at}/source`)]);
  const functions = [...new Set(graph.nodes.flatMap((n) => n.calls || []))];
  const resources = new Map((definition.functions || []).map((f) => [f.name, f.resource]));
  return [
    h("h1", {}, "Workflow ", h("span", { class: "mono" }, id)),
    h("dl", { class: "facts" },
      h("dt", {}, "Name"), h("dd", {}, definition.name || "—"),
      h("dt", {}, "Version"), h("dd", { id: "version" }, definition.version || "—"),
      h("dt", {}, hasTasks(graph) ? "Tasks" : "States"), h("dd", { id: "node-count" }, String(graph.nodes.length)),
      h("dt", {}, "Functions"), h("dd", {}, functions.length
        ? functions.map((f, i) => [i ? ", " : "", link(uiPath("functions", resources.get(f) || f), f)]).flat()
        : "—"),
      h("dt", {}, "Instances"), h("dd", {}, link(`/ui/instances?workflow=${encodeURIComponent(id)}`, "list"))),
    h("h2", {}, "Graph"),
    h("div", { class: "graph", id: "graph" }, drawGraph(graph)),
    h("p", { class: "muted" }, "Solid: transitions and choices; dashed red: error routes; thick blue: parallel branches and foreach iterations. A dot above marks the start, a ringed dot an end."),
    h("h2", {}, "Source ", h("span", { class: "muted mono" }, source.fileName || "")),
    h("div", { id: "source" }, textView(source.source, "source")),
    h("details", {}, h("summary", {}, "As v0.1 JSON (the model the engine runs)"), jsonView(definition, "definition")),
  ];
}

async function functionsPage() {
  const functions = await api("/functions");
  return [h("h1", {}, "Functions"),
    functions.length ? h("div", { class: "scroll" }, h("table", { id: "functions" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Version"), h("th", { scope: "col" }, "Calls"))),
      h("tbody", {}, functions.map((f) => h("tr", {},
        h("td", { class: "mono" }, link(uiPath("functions", f.name), f.name)),
        h("td", { class: "mono" }, f.number ? `${f.number} (${f.version})` : f.version), h("td", {}, String(f.invocations)))))))
      : h("p", { class: "muted" }, "No function is deployed.")];
}

async function functionPage(name, _query, mine) {
  const at = `/functions/${encodeURIComponent(name)}`;
  const [fn, logs, live] = await Promise.all([api(at), api(`${at}/logs`), api(`${at}/instances?limit=50`)]);
  // While instances use it, the counts by status (kept by the server,
  // cheaper than a page of its instances) and its calls say when to draw
  // the page again: a start, an end, a suspend or a call moves them.
  const summary = async () => {
    const [counts, now] = await Promise.all([api("/instance-counts"), api(at)]);
    return JSON.stringify([counts, now.stats.invocations]);
  };
  if (live.count > 0) watch(mine, await summary(), summary);
  const s = fn.stats;
  const stat = (label, value) => [h("dt", {}, label), h("dd", {}, String(value))];
  const versions = fn.versions || [];
  return [
    h("h1", {}, "Function ", h("span", { class: "mono" }, name)),
    h("dl", { class: "facts", id: "stats" },
      stat("Version", fn.number ? `${fn.number} (${fn.version})` : fn.version),
      stat("Calls", s.invocations), stat("Failures", s.failures),
      stat("p50", ms(s.p50Micros / 1000)), stat("p99", ms(s.p99Micros / 1000)),
      stat("Cold / warm starts", `${s.coldStarts} / ${s.warmStarts}`),
      stat("Instances alive (idle)", `${s.liveInstances} (${s.idleInstances})`), stat("Refused busy", s.busy)),
    versions.length ? [h("h2", {}, "Versions"), h("div", { class: "scroll" }, h("table", { id: "versions" },
      h("thead", {}, h("tr", {}, ["Number", "Version", "Deployed", "Loaded", "Calls", "p99"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, versions.map((v) => h("tr", { "data-version": v.version },
        h("td", {}, String(v.number)), h("td", { class: "mono" }, v.version), h("td", {}, when(v.deployedAt)),
        h("td", {}, v.loaded ? "yes" : "no"), h("td", {}, v.stats ? String(v.stats.invocations) : "—"),
        h("td", {}, v.stats ? ms(v.stats.p99Micros / 1000) : "—"))))))] : null,
    fn.aliases && Object.keys(fn.aliases).length ? [h("h2", {}, "Aliases"), jsonView(fn.aliases, "aliases")] : null,
    Object.keys(fn.config || {}).length ? [h("h2", {}, "Configuration"), jsonView(fn.config, "configuration")] : null,
    h("h2", {}, `Live instances (${live.count.toLocaleString()})`),
    h("p", { class: "muted" }, "Instances not ended (running, waiting, suspended) whose workflow uses this function, newest first, with the version their calls go to: the one current when they started."),
    live.instances.length ? h("div", { class: "scroll" }, h("table", { id: "live-instances" },
      h("thead", {}, h("tr", {}, ["Instance", "Workflow", "Status", "State", "Calls version", "Started"].map((t, n) =>
        h("th", { scope: "col", class: n === 3 || n === 5 ? "wide" : undefined }, t)))),
      h("tbody", {}, live.instances.map((i) => h("tr", { "data-instance": i.id },
        h("td", { class: "id mono" }, link(uiPath("instances", i.id), i.id)),
        h("td", {}, link(uiPath("workflows", i.workflowId), i.workflowId)),
        h("td", {}, statusBadge(i.status)),
        h("td", { class: "wide" }, (i.states || []).join(", ")),
        h("td", { class: "mono" }, i.functionNumber ? `${i.functionNumber} (${i.functionVersion})` : i.functionVersion),
        h("td", { class: "wide" }, when(i.createdAt)))))))
      : h("p", { class: "muted" }, "No instance that uses it is running or waiting."),
    live.count > live.instances.length ? h("p", { class: "muted" }, `${(live.count - live.instances.length).toLocaleString()} more not shown.`) : null,
    h("h2", {}, "Recent invocations"),
    logs.invocations.length ? h("div", { class: "scroll" }, h("table", { id: "invocations" },
      h("thead", {}, h("tr", {}, ["At", "Outcome", "Took", "Instance", "Log"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, logs.invocations.map((call) => h("tr", { "data-invocation": call.invocationId },
        h("td", {}, when(call.at)),
        h("td", {}, h("span", { class: call.outcome === "ok" ? "" : "error" }, call.outcome)),
        h("td", {}, ms(call.durationMs), call.coldStart ? h("span", { class: "muted" }, " cold") : null),
        h("td", { class: "id mono" }, call.instanceId ? [link(uiPath("instances", call.instanceId), call.instanceId), call.state ? ` · ${call.state}` : ""] : "direct call"),
        h("td", {}, (call.lines || []).length
          ? h("details", {}, h("summary", {}, `${call.lines.length} lines`),
              h("pre", { class: "logs" }, call.lines.map((l) => `${l.level} ${l.message}`).join("\n")))
          : h("span", { class: "muted" }, "—")))))))
      : h("p", { class: "muted" }, "No invocations since the server started."),
  ];
}

// Where a delivery went: the instances it started or woke, linked, or
// what else became of it.
function deliveryOutcome(d) {
  if (d.error) return h("span", { class: "error" }, `refused: ${d.error}`);
  if (d.duplicate) return h("span", { class: "muted" }, "duplicate: changed nothing");
  const instances = (verb, ids) => ids.length
    ? h("div", {}, `${verb} `, ids.map((id, i) => [i ? ", " : "", link(uiPath("instances", id), id, { class: "mono" })]).flat())
    : null;
  const went = [instances("started", d.started || []), instances("delivered to", d.delivered || []),
    d.buffered ? h("div", {}, "buffered until an instance waits for it") : null].filter(Boolean);
  return went.length ? went : h("span", { class: "muted" }, "no workflow takes it");
}

async function eventsPage(query, mine) {
  const cursor = query.get("buffered") || "";
  const page = new URLSearchParams({ limit: "50" });
  if (cursor) page.set("cursor", cursor);
  const [recent, buffered, letters, dead] = await Promise.all([
    api("/deliveries"), api(`/buffered-events?${page}`), api(`/dead-letters?limit=${LETTERS_SHOWN}`), api("/dead-letter-count"),
  ]);
  const act = (method, path) => action(method, path, "letters-error");
  const deliveries = recent.deliveries;
  const eventCell = (e) => h("td", { class: "id" }, h("div", { class: "mono" }, e.type),
    h("div", { class: "muted" }, `${e.source} · `, h("span", { class: "mono" }, e.id)));
  // New deliveries, buffered events or dead letters redraw the page; the
  // counts are kept by the server, so the poll reads no event.
  const summary = (r, b, l) => JSON.stringify([r.deliveries[0] && [r.deliveries[0].at, r.deliveries[0].id], b.count, l.count]);
  watch(mine, summary(recent, buffered, dead), async () => {
    const [r, b, l] = await Promise.all([api("/deliveries"), api("/buffered-events?limit=1"), api("/dead-letter-count")]);
    return summary(r, b, l);
  });
  return [
    h("h1", {}, "Events"),
    h("h2", {}, `Recent deliveries (${deliveries.length})`),
    h("p", { class: "muted" }, `The last ${recent.limit.toLocaleString()} events sent to POST /events since the server started, newest first, and where each went.`),
    deliveries.length ? h("div", { class: "scroll" }, h("table", { id: "deliveries" },
      h("thead", {}, h("tr", {}, ["At", "Event", "Went to"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, deliveries.map((d) => h("tr", { "data-delivery": d.id,
        "data-outcome": d.error ? "refused" : d.duplicate ? "duplicate" : d.buffered ? "buffered" : d.started.length ? "started" : d.delivered.length ? "delivered" : "none" },
        h("td", {}, when(d.at)), eventCell(d), h("td", { class: "outcome" }, deliveryOutcome(d)))))))
      : h("p", { class: "muted" }, "No events since the server started."),
    h("h2", {}, `Buffered events (${buffered.count.toLocaleString()})`),
    h("p", { class: "muted" }, "Events some workflow consumes that arrived before any instance waited for them: the first instance that waits for one takes it, until the buffer retention ends."),
    buffered.events.length ? h("div", { class: "scroll" }, h("table", { id: "buffered" },
      h("thead", {}, h("tr", {}, ["Received", "Event", "Extensions", "Data"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, buffered.events.map((e) => h("tr", { "data-event": e.id },
        h("td", {}, when(e.receivedAt)), eventCell(e),
        h("td", { class: "mono" }, Object.entries(e.extensions || {}).map(([k, v]) => h("div", {}, `${k}: ${v}`))),
        h("td", {}, h("details", {}, h("summary", {}, "data"), jsonView(e.data, "data"))))))))
      : h("p", { class: "muted" }, cursor ? "No more buffered events." : "No buffered events."),
    h("div", { class: "actions" },
      cursor ? link("/ui/events", "← First page") : null,
      buffered.nextCursor ? link(`/ui/events?buffered=${encodeURIComponent(buffered.nextCursor)}`, "Next page →", { id: "buffered-next" }) : null),
    h("h2", {}, `Dead letters (${dead.count.toLocaleString()})`),
    h("p", { class: "muted" }, "Produced events that their sinks refused until retries ran out. Replay puts one back on its sink's queue; delete drops it for good."),
    h("p", { id: "letters-error", class: "error", role: "alert" }),
    letters.length ? h("div", { class: "scroll" }, h("table", { id: "dead-letters" },
      h("thead", {}, h("tr", {}, ["Id", "Sink", "Attempts", "Last error", "Event", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, letters.map((l) => h("tr", { "data-letter": l.id },
        h("td", { class: "id mono" }, l.id), h("td", {}, l.sink), h("td", {}, String(l.attempts)),
        h("td", {}, l.lastError), h("td", {}, h("details", {}, h("summary", {}, "event"), jsonView(l.event, "event"))),
        h("td", {}, h("div", { class: "actions" },
          h("button", { type: "button", onclick: act("POST", `/dead-letters/${encodeURIComponent(l.id)}/replay`) }, "Replay"),
          h("button", { type: "button", class: "danger", onclick: act("DELETE", `/dead-letters/${encodeURIComponent(l.id)}`) }, "Delete"))))))))
      : h("p", { class: "muted" }, "No dead letters."),
    dead.count > letters.length
      ? h("p", { class: "muted", id: "letters-more" }, `The oldest ${letters.length} shown; ${(dead.count - letters.length).toLocaleString()} more after them.`)
      : null,
  ];
}

// ---- start ----

document.addEventListener("click", (event) => {
  const a = event.target.closest("a");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/ui")) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
  document.getElementById("main").focus({ preventScroll: true });
});
window.addEventListener("popstate", render);
document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
  document.getElementById("token").value = "";
  render();
});
document.getElementById("forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  render();
});
render();
