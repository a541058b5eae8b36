/**
 * Circuit edges (docs/method.md §4): a nonzero weight between two kept nodes of one layer, exactly four
 * kinds — act_in → post_act (mlp.c_fc), post_act → mlp.resid_delta (mlp.c_proj), act_in → q/k/v
 * (attn.c_attn) and v → attn.resid_delta (attn.c_proj). Residual pass-through between layers, the
 * q·k pairing and biases are not edges. Weights are [out, in]; c_attn and c_fc read C + P inputs,
 * of which only the first C (the residual channels) are nodes.
 */
import type { Model } from "../model/model.ts";
import { locationSpec, nodeAt, nodeId, type NodeLocation } from "../model/nodes.ts";
import type { ParamSpec } from "../model/params.ts";

export interface Edge {
  source: string;
  target: string;
  weight: number;
}

/** One weight block whose nonzeros are edges: inputs at `src`, outputs (rows from rowOffset) at `dst`. */
interface EdgeBlock {
  w: ParamSpec;
  src: NodeLocation;
  dst: NodeLocation;
  rowOffset: number;
}

/** Layer l's six edge blocks, in the order circuits list their edges. */
function edgeBlocks(model: Model, l: number): EdgeBlock[] {
  const p = model.layout.layers[l], HD = model.d.HD;
  return [
    { w: p.cAttnW, src: "attn.act_in", dst: "attn.q", rowOffset: 0 },
    { w: p.cAttnW, src: "attn.act_in", dst: "attn.k", rowOffset: HD },
    { w: p.cAttnW, src: "attn.act_in", dst: "attn.v", rowOffset: 2 * HD },
    { w: p.attnProjW, src: "attn.v", dst: "attn.resid_delta", rowOffset: 0 },
    { w: p.fcW, src: "mlp.act_in", dst: "mlp.post_act", rowOffset: 0 },
    { w: p.mlpProjW, src: "mlp.post_act", dst: "mlp.resid_delta", rowOffset: 0 },
  ];
}

/** Every edge among the kept nodes (model-wide node indices), in layer and kind order. */
export function circuitEdges(model: Model, kept: Iterable<number>): Edge[] {
  const d = model.d;
  const byLoc = new Map<string, number[]>();
  for (const i of kept) {
    const n = nodeAt(d, model.nodes, i);
    const key = `${n.layer}.${n.location}`;
    if (!byLoc.has(key)) byLoc.set(key, []);
    byLoc.get(key)!.push(n.index);
  }
  for (const v of byLoc.values()) v.sort((a, b) => a - b);
  const get = (l: number, loc: NodeLocation) => byLoc.get(`${l}.${loc}`) ?? [];
  const edges: Edge[] = [];
  for (let l = 0; l < d.L; l++) {
    for (const { w, src, dst, rowOffset } of edgeBlocks(model, l)) {
      const at = model.weightReader(w), ins = get(l, src);
      for (const o of get(l, dst)) {
        for (const i of ins) {
          const x = at(o + rowOffset, i);
          if (x !== 0) {
            edges.push({
              source: nodeId({ layer: l, location: src, index: i }),
              target: nodeId({ layer: l, location: dst, index: o }),
              weight: x,
            });
          }
        }
      }
    }
  }
  return edges;
}

/** An undirected graph over model-wide node indices, CSR: i's neighbours are idx[ptr[i] .. ptr[i+1]). */
export interface NodeGraph {
  ptr: Int32Array;
  idx: Int32Array;
}

/**
 * Every possible edge of the model (a nonzero weight of the six edge blocks, between any two
 * nodes), each neighbour list in increasing order. The edge penalty of the mask optimiser
 * (src/prune/ranking.ts) sums the masks of each node's neighbours over it.
 */
export function nodeGraph(model: Model): NodeGraph {
  const d = model.d, n = model.nodes.total;
  const pairs: number[] = [];
  for (let l = 0; l < d.L; l++) {
    const off = model.nodes.offsets[l];
    // c_attn holds three blocks (q, k, v): unpack each weight once.
    const values = new Map<ParamSpec, Float32Array>();
    for (const { w, src, dst, rowOffset } of edgeBlocks(model, l)) {
      // Rows of this block are the dst location's channels; its columns from 0 are src's.
      if (!values.has(w)) values.set(w, model.weights(w));
      const v = values.get(w)!, cols = w.shape[1];
      const nOut = locationSpec(dst).width(d), nIn = locationSpec(src).width(d);
      for (let o = 0; o < nOut; o++) {
        const row = (o + rowOffset) * cols;
        for (let i = 0; i < nIn; i++) if (v[row + i] !== 0) pairs.push(off[src] + i, off[dst] + o);
      }
    }
  }
  const ptr = new Int32Array(n + 1);
  for (const x of pairs) ptr[x + 1]++;
  for (let i = 0; i < n; i++) ptr[i + 1] += ptr[i];
  const fill = ptr.slice(0, n), idx = new Int32Array(pairs.length);
  for (let e = 0; e < pairs.length; e += 2) {
    const a = pairs[e], b = pairs[e + 1];
    idx[fill[a]++] = b;
    idx[fill[b]++] = a;
  }
  for (let i = 0; i < n; i++) idx.subarray(ptr[i], ptr[i + 1]).sort();
  return { ptr, idx };
}

const graphs = new WeakMap<Model, NodeGraph>();

/** The model's graph of possible edges (nodeGraph), built once per model. */
export function graphOf(model: Model): NodeGraph {
  let g = graphs.get(model);
  if (!g) graphs.set(model, g = nodeGraph(model));
  return g;
}

/** How many of node i's neighbours are marked in `on` (1 = kept): its edges into that set. */
export function keptNeighbours(g: NodeGraph, on: Uint8Array, i: number): number {
  let d = 0;
  for (let e = g.ptr[i]; e < g.ptr[i + 1]; e++) d += on[g.idx[e]];
  return d;
}

/** Edges among the nodes marked in `on` (1 = kept): each counted once. */
export function edgesAmong(g: NodeGraph, on: Uint8Array): number {
  let twice = 0;
  for (let i = 0; i < on.length; i++) if (on[i]) twice += keptNeighbours(g, on, i);
  return twice / 2;
}
