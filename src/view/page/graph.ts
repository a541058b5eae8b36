/// <reference lib="dom" />
/**
 * The circuit as a layered graph in the style of the paper's Figure 4: one band per transformer
 * layer, six rows in block order (attn.act_in, the q/k/v channels grouped by head,
 * attn.resid_delta, mlp.act_in, mlp.post_act, mlp.resid_delta). elkjs (the Eclipse Layout
 * Kernel's layered algorithm) orders the nodes within each row to keep edges from crossing and
 * places them; each row is one of its partitions, so the rows stay in block order. A head's
 * q/k/v channels are laid out as one box, so they stay together.
 *
 * Edges are coloured by the sign of their weight and drawn with a width that grows with |weight|;
 * a node's fill is its `delta` (loss change when ablated alone from the circuit).
 */
import * as elkModule from "elkjs/lib/elk.bundled.js";
import type { ELK, ElkNode } from "elkjs/lib/elk.bundled.js";
import { parseNodeId } from "../../model/nodes.ts";
import { diverging, fmt } from "./heat.ts";

export interface GraphNode {
  id: string;
  /** Loss change when ablated alone (null for nodes outside the circuit file). */
  delta: number | null;
  inCircuit: boolean;
  kept: boolean;
  pinned: boolean;
}

export interface GraphEdge {
  source: string;
  target: string;
  weight: number;
}

export interface GraphInput {
  nodes: GraphNode[];
  edges: GraphEdge[];
  dHead: number;
  selected: string | null;
}

const ROWS: Record<string, number> = {
  "attn.act_in": 0,
  "attn.q": 1,
  "attn.k": 1,
  "attn.v": 1,
  "attn.resid_delta": 2,
  "mlp.act_in": 3,
  "mlp.post_act": 4,
  "mlp.resid_delta": 5,
};
const ROW_NAMES = [
  "attn.act_in",
  "q · k · v by head",
  "attn.resid_delta",
  "mlp.act_in",
  "mlp.post_act",
  "mlp.resid_delta",
];
const R = 9;
const SLOT = 24;
const LEFT = 150;
const SVG_NS = "http://www.w3.org/2000/svg";
/** Where row names start: right of "layer N" (12px bold), left of the nodes (LEFT). */
const ROW_LABEL_X = 58;
/** The baseline of a row's name: level with its nodes (the q/k/v row: with its head boxes). */
const rowLabelY = (p: number, y: number) => y + (p % 6 === 1 ? 34 : 16);

function s<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  ...children: (Node | string)[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

/** The layout box a node belongs to: a head for q/k/v channels, else the node itself. */
function groupOf(id: string, dHead: number): string {
  const r = parseNodeId(id)!;
  if (r.location === "attn.q" || r.location === "attn.k" || r.location === "attn.v") {
    return `${r.layer}.head.${Math.floor(r.index / dHead)}`;
  }
  return id;
}

interface Placed {
  x: number;
  y: number;
}

export interface GraphView {
  svg: SVGSVGElement;
  width: number;
  height: number;
  /** Node centre positions (graph coordinates). */
  pos: Map<string, Placed>;
}

// elk.bundled.js is CommonJS: the constructor is the module (bundled) or its default (Deno).
const ElkConstructor = ((elkModule as unknown as { default?: unknown }).default ?? elkModule) as {
  new (): ELK;
};
const elk = new ElkConstructor();
/** Layouts by node set and edges: toggling a node restyles the graph without a new layout. */
const layouts = new Map<string, Promise<ElkNode>>();

/** Lays out and draws the graph; nodes are `<g data-node-id>` elements, focusable buttons. */
export async function drawGraph(g: GraphInput): Promise<GraphView> {
  const groups = new Map<string, string[]>();
  for (const n of g.nodes) {
    const k = groupOf(n.id, g.dHead);
    groups.set(k, [...(groups.get(k) ?? []), n.id]);
  }
  const order = { "attn.q": 0, "attn.k": 1, "attn.v": 2 } as Record<string, number>;
  for (const members of groups.values()) {
    members.sort((a, b) => {
      const x = parseNodeId(a)!, y = parseNodeId(b)!;
      return (order[x.location] ?? 0) - (order[y.location] ?? 0) || x.index - y.index;
    });
  }
  const partition = (k: string) => {
    const r = parseNodeId(groups.get(k)![0])!;
    return r.layer * 6 + ROWS[r.location];
  };
  const isHead = (k: string) => k.includes(".head.");
  const elkEdges = new Map<string, { id: string; sources: string[]; targets: string[] }>();
  for (const e of g.edges) {
    const a = groupOf(e.source, g.dHead), b = groupOf(e.target, g.dHead);
    if (!groups.has(a) || !groups.has(b) || a === b) continue;
    const id = `${a}->${b}`;
    if (!elkEdges.has(id)) elkEdges.set(id, { id, sources: [a], targets: [b] });
  }
  const elkGraph = {
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "DOWN",
      "elk.partitioning.activate": "true",
      // One graph, not a pack of its connected components: the rows must span every node.
      "elk.separateConnectedComponents": "false",
      "elk.spacing.nodeNode": "10",
      "elk.layered.spacing.nodeNodeBetweenLayers": "34",
      "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
      "elk.layered.crossingMinimization.strategy": "LAYER_SWEEP",
      "elk.padding": "[top=12,left=12,bottom=12,right=12]",
    },
    children: [...groups.keys()].map((k) => ({
      id: k,
      width: isHead(k) ? groups.get(k)!.length * SLOT + 10 : SLOT,
      height: isHead(k) ? SLOT + 18 : SLOT,
      layoutOptions: { "elk.partitioning.partition": String(partition(k)) },
    })),
    edges: [...elkEdges.values()],
  };
  const key = JSON.stringify([elkGraph.children.map((c) => [c.id, c.width]), [...elkEdges.keys()]]);
  const pending: Promise<ElkNode> = layouts.get(key) ?? elk.layout(elkGraph as ElkNode);
  layouts.set(key, pending);
  const layout = await pending;

  const pos = new Map<string, Placed>();
  const boxes: { k: string; x: number; y: number; w: number; h: number }[] = [];
  const rowY = new Map<number, number>();
  for (const c of layout.children ?? []) {
    const x = (c.x ?? 0) + LEFT, y = c.y ?? 0, w = c.width ?? SLOT, hgt = c.height ?? SLOT;
    const members = groups.get(c.id)!;
    const p = partition(c.id);
    rowY.set(p, Math.min(rowY.get(p) ?? Infinity, y));
    if (isHead(c.id)) {
      boxes.push({ k: c.id, x, y, w, h: hgt });
      members.forEach((id, i) =>
        pos.set(id, { x: x + 5 + SLOT * i + SLOT / 2, y: y + 18 + SLOT / 2 })
      );
    } else pos.set(members[0], { x: x + w / 2, y: y + hgt / 2 });
  }
  const width = Math.max(LEFT + (layout.width ?? 0), 400);
  const height = Math.max(layout.height ?? 0, 80);
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    class: "graph",
    role: "group",
    "aria-label": `circuit graph: ${g.nodes.length} nodes, ${g.edges.length} edges`,
  });

  // Bands per transformer layer and row labels.
  const layers = new Set([...rowY.keys()].map((p) => Math.floor(p / 6)));
  for (const l of layers) {
    const ys = [...rowY.entries()].filter(([p]) => Math.floor(p / 6) === l).map(([, y]) => y);
    const top = Math.min(...ys) - 8, bottom = Math.max(...ys) + SLOT + 26;
    // The layer's name sits on its first row's line, left of the row names: one line each.
    const first = Math.min(...[...rowY.keys()].filter((p) => Math.floor(p / 6) === l));
    svg.append(
      s("rect", { x: 0, y: top, width, height: bottom - top, class: `band band${l % 2}` }),
      s(
        "text",
        { x: 6, y: rowLabelY(first, rowY.get(first)!), class: "layer-label" },
        `layer ${l}`,
      ),
    );
  }
  for (const [p, y] of rowY) {
    svg.append(
      s("text", { x: ROW_LABEL_X, y: rowLabelY(p, y), class: "row-label" }, ROW_NAMES[p % 6]),
    );
  }
  for (const b of boxes) {
    const [l, , head] = b.k.split(".");
    svg.append(
      s("rect", { x: b.x, y: b.y, width: b.w, height: b.h, rx: 4, class: "head-box" }),
      s("text", { x: b.x + 4, y: b.y + 12, class: "head-label" }, `L${l} head ${head}`),
    );
  }

  // Edges under the nodes.
  const maxW = Math.max(1e-12, ...g.edges.map((e) => Math.abs(e.weight)));
  const kept = new Map(g.nodes.map((n) => [n.id, n.kept]));
  const edgeLayer = s("g", { class: "edges" });
  for (const e of g.edges) {
    const a = pos.get(e.source), b = pos.get(e.target);
    if (!a || !b) continue;
    const y1 = a.y + R, y2 = b.y - R, my = (y1 + y2) / 2;
    const live = kept.get(e.source) && kept.get(e.target);
    edgeLayer.append(
      s(
        "path",
        {
          d: `M${a.x},${y1} C${a.x},${my} ${b.x},${my} ${b.x},${y2}`,
          class: `edge ${e.weight >= 0 ? "pos" : "neg"}${live ? "" : " dead"}`,
          "data-sign": e.weight >= 0 ? "pos" : "neg",
          "stroke-width": (0.6 + 3.4 * Math.abs(e.weight) / maxW).toFixed(2),
          "data-source": e.source,
          "data-target": e.target,
        },
        s("title", {}, `${e.source} → ${e.target}: ${fmt(e.weight)}`),
      ),
    );
  }
  svg.append(edgeLayer);

  const maxD = Math.max(1e-12, ...g.nodes.map((n) => Math.abs(n.delta ?? 0)));
  for (const n of g.nodes) {
    const p = pos.get(n.id);
    if (!p) continue;
    const r = parseNodeId(n.id)!;
    const qkv = r.location === "attn.q" || r.location === "attn.k" || r.location === "attn.v";
    const label = qkv ? `${r.location.slice(5)}${r.index % g.dHead}` : String(r.index);
    const fill = n.delta === null ? "#d9d9d9" : diverging(n.delta / maxD);
    const node = s(
      "g",
      { "data-node-id": n.id, tabindex: 0, role: "button", transform: `translate(${p.x},${p.y})` },
      s("circle", { r: R + 3, class: "ring" }),
      s("circle", { r: R, class: "dot", fill }),
      s("text", { y: R + 10, class: "node-label" }, label),
      s("title", {}, `${n.id}${n.delta === null ? "" : ` · delta ${fmt(n.delta)}`}`),
    );
    styleNode(node, n, g.selected);
    svg.append(node);
  }
  return { svg, width, height, pos };
}

/** A node element's state: classes, ARIA and the cross of an ablated node. */
function styleNode(el: SVGGElement, n: GraphNode, selected: string | null): void {
  const state = [
    n.kept ? "kept" : "ablated",
    n.inCircuit ? "" : "added",
    n.pinned ? "pinned" : "",
    n.id === selected ? "selected" : "",
  ].filter(Boolean).join(" ");
  el.setAttribute("class", `node ${state}`);
  el.setAttribute("aria-pressed", n.id === selected ? "true" : "false");
  el.setAttribute(
    "aria-label",
    `${n.id}, ${n.kept ? "kept" : "ablated"}${n.inCircuit ? "" : ", added"}${
      n.pinned ? ", pinned" : ""
    }${n.delta === null ? "" : `, delta ${fmt(n.delta)}`}`,
  );
  const cross = el.querySelector(".cross");
  if (!n.kept && !cross) el.append(s("path", { d: `M${-R},${-R} L${R},${R}`, class: "cross" }));
  if (n.kept && cross) cross.remove();
}

/**
 * Restyles a drawn graph for new node states (kept, pinned, selected) without a new layout or new
 * elements: what a toggle changes when the drawn node set stays the same. `nodes` must be the
 * drawn ones.
 */
export function restyleGraph(svg: SVGSVGElement, nodes: GraphNode[], selected: string | null) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const el of svg.querySelectorAll<SVGGElement>("g[data-node-id]")) {
    const n = byId.get(el.getAttribute("data-node-id")!);
    if (n) styleNode(el, n, selected);
  }
  for (const el of svg.querySelectorAll<SVGPathElement>("path.edge")) {
    const a = byId.get(el.getAttribute("data-source")!),
      b = byId.get(el.getAttribute("data-target")!);
    const live = a?.kept && b?.kept;
    el.setAttribute("class", `edge ${el.getAttribute("data-sign")}${live ? "" : " dead"}`);
  }
}
