// Draws the JSON of GET /workflows/{id}/graph as SVG: states in layers
// (breadth first from the start), forward routes straight down, routes back
// up or sideways as curves on the right. `marks` colours the states an
// instance is in (current), went through (past) and failed in (failed).

const SVG = "http://www.w3.org/2000/svg";
const W = 190, H = 70, GAP_X = 40, GAP_Y = 56, PAD = 28;

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// A 1.0 task is known by its JSON pointer (`/do/0/quote`), which is its
// node's id; its name is the pointer's last segment, unescaped.
export function nodeName(id) {
  if (!id.startsWith("/")) return id;
  return id.slice(id.lastIndexOf("/") + 1).replaceAll("~1", "/").replaceAll("~0", "~");
}

// Whether the graph is a 1.0 document's: tasks, not states.
export const hasTasks = (graph) => graph.nodes.length > 0 && graph.nodes.every((n) => n.id.startsWith("/"));

function clip(text, max) {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

// Layer of each node: the longest way to it from a start state, over the
// edges that do not go back (a depth-first walk from the starts finds
// those that close a loop), so that a state sits below everything that
// leads to it. Nodes nothing reaches go last.
function layers(graph) {
  const out = new Map(graph.nodes.map((n) => [n.id, []]));
  for (const edge of graph.edges) if (out.has(edge.from) && out.has(edge.to)) out.get(edge.from).push(edge.to);
  const forward = new Map(graph.nodes.map((n) => [n.id, []]));
  const seen = new Set(), onPath = new Set(), order = [];
  // Iterative depth-first walk: definitions can be long chains.
  const walk = (root) => {
    const stack = [[root, 0]];
    seen.add(root); onPath.add(root);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = out.get(top[0])[top[1]++];
      if (next === undefined) { onPath.delete(top[0]); order.push(top[0]); stack.pop(); continue; }
      if (onPath.has(next)) continue;
      forward.get(top[0]).push(next);
      if (!seen.has(next)) { seen.add(next); onPath.add(next); stack.push([next, 0]); }
    }
  };
  const starts = graph.nodes.filter((n) => n.start && !n.scope).map((n) => n.id);
  starts.forEach((id) => { if (!seen.has(id)) walk(id); });
  const layer = new Map();
  for (const id of order.reverse()) {
    if (!layer.has(id)) layer.set(id, 0);
    for (const next of forward.get(id)) layer.set(next, Math.max(layer.get(next) || 0, layer.get(id) + 1));
  }
  let last = Math.max(-1, ...layer.values());
  for (const node of graph.nodes) if (!layer.has(node.id)) layer.set(node.id, ++last);
  return layer;
}

export function drawGraph(graph, marks = {}) {
  const layer = layers(graph);
  const rows = [];
  for (const node of graph.nodes) {
    const row = layer.get(node.id);
    (rows[row] ||= []).push(node);
  }
  // Each row in the order of the mean place of what leads to it (one
  // barycentre sweep down), which uncrosses most routes.
  const preds = new Map();
  for (const edge of graph.edges) {
    if (layer.get(edge.to) > layer.get(edge.from)) (preds.get(edge.to) || preds.set(edge.to, []).get(edge.to)).push(edge.from);
  }
  const place = new Map();
  rows.forEach((row) => {
    if (!row) return;
    const key = (node, i) => {
      const from = (preds.get(node.id) || []).filter((id) => place.has(id));
      return from.length ? from.reduce((sum, id) => sum + place.get(id), 0) / from.length : i - (row.length - 1) / 2;
    };
    const keyed = row.map((node, i) => [key(node, i), i, node]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    row.splice(0, row.length, ...keyed.map((k) => k[2]));
    row.forEach((node, i) => place.set(node.id, i - (row.length - 1) / 2));
  });
  const widest = Math.max(1, ...rows.map((row) => (row ? row.length : 0)));
  const width = PAD * 2 + widest * W + (widest - 1) * GAP_X + 120;
  const height = PAD * 2 + rows.length * (H + GAP_Y) + 10;
  const at = new Map();
  rows.forEach((row, r) => {
    if (!row) return;
    const span = row.length * W + (row.length - 1) * GAP_X;
    const left = PAD + (widest * W + (widest - 1) * GAP_X - span) / 2;
    row.forEach((node, i) => at.set(node.id, { x: left + i * (W + GAP_X), y: PAD + 14 + r * (H + GAP_Y) }));
  });
  const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `graph of workflow ${graph.id}: ${graph.nodes.length} ${hasTasks(graph) ? "tasks" : "states"}` });
  const defs = el("defs");
  for (const [id, colour] of [["arrow", "#6c7a86"], ["arrow-error", "#b3261e"], ["arrow-branch", "#0b5cad"]]) {
    const marker = el("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", fill: colour }));
    defs.append(marker);
  }
  svg.append(defs);
  const edges = el("g");
  svg.append(edges);
  let bend = 0;
  for (const edge of graph.edges) {
    const a = at.get(edge.from), b = at.get(edge.to);
    if (!a || !b) continue;
    let d, lx, ly;
    if (b.y > a.y) {
      const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = b.y;
      d = `M${x1},${y1} C${x1},${y1 + GAP_Y / 2} ${x2},${y2 - GAP_Y / 2} ${x2},${y2}`;
      // Near the target, where routes into one state part.
      lx = x1 + (x2 - x1) * 0.7; ly = y2 - GAP_Y * 0.35;
    } else {
      // Back or sideways: out of the right side, around, into the right side.
      const reach = 30 + (bend++ % 4) * 14;
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x + W, y2 = b.y + H / 2;
      const far = Math.max(x1, x2) + reach;
      d = `M${x1},${y1} C${far},${y1} ${far},${y2} ${x2},${y2}`;
      lx = far - 4; ly = (y1 + y2) / 2;
    }
    const marker = edge.kind === "error" ? "arrow-error" : edge.kind === "branch" || edge.kind === "iteration" ? "arrow-branch" : "arrow";
    const g = el("g", { class: `edge ${edge.kind}`, "data-from": edge.from, "data-to": edge.to });
    g.append(el("path", { d, "marker-end": `url(#${marker})` }));
    const label = edge.kind === "error" ? `error: ${edge.label || ""}` : edge.kind === "default" ? "default" : edge.label;
    if (label) {
      g.append(el("title", {}, label));
      g.append(el("text", { x: lx + 4, y: ly, "text-anchor": "start" }, clip(label, 34)));
    }
    edges.append(g);
  }
  const current = new Set(marks.current || []), past = new Set(marks.past || []);
  for (const node of graph.nodes) {
    const p = at.get(node.id);
    const classes = ["node"];
    if (node.start) classes.push("start");
    if (marks.failed === node.id) classes.push("failed");
    else if (current.has(node.id)) classes.push("current");
    else if (past.has(node.id)) classes.push("past");
    // Focusable, so that a keyboard reaches each state and hears its title.
    const name = nodeName(node.id);
    const known = name === node.id ? name : `${name} (${node.id})`;
    const g = el("g", { class: classes.join(" "), "data-state": node.id, transform: `translate(${p.x},${p.y})`,
      tabindex: 0, role: "img", "aria-label": `${known}, ${node.type}${classes.length > 1 ? `, ${classes.slice(1).join(" ")}` : ""}` });
    const details = [node.type];
    if (node.waits) details.push(`waits ${node.waits.join(", ")}`);
    if (node.calls) details.push(`calls ${node.calls.join(", ")}`);
    if (node.notes) details.push(...node.notes);
    if (node.scope) details.push(`in ${node.scope}`);
    g.append(el("title", {}, [known, ...details].join("\n")));
    g.append(el("rect", { width: W, height: H, rx: 6 }));
    g.append(el("text", { class: "name", x: 10, y: 18 }, clip(name, 24)));
    details.slice(0, 3).forEach((line, i) =>
      g.append(el("text", { class: i === 0 ? "kind" : "", x: 10, y: 34 + i * 14 }, clip(line, 28))));
    if (node.start && !node.scope) {
      g.append(el("circle", { class: "terminal", cx: W / 2, cy: -12, r: 6 }));
      g.append(el("path", { d: `M${W / 2},-6 L${W / 2},0`, stroke: "#14202c" }));
    }
    if (node.end) {
      g.append(el("circle", { cx: W - 12, cy: 12, r: 6, fill: "none", stroke: node.end === "success" ? "#14202c" : "#b3261e", "stroke-width": 2 }));
      g.append(el("circle", { class: "terminal", cx: W - 12, cy: 12, r: 3 }));
      g.append(el("title", {}, `ends: ${node.end}`));
    }
    svg.append(g);
  }
  return svg;
}
