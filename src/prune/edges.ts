/**
 * Circuit edges (docs/method.md §4): a nonzero weight between two kept nodes of one layer, exactly four
 * kinds — act_in → post_act (mlp.c_fc), post_act → mlp.resid_delta (mlp.c_proj), act_in → q/k/v
 * (attn.c_attn) and v → attn.resid_delta (attn.c_proj). Residual pass-through between layers, the
 * q·k pairing and biases are not edges. Weights are [out, in]; c_attn and c_fc read C + P inputs,
 * of which only the first C (the residual channels) are nodes.
 */
import type { Model } from "../model/model.ts";
import { nodeAt, nodeId, type NodeLocation } from "../model/nodes.ts";
import type { ParamSpec } from "../model/params.ts";

export interface Edge {
  source: string;
  target: string;
  weight: number;
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
  // One weight matrix [rows, cols]: edges from input columns `ins` to output rows `outs`.
  const scan = (
    w: ParamSpec,
    l: number,
    srcLoc: NodeLocation,
    ins: number[],
    dstLoc: NodeLocation,
    outs: number[],
    rowOffset = 0,
  ) => {
    const at = model.weightReader(w);
    for (const o of outs) {
      for (const i of ins) {
        const x = at(o + rowOffset, i);
        if (x !== 0) {
          edges.push({
            source: nodeId({ layer: l, location: srcLoc, index: i }),
            target: nodeId({ layer: l, location: dstLoc, index: o }),
            weight: x,
          });
        }
      }
    }
  };
  for (let l = 0; l < d.L; l++) {
    const p = model.layout.layers[l];
    const attnIn = get(l, "attn.act_in");
    scan(p.cAttnW, l, "attn.act_in", attnIn, "attn.q", get(l, "attn.q"), 0);
    scan(p.cAttnW, l, "attn.act_in", attnIn, "attn.k", get(l, "attn.k"), d.HD);
    scan(p.cAttnW, l, "attn.act_in", attnIn, "attn.v", get(l, "attn.v"), 2 * d.HD);
    scan(
      p.attnProjW,
      l,
      "attn.v",
      get(l, "attn.v"),
      "attn.resid_delta",
      get(l, "attn.resid_delta"),
    );
    scan(p.fcW, l, "mlp.act_in", get(l, "mlp.act_in"), "mlp.post_act", get(l, "mlp.post_act"));
    scan(
      p.mlpProjW,
      l,
      "mlp.post_act",
      get(l, "mlp.post_act"),
      "mlp.resid_delta",
      get(l, "mlp.resid_delta"),
    );
  }
  return edges;
}
