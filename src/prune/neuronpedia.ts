/**
 * A circuit as the attribution-graph JSON that Neuronpedia and circuit-tracer load (Neuronpedia's
 * graph-schema.json, circuit-tracer's frontend/graph_models.py; docs/method.md §7), for one prompt.
 *
 * Our nodes are shared across positions; on one prompt each circuit node is drawn at the position
 * the answer is predicted from (the prompt's last token, `ctx_idx`), with its activation there
 * under the full model. `feature_type` is the node's location (`"attn.q"`, `"mlp.post_act"`, …: new
 * values beside the existing "embedding" and "logit"); `feature` is the channel. Links are the
 * circuit's edges (docs/method.md §4); the unembedding is not a circuit edge, so the two candidates' logit
 * nodes and the last token's embedding node stand alone, with `token_prob` on the logits.
 */
import type { Tokenizer } from "../data/tokenizer.ts";
import type { PromptItem } from "../eval/task_eval.ts";
import type { Model } from "../model/model.ts";
import { nodeRow, parseNodeId } from "../model/nodes.ts";
import type { Circuit } from "../run/circuit.ts";

export interface NeuronpediaNode {
  node_id: string;
  feature: number | null;
  layer: string;
  ctx_idx: number;
  feature_type: string;
  jsNodeId: string;
  clerp: string;
  activation?: number;
  influence?: number;
  token_prob?: number;
  is_target_logit?: boolean;
}

export interface NeuronpediaGraph {
  metadata: {
    slug: string;
    scan: string;
    prompt_tokens: string[];
    prompt: string;
    schema_version: number;
    info: Record<string, unknown>;
  };
  qParams: {
    pinnedIds: string[];
    supernodes: string[][];
    linkType: string;
    clickedId: string;
    sg_pos: string;
  };
  nodes: NeuronpediaNode[];
  links: { source: string; target: string; weight: number }[];
}

/** The graph of `circuit` on `item` (its prompt text `prompt`), activations from the full model. */
export function neuronpediaGraph(
  model: Model,
  tok: Tokenizer,
  circuit: Circuit,
  prompt: string,
  item: PromptItem,
): NeuronpediaGraph {
  const seq = [tok.eot, ...item.tokens].slice(-model.cfg.nCtx);
  const T = seq.length, ctx = T - 1;
  model.forward(Int32Array.from(seq), null, 1, T);
  model.downloadActs();
  const a = model.acts, arena = model.be.arena;
  const act = (id: string): number => {
    const n = parseNodeId(id)!;
    return arena.f32(nodeRow(a.layers[n.layer], model.d, n, T) + 4 * ctx, 1)[0];
  };
  const key = (id: string) => `${id.replaceAll(".", "_")}_${ctx}`;
  const nodes: NeuronpediaNode[] = circuit.nodes.map((n) => ({
    node_id: key(n.id),
    feature: n.index,
    layer: String(n.layer),
    ctx_idx: ctx,
    feature_type: n.location,
    jsNodeId: key(n.id),
    clerp: `${n.location} ${n.index} (Δloss ${n.delta.toFixed(3)})`,
    activation: act(n.id),
    influence: Math.abs(n.delta),
  }));
  // The two candidates' logits at the last position, with their probabilities over the pair.
  const lg = (t: number) => arena.f32(a.logits + 4 * (t * T + ctx), 1)[0];
  const lc = lg(item.correct), lw = lg(item.wrong);
  const pc = 1 / (1 + Math.exp(lw - lc));
  for (const [t, p, target] of [[item.correct, pc, true], [item.wrong, 1 - pc, false]] as const) {
    const id = `logit_${t}_${ctx}`;
    nodes.push({
      node_id: id,
      feature: t,
      layer: String(model.d.L),
      ctx_idx: ctx,
      feature_type: "logit",
      jsNodeId: id,
      clerp: `logit ${JSON.stringify(tok.decode([t]))}`,
      token_prob: p,
      is_target_logit: target,
    });
  }
  const tokId = `E_${seq[ctx]}_${ctx}`;
  nodes.push({
    node_id: tokId,
    feature: seq[ctx],
    layer: "E",
    ctx_idx: ctx,
    feature_type: "embedding",
    jsNodeId: tokId,
    clerp: `token ${JSON.stringify(tok.decode([seq[ctx]]))}`,
  });
  return {
    metadata: {
      slug: `${circuit.model.run}-${circuit.task}`.toLowerCase().replace(/[^a-z0-9-]+/g, "-"),
      scan: `thinwire-${circuit.model.run}`,
      prompt_tokens: seq.map((t) => tok.decode([t])),
      prompt,
      schema_version: 1,
      info: {
        generator: { name: "thinwire", version: circuit.thinwire },
        task: circuit.task,
        weights_sha256: circuit.model.weights_sha256,
        circuit_losses: circuit.losses,
      },
    },
    qParams: { pinnedIds: [], supernodes: [], linkType: "both", clickedId: "", sg_pos: "" },
    nodes,
    links: circuit.edges.map((e) => ({
      source: key(e.source),
      target: key(e.target),
      weight: e.weight,
    })),
  };
}
