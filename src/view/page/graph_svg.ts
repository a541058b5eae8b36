/**
 * The circuit graph as SVG markup (a string, no DOM), from a layout (graph_layout.ts): what the
 * page shows live and what the server and the HTML export put into the page's first HTML. Colours
 * are presentation attributes, so the drawing reads the same without the page's stylesheet
 * (a saved or printed SVG); the stylesheet's classes restyle the live states (ablated, pinned,
 * selected).
 *
 * Edges are coloured by the sign of their weight and drawn with a width that grows with |weight|;
 * a node's fill is its `delta` (loss change when ablated alone from the circuit); residual
 * threads are the wide violet lines, named "resid c" below the write they start at.
 */
import { diverging, fmt } from "./heat.ts";
import {
  type GraphInput,
  type GraphLayout,
  type GraphNode,
  nodeName,
  R,
  type TextBox,
} from "./graph_layout.ts";

export const COLORS = {
  band: ["#f6f7f9", "#eef1f5"],
  emptyBand: "#fbfbfc",
  pos: "#d62728",
  neg: "#1f77b4",
  thread: "#8e6bbf",
  text: "#333",
  muted: "#5c5c5c",
};

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function el(tag: string, attrs: Record<string, string | number>, inner = ""): string {
  const a = Object.entries(attrs).map(([k, v]) => ` ${k}="${esc(String(v))}"`).join("");
  return `<${tag}${a}>${inner}</${tag}>`;
}

function text(t: TextBox, cls: string, fill: string, halo = false): string {
  return el("text", {
    x: t.at.x.toFixed(1),
    y: t.at.y.toFixed(1),
    class: cls,
    "font-size": t.size,
    "font-weight": t.bold ? 700 : 400,
    fill,
    // A white outline under the letters keeps a name readable where a line passes near it.
    ...(halo ? { stroke: "#fff", "stroke-width": 3, "paint-order": "stroke" } : {}),
  }, esc(t.text));
}

const n1 = (v: number) => v.toFixed(1);

/** A node element's classes for its state. */
export function nodeClass(n: GraphNode, selected: string | null): string {
  return [
    "node",
    n.kept ? "kept" : "ablated",
    n.inCircuit ? "" : "added",
    n.pinned ? "pinned" : "",
    n.id === selected ? "selected" : "",
  ].filter(Boolean).join(" ");
}

/** A node's accessible name: id, state and delta. */
export function nodeAria(n: GraphNode): string {
  return `${n.id}, ${n.kept ? "kept" : "ablated"}${n.inCircuit ? "" : ", added"}${
    n.pinned ? ", pinned" : ""
  }${n.delta === null ? "" : `, delta ${fmt(n.delta)}`}`;
}

/** The cross over an ablated node (graph.ts adds and removes it on restyle). */
export const CROSS_D = `M${-R},${-R} L${R},${R}`;

/** Dark text on light fills, white on saturated ones. */
function inkOn(fill: string): string {
  const m = /rgb\((\d+), (\d+), (\d+)\)/.exec(fill);
  if (!m) return "#111";
  const [r, g, b] = [m[1], m[2], m[3]].map(Number);
  return 0.299 * r + 0.587 * g + 0.114 * b < 140 ? "#fff" : "#111";
}

/** Font size that fits a node's name inside its circle. */
function nameSize(name: string): number {
  return name.length <= 2 ? 10 : name.length === 3 ? 9 : name.length === 4 ? 7.5 : 6.5;
}

/** The whole graph as an `<svg>` element's markup. */
export function graphSvg(layout: GraphLayout, g: GraphInput): string {
  const { width, height } = layout;
  const parts: string[] = [];
  for (const b of layout.bands) {
    parts.push(
      el("rect", {
        x: 0,
        y: n1(b.y),
        width: n1(width),
        height: n1(b.h),
        class: `band band${b.layer % 2}${b.empty ? " empty" : ""}`,
        fill: b.empty ? COLORS.emptyBand : COLORS.band[b.layer % 2],
        "data-layer": b.layer,
      }),
      text(b.label, b.empty ? "layer-label empty" : "layer-label", COLORS.text),
    );
  }
  for (const t of layout.rowLabels) parts.push(text(t, "row-label", COLORS.muted));
  for (const h of layout.heads) {
    parts.push(
      el("rect", {
        x: n1(h.box.x),
        y: n1(h.box.y),
        width: n1(h.box.w),
        height: n1(h.box.h),
        rx: 5,
        class: "head-box",
        fill: "#fff",
        stroke: "#a8b3c0",
        "stroke-dasharray": "3 2",
        "data-head": h.key,
      }),
      text(h.label, "head-label", COLORS.muted),
    );
  }

  const threads = layout.threads.map((t) => {
    const d = t.legs.map((leg) => "M" + leg.map((p) => `${n1(p.x)},${n1(p.y)}`).join(" L"))
      .join(" ");
    const title = `residual channel ${t.channel}: ${t.nodes.join(" → ")}`;
    return el(
      "g",
      { class: "thread", "data-channel": t.channel, "data-nodes": t.nodes.join(" ") },
      el("path", {
        d,
        fill: "none",
        stroke: COLORS.thread,
        "stroke-width": 4,
        "stroke-opacity": 0.55,
        "stroke-linejoin": "round",
        "stroke-linecap": "round",
      }, el("title", {}, esc(title))) +
        text(t.label, "thread-label", COLORS.thread, true),
    );
  });
  parts.push(el("g", { class: "threads" }, threads.join("")));

  const maxW = Math.max(1e-12, ...layout.edges.map((e) => Math.abs(e.weight)));
  const kept = new Map(g.nodes.map((n) => [n.id, n.kept]));
  const edges = layout.edges.map((e) => {
    const [a, c1, c2, b] = e.curve;
    const sign = e.weight >= 0 ? "pos" : "neg";
    const live = kept.get(e.source) && kept.get(e.target);
    return el("path", {
      d: `M${n1(a.x)},${n1(a.y)} C${n1(c1.x)},${n1(c1.y)} ${n1(c2.x)},${n1(c2.y)} ${n1(b.x)},${
        n1(b.y)
      }`,
      class: `edge ${sign}${live ? "" : " dead"}`,
      "data-sign": sign,
      fill: "none",
      stroke: e.weight >= 0 ? COLORS.pos : COLORS.neg,
      "stroke-opacity": 0.75,
      "stroke-width": (0.6 + 3.4 * Math.abs(e.weight) / maxW).toFixed(2),
      "data-source": e.source,
      "data-target": e.target,
    }, el("title", {}, esc(`${e.source} → ${e.target}: ${fmt(e.weight)}`)));
  });
  parts.push(el("g", { class: "edges" }, edges.join("")));

  const maxD = Math.max(1e-12, ...g.nodes.map((n) => Math.abs(n.delta ?? 0)));
  for (const n of g.nodes) {
    const p = layout.pos.get(n.id);
    if (!p) continue;
    const fill = n.delta === null ? "#d9d9d9" : diverging(n.delta / maxD);
    const name = nodeName(n.id, g.dHead);
    parts.push(el(
      "g",
      {
        "data-node-id": n.id,
        tabindex: 0,
        role: "button",
        transform: `translate(${n1(p.x)},${n1(p.y)})`,
        class: nodeClass(n, g.selected),
        "aria-pressed": n.id === g.selected ? "true" : "false",
        "aria-label": nodeAria(n),
      },
      el("circle", { r: R + 3, class: "ring", fill: "none" }) +
        el("circle", { r: R, class: "dot", fill, stroke: "#333" }) +
        el("text", {
          y: (nameSize(name) * 0.35).toFixed(1),
          class: "node-label",
          "text-anchor": "middle",
          "font-size": nameSize(name),
          fill: inkOn(fill),
        }, esc(name)) +
        el("title", {}, esc(`${n.id}${n.delta === null ? "" : ` · delta ${fmt(n.delta)}`}`)) +
        (n.kept ? "" : el("path", { d: CROSS_D, class: "cross", stroke: "#888" })),
    ));
  }
  return el(
    "svg",
    {
      xmlns: "http://www.w3.org/2000/svg",
      viewBox: `0 0 ${n1(width)} ${n1(height)}`,
      width: n1(width),
      height: n1(height),
      class: "graph",
      role: "group",
      "font-family": 'system-ui, "DejaVu Sans", sans-serif',
      "aria-label": `circuit graph: ${g.nodes.length} nodes, ${layout.edges.length} edges, ` +
        `${layout.threads.length} residual threads`,
    },
    parts.join(""),
  );
}
