/**
 * The eight node locations of circuit pruning (docs/method.md §4): where in a block a node lives, how wide
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

/** The LayerActs buffers a location's activation lives in (src/model/block.ts). */
export type LocationBuffer =
  | "attnActIn"
  | "attnQkv"
  | "attnResidDelta"
  | "mlpActIn"
  | "mlpPostAct"
  | "mlpResidDelta";

export interface LocationSpec {
  name: NodeLocation;
  /** Channels per layer: C (residual reads and writes), H·d_head (q, k, v) or d_mlp (neurons). */
  width: (d: ModelDims) => number;
  /**
   * The LayerActs buffer that holds the activation after its AbsTopK (and after ablation), from
   * row `row` on; `${buffer}Raw` holds it before ablation when an ablation keeps copies.
   */
  buffer: LocationBuffer;
  row: (d: ModelDims) => number;
  /** What the node is, in words (the viewer's node panel). */
  label: string;
  /** How the block computes it. */
  where: string;
}

const zero = () => 0;

/**
 * The table. With learned positions (d_pos_emb = P), the block inputs are AbsTopK over
 * `[RMSNorm(x); RMSNorm_pos(pos)]` (C + P channels, as the reference computes), but the act_in
 * nodes are the C residual rows only: the position rows are never masked. q, k and v are one
 * buffer of 3·HD rows, so their nodes (like their rows) are contiguous.
 */
export const LOCATIONS: readonly LocationSpec[] = [
  {
    name: "attn.act_in",
    width: (d) => d.C,
    buffer: "attnActIn",
    row: zero,
    label: "residual channel read by the attention (after RMSNorm and AbsTopK)",
    where: "AbsTopK([RMSNorm_1(x); RMSNorm_p1(pos)]) rows 0..C, the residual read of c_attn",
  },
  {
    name: "attn.q",
    width: (d) => d.HD,
    buffer: "attnQkv",
    row: zero,
    label: "query channel",
    where: "AbsTopK(q), all heads jointly",
  },
  {
    name: "attn.k",
    width: (d) => d.HD,
    buffer: "attnQkv",
    row: (d) => d.HD,
    label: "key channel",
    where: "AbsTopK(k)",
  },
  {
    name: "attn.v",
    width: (d) => d.HD,
    buffer: "attnQkv",
    row: (d) => 2 * d.HD,
    label: "value channel",
    where: "AbsTopK(v)",
  },
  {
    name: "attn.resid_delta",
    width: (d) => d.C,
    buffer: "attnResidDelta",
    row: zero,
    label: "residual channel written by the attention",
    where: "AbsTopK(attn.c_proj(y)), the attention's residual write",
  },
  {
    name: "mlp.act_in",
    width: (d) => d.C,
    buffer: "mlpActIn",
    row: zero,
    label: "residual channel read by the MLP (after RMSNorm and AbsTopK)",
    where: "AbsTopK([RMSNorm_2(x); RMSNorm_p2(pos)]) rows 0..C, the residual read of c_fc",
  },
  {
    name: "mlp.post_act",
    width: (d) => d.M,
    buffer: "mlpPostAct",
    row: zero,
    label: "MLP neuron (after GELU and AbsTopK)",
    where: "AbsTopK(GELU(c_fc(h))), the neurons",
  },
  {
    name: "mlp.resid_delta",
    width: (d) => d.C,
    buffer: "mlpResidDelta",
    row: zero,
    label: "residual channel written by the MLP",
    where: "AbsTopK(mlp.c_proj(u)), the MLP's residual write",
  },
];

/** The table's entry of a location. */
export function locationSpec(loc: NodeLocation): LocationSpec {
  return LOCATIONS.find((l) => l.name === loc)!;
}

/**
 * Where a location's activations are in one layer's buffers for a pass of N tokens: the byte
 * offset of its first row in `acts` (a LayerActs), and its rows ([rows, N] feature-major f32).
 */
export function locationRows(
  acts: Readonly<Record<LocationBuffer, number>>,
  d: ModelDims,
  loc: NodeLocation,
  N: number,
): { ptr: number; rows: number } {
  const l = locationSpec(loc);
  return { ptr: acts[l.buffer] + 4 * l.row(d) * N, rows: l.width(d) };
}

/** Byte offset of one node's row ([N] tokens, f32) in its layer's buffers. */
export function nodeRow(
  acts: Readonly<Record<LocationBuffer, number>>,
  d: ModelDims,
  n: NodeRef,
  N: number,
): number {
  return locationRows(acts, d, n.location, N).ptr + 4 * n.index * N;
}

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

const NODE_ID = new RegExp(
  `^(\\d+)\\.(${NODE_LOCATIONS.map((l) => l.replace(".", "\\.")).join("|")})\\.(\\d+)$`,
);

/** Parses `"{layer}.{location}.{index}"`; null when malformed. */
export function parseNodeId(id: string): NodeRef | null {
  const m = NODE_ID.exec(id);
  if (!m) return null;
  return { layer: Number(m[1]), location: m[2] as NodeLocation, index: Number(m[3]) };
}
