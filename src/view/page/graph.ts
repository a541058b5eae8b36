/// <reference lib="dom" />
/**
 * The circuit graph in the page: laid out by graph_layout.ts, drawn as graph_svg.ts's markup
 * (the same drawing the server puts into the page's first HTML), and restyled in place when a
 * toggle changes node states but not the drawn node set.
 */
import { type GraphInput, layoutGraph, type Pt } from "./graph_layout.ts";
import { CROSS_D, graphSvg, nodeAria, nodeClass } from "./graph_svg.ts";
import type { GraphNode } from "./graph_layout.ts";

export type { GraphEdge, GraphInput, GraphNode } from "./graph_layout.ts";

export interface GraphView {
  svg: SVGSVGElement;
  width: number;
  height: number;
  /** Node centre positions (graph coordinates). */
  pos: Map<string, Pt>;
}

/** Lays out and draws the graph; nodes are `<g data-node-id>` elements, focusable buttons. */
export async function drawGraph(g: GraphInput): Promise<GraphView> {
  const layout = await layoutGraph(g);
  const doc = new DOMParser().parseFromString(graphSvg(layout, g), "image/svg+xml");
  const svg = document.importNode(doc.documentElement, true) as unknown as SVGSVGElement;
  return { svg, width: layout.width, height: layout.height, pos: layout.pos };
}

/** A node element's state: classes, ARIA and the cross of an ablated node. */
function styleNode(el: SVGGElement, n: GraphNode, selected: string | null): void {
  el.setAttribute("class", nodeClass(n, selected));
  el.setAttribute("aria-pressed", n.id === selected ? "true" : "false");
  el.setAttribute("aria-label", nodeAria(n));
  const cross = el.querySelector(".cross");
  if (!n.kept && !cross) {
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", CROSS_D);
    path.setAttribute("class", "cross");
    path.setAttribute("stroke", "#888");
    el.append(path);
  }
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
