/**
 * The eight node locations of circuit pruning (PAPER §4): where in a block a node lives, how wide
 * each location is, and the one indexing of every node of a model that masks, means, τ and
 * circuit files share.
 *
 * A node is one channel of one location of one layer, shared by every token and prompt. Its id is
 * `"{layer}.{location}.{index}"`, the reference's hook name (circuit_sparsity inference/gpt.py
 * `hook_save` under `hook_namespace(layer)`) plus the channel: e.g. `"0.attn.k.19"`; for q, k and v
 * the index is head·d_head + j. Every node's activation is taken right after its AbsTopK, where
 * pruning's ablation `x̃ = m·x + (1 − m)·μ` is applied (src/model/block.ts).
 */
import type { ModelDims } from "./config.ts";

/** The locations, in block order (and in node-index order within a layer). */
export const NODE_LOCATIONS = [
  "attn.act_in",
  "attn.q",
  "attn.k",
  "attn.v",
  "attn.resid_delta",
  "mlp.act_in",
  "mlp.post_act",
  "mlp.resid_delta",
] as const;

export type NodeLocation = typeof NODE_LOCATIONS[number];

export interface LocationSpec {
  name: NodeLocation;
  /** Channels per layer: C (residual reads and writes), H·d_head (q, k, v) or d_mlp (neurons). */
  width: (d: ModelDims) => number;
  /** What the activation is, and the LayerActs buffer (rows) that holds it. */
  where: string;
}

/**
 * The table. With learned positions (d_pos_emb = P), the block inputs are AbsTopK over
 * `[RMSNorm(x); RMSNorm_pos(pos)]` (C + P channels, as the reference computes), but the act_in
 * nodes are the C residual rows only: the position rows are never masked.
 */
export const LOCATIONS: readonly LocationSpec[] = [
  {
    name: "attn.act_in",
    width: (d) => d.C,
    where: "ain rows 0..C: AbsTopK([RMSNorm_1(x); RMSNorm_p1(pos)]), the residual read of c_attn",
  },
  { name: "attn.q", width: (d) => d.HD, where: "qkv rows 0..HD: AbsTopK(q), all heads jointly" },
  { name: "attn.k", width: (d) => d.HD, where: "qkv rows HD..2HD: AbsTopK(k)" },
  { name: "attn.v", width: (d) => d.HD, where: "qkv rows 2HD..3HD: AbsTopK(v)" },
  {
    name: "attn.resid_delta",
    width: (d) => d.C,
    where: "ao: AbsTopK(attn.c_proj(y)), the attention's residual write",
  },
  {
    name: "mlp.act_in",
    width: (d) => d.C,
    where: "min rows 0..C: AbsTopK([RMSNorm_2(x); RMSNorm_p2(pos)]), the residual read of c_fc",
  },
  { name: "mlp.post_act", width: (d) => d.M, where: "u: AbsTopK(GELU(c_fc(h))), the neurons" },
  {
    name: "mlp.resid_delta",
    width: (d) => d.C,
    where: "mo: AbsTopK(mlp.c_proj(u)), the MLP's residual write",
  },
];

/** Where one layer's nodes start in the model-wide node vector (offsets in nodes). */
export type LayerNodeOffsets = Record<NodeLocation, number>;

export interface NodeLayout {
  /** offsets[layer][location]: index of channel 0 of that location. */
  offsets: LayerNodeOffsets[];
  /** Nodes in the whole model. */
  total: number;
}

/**
 * The model-wide node indexing: layer-major, locations in NODE_LOCATIONS order, channels in order.
 * q, k and v of a layer are therefore contiguous, like their rows in the qkv buffer.
 */
export function nodeLayout(d: ModelDims): NodeLayout {
  const offsets: LayerNodeOffsets[] = [];
  let total = 0;
  for (let l = 0; l < d.L; l++) {
    const o = {} as LayerNodeOffsets;
    for (const loc of LOCATIONS) {
      o[loc.name] = total;
      total += loc.width(d);
    }
    offsets.push(o);
  }
  return { offsets, total };
}

/** A node's place: layer, location, channel. */
export interface NodeRef {
  layer: number;
  location: NodeLocation;
  index: number;
}

/** The id of a node: `"{layer}.{location}.{index}"`. */
export function nodeId(n: NodeRef): string {
  return `${n.layer}.${n.location}.${n.index}`;
}

/** The node at model-wide index i. */
export function nodeAt(d: ModelDims, layout: NodeLayout, i: number): NodeRef {
  if (!Number.isInteger(i) || i < 0 || i >= layout.total) throw new RangeError(`node ${i}`);
  let layer = 0;
  while (layer + 1 < d.L && layout.offsets[layer + 1][NODE_LOCATIONS[0]] <= i) layer++;
  const o = layout.offsets[layer];
  for (let j = LOCATIONS.length - 1; j >= 0; j--) {
    const loc = LOCATIONS[j].name;
    if (o[loc] <= i) return { layer, location: loc, index: i - o[loc] };
  }
  throw new RangeError(`node ${i}`);
}

/** Model-wide index of a node, or -1 if the model has no such node. */
export function nodeIndex(d: ModelDims, layout: NodeLayout, n: NodeRef): number {
  const spec = LOCATIONS.find((l) => l.name === n.location);
  if (!spec || !Number.isInteger(n.layer) || n.layer < 0 || n.layer >= d.L) return -1;
  if (!Number.isInteger(n.index) || n.index < 0 || n.index >= spec.width(d)) return -1;
  return layout.offsets[n.layer][n.location] + n.index;
}

/** Parses `"{layer}.{location}.{index}"`; null when malformed. */
export function parseNodeId(id: string): NodeRef | null {
  const m =
    /^(\d+)\.(attn\.(?:act_in|q|k|v|resid_delta)|mlp\.(?:act_in|post_act|resid_delta))\.(\d+)$/
      .exec(id);
  if (!m) return null;
  return { layer: Number(m[1]), location: m[2] as NodeLocation, index: Number(m[3]) };
}
