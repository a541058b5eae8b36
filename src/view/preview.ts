/**
 * The circuit drawn into the page's first HTML (`deno task view` and `export --format html`):
 * the same layout and drawing as the live graph (page/graph_layout.ts, page/graph_svg.ts), of
 * the circuit file's nodes, all kept. The page replaces it with the live graph once the model
 * runs; until then, and for a browser that takes a screenshot or prints at load (headless
 * Chromium's `--screenshot`), it is the figure.
 */
import type { Circuit } from "../run/circuit.ts";
import type { GraphInput } from "./page/graph_layout.ts";
import { layoutGraph } from "./page/graph_layout.ts";
import { graphSvg } from "./page/graph_svg.ts";

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The graph of a circuit file's nodes and edges, every node kept, none selected. */
export function circuitGraph(c: Circuit): GraphInput {
  return {
    nodes: c.nodes.map((n) => ({
      id: n.id,
      delta: n.delta,
      inCircuit: true,
      kept: true,
      pinned: false,
    })),
    edges: c.edges,
    dHead: c.model.config.dHead,
    nLayer: c.model.config.nLayer,
    selected: null,
  };
}

/** The preview's markup: a caption and the graph's SVG. */
export async function circuitPreview(c: Circuit): Promise<string> {
  const g = circuitGraph(c);
  const layout = await layoutGraph(g);
  const caption = `${c.task}: ${c.nodes.length} nodes, ${c.edges.length} edges, ` +
    `${layout.threads.length} residual threads; task loss ${
      c.losses.circuit_calibrated.toFixed(4)
    } ` +
    `(full model ${c.losses.full.toFixed(4)}). Node colour: loss change when ablated alone ` +
    `(red: needed, blue: harmful); edges red positive, blue negative, width ∝ |weight|; violet: ` +
    `a residual channel from its write to its reads. Drawn from the circuit file; the live ` +
    `viewer replaces it once the model has started.`;
  return `<figure class="preview" id="preview"><figcaption>${esc(caption)}</figcaption>` +
    `${graphSvg(layout, g)}</figure>`;
}
