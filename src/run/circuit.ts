/**
 * The circuit file, `<run>/circuits/<task>.json`: what `deno task prune` finds and the viewer, the
 * study and other tools read. Documented in docs/circuit-format.md; validated on every read with
 * zod, so a file that does not match is one clear error, never a half-drawn graph. Pure (no I/O):
 * the browser uses the same parse.
 *
 * Change the shape only together with CIRCUIT_VERSION.
 */
import { z } from "zod";
import { UserError } from "../errors.ts";
import { AFRAC_LOCTYPES, dims, type ModelConfig } from "../model/config.ts";
import {
  locationSpec,
  NODE_LOCATIONS,
  nodeId,
  type NodeLocation,
  type NodeRef,
  parseNodeId,
} from "../model/nodes.ts";
import { VERSION } from "../version.ts";

export const CIRCUIT_FORMAT = "thinwire.circuit";
export const CIRCUIT_VERSION = 1;
export const SUMMARY_FORMAT = "thinwire.circuit_summary";

const finite = z.number().finite();
const nonNeg = finite.nonnegative();
const count = z.number().int().nonnegative();
const nodeIdString = z.string().refine((s) => parseNodeId(s) !== null, {
  message: 'not a node id "{layer}.{location}.{index}"',
});

export const modelConfigSchema = z.object({
  vocabSize: count,
  nLayer: count,
  baseDModel: count,
  baseDMlp: count,
  ef: finite.positive(),
  dHead: count,
  nCtx: count,
  afrac: finite.positive(),
  sink: z.boolean(),
  bigram: z.boolean(),
  dPosEmb: count,
  afracLoctypes: z.array(z.enum(AFRAC_LOCTYPES)).optional(),
  addPosEmb: z.boolean().optional(),
});

/** Which model the circuit was found in. */
export const circuitModelSchema = z.object({
  /** The run folder's name. */
  run: z.string(),
  /** SHA-256 (hex) of the run's model.safetensors: a circuit applies to exactly these weights. */
  weights_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  config: modelConfigSchema,
});

export const circuitNodeSchema = z.object({
  id: nodeIdString,
  layer: count,
  location: z.enum(NODE_LOCATIONS),
  /** Channel within the location (q/k/v: head·d_head + j). */
  index: count,
  /** The value the node takes when ablated (its pretraining mean; 0 under zero ablation). */
  mean: finite,
  /**
   * Task-loss change when this node alone is ablated from the circuit (calibrated with the
   * circuit's scale and shift, on the evaluation pairs): how much the circuit needs it.
   */
  delta: finite,
});

export const circuitEdgeSchema = z.object({
  source: nodeIdString,
  target: nodeIdString,
  /** The nonzero weight connecting them (docs/method.md §4: c_fc, mlp.c_proj, c_attn or attn.c_proj). */
  weight: finite,
});

export const circuitExampleSchema = z.object({
  prompts: z.tuple([z.string(), z.string()]),
  answers: z.tuple([z.string(), z.string()]),
  /** P(correct) over the two candidates, per prompt, under the full model and the circuit. */
  p_full: z.tuple([finite, finite]),
  p_circuit: z.tuple([finite, finite]),
});

/** A node set's task loss on some pairs, raw and calibrated. */
const pairLossesSchema = z.object({ pairs: count, circuit: nonNeg, circuit_calibrated: nonNeg });

export const circuitSchema = z.object({
  format: z.literal(CIRCUIT_FORMAT),
  version: z.literal(CIRCUIT_VERSION),
  thinwire: z.string(),
  model: circuitModelSchema,
  task: z.string(),
  /** Task-loss target the circuit was pruned to (calibrated loss on the pruning pairs). */
  target: nonNeg,
  /** How nodes were ranked: learned masks (docs/method.md §4) or attribution (gradient × (x − μ)). */
  method: z.enum(["learned", "attribution"]),
  ablation: z.enum(["mean", "zero"]),
  /** Every RMSNorm used the unpruned model's scale, per token. */
  freeze_norm: z.boolean(),
  seed: count,
  /** The optimiser's and the data's settings (docs/circuit-format.md lists them). */
  hyperparameters: z.record(z.string(), z.union([finite, z.string(), z.boolean()])),
  /** Pair seeds and counts: masks trained on prune_seed pairs, losses reported on eval_seed's. */
  pairs: z.object({
    prune_seed: count,
    eval_seed: count,
    prune_pairs: count,
    eval_pairs: count,
  }),
  nodes: z.array(circuitNodeSchema),
  edges: z.array(circuitEdgeSchema),
  /** Node counts per location (sums of `nodes`), for tables. */
  counts: z.record(z.enum(NODE_LOCATIONS), count),
  /** Task losses on the evaluation pairs (nats, mean binary cross-entropy per prompt). */
  losses: z.object({
    full: nonNeg,
    /** The circuit alone, everything else ablated (sufficiency), raw logits. */
    circuit: nonNeg,
    /** The same after the calibration below. */
    circuit_calibrated: nonNeg,
    /** Only the circuit's nodes ablated, the rest of the model intact (necessity). */
    ablated: nonNeg,
    /** Random node sets with the circuit's count per layer and location, calibrated likewise. */
    random: z.object({ mean: nonNeg, sd: nonNeg, draws: count }),
    /**
     * The circuit alone on the pruning pairs (absent from files written before it): the pairs k
     * was bisected and calibrated on, and the other pruning pairs with that calibration (null
     * when there were none). k is the smallest count that meets the target on both.
     */
    pruning: z.object({
      bisect: pairLossesSchema,
      check: pairLossesSchema.nullable(),
    }).optional(),
  }),
  /** Logit-difference calibration of the circuit (16 LBFGS steps on the pruning pairs). */
  calibration: z.object({ scale: finite, shift: finite }),
  /** Task loss (pruning pairs) when keeping the top k nodes by rank, raw and calibrated. */
  curve: z.array(z.object({ k: count, loss: nonNeg, loss_calibrated: nonNeg })),
  /** Node ids by rank, best first, as far as the curve reaches. */
  ranking: z.array(nodeIdString),
  examples: z.array(circuitExampleSchema),
  time_s: nonNeg,
  /** Seconds per phase (means, optimise, bisect, baselines, …). */
  timing: z.record(z.string(), nonNeg),
}).superRefine((c, ctx) => {
  const ids = new Set<string>();
  for (const n of c.nodes) {
    const p = parseNodeId(n.id);
    // A malformed id is the id field's own issue.
    if (!p) continue;
    if (p.layer !== n.layer || p.location !== n.location || p.index !== n.index) {
      ctx.addIssue({ code: "custom", message: `node ${n.id}: id disagrees with its fields` });
    }
    if (ids.has(n.id)) ctx.addIssue({ code: "custom", message: `node ${n.id} appears twice` });
    ids.add(n.id);
  }
  for (const e of c.edges) {
    if (!ids.has(e.source) || !ids.has(e.target)) {
      ctx.addIssue({
        code: "custom",
        message: `edge ${e.source} → ${e.target} joins a node the circuit lacks`,
      });
    }
  }
});

export type Circuit = z.infer<typeof circuitSchema>;
export type CircuitNode = z.infer<typeof circuitNodeSchema>;
export type CircuitEdge = z.infer<typeof circuitEdgeSchema>;

/** One task's line in `circuits/summary.json`. */
export const summaryTaskSchema = z.object({
  task: z.string(),
  status: z.enum(["pruned", "not solved by the model", "not measurable", "target not reached"]),
  full_loss: nonNeg.nullable(),
  nodes: count.nullable(),
  edges: count.nullable(),
  circuit_loss: nonNeg.nullable(),
  ablated_loss: nonNeg.nullable(),
  random_loss: nonNeg.nullable(),
  time_s: nonNeg,
  note: z.string().nullable(),
});

export const summarySchema = z.object({
  format: z.literal(SUMMARY_FORMAT),
  version: z.literal(CIRCUIT_VERSION),
  thinwire: z.string(),
  model: circuitModelSchema,
  target: nonNeg,
  method: z.enum(["learned", "attribution"]),
  ablation: z.enum(["mean", "zero"]),
  freeze_norm: z.boolean(),
  tasks: z.array(summaryTaskSchema),
  /** Geometric mean of edge counts over the pruned tasks (docs/method.md §4's metric); null if none. */
  geomean_edges: nonNeg.nullable(),
  time_s: nonNeg,
});

export type CircuitSummary = z.infer<typeof summarySchema>;

/** Formats the first zod issue as "path: message". */
function firstIssue(e: z.ZodError): string {
  const i = e.issues[0];
  const path = i.path.length ? i.path.map(String).join(".") : "(top level)";
  const more = e.issues.length > 1 ? ` (and ${e.issues.length - 1} more problems)` : "";
  return `${path}: ${i.message}${more}`;
}

/** Validates parsed JSON as a circuit file; `where` names the file in the one-line error. */
export function parseCircuit(json: unknown, where: string): Circuit {
  const head = json as { format?: unknown; version?: unknown } | null;
  if (head && typeof head === "object" && head.format === CIRCUIT_FORMAT) {
    if (head.version !== CIRCUIT_VERSION) {
      throw new UserError(
        `${where}: circuit file version ${JSON.stringify(head.version)} is not supported ` +
          `(this thinwire reads version ${CIRCUIT_VERSION})`,
      );
    }
  }
  const r = circuitSchema.safeParse(json);
  if (!r.success) throw new UserError(`${where}: not a valid circuit file: ${firstIssue(r.error)}`);
  return r.data;
}

/**
 * Checks a circuit file against the run it is read from: it is the file of `task`
 * (circuits/<task>.json), and every node it names exists in a model of `cfg` (its layer, and a
 * channel within its location's width). One-line UserError naming the file and the first problem.
 */
export function checkCircuitFits(c: Circuit, cfg: ModelConfig, task: string, where: string): void {
  if (c.task !== task) {
    throw new UserError(`${where}: holds the circuit of task '${c.task}', not of ${task}`);
  }
  const d = dims(cfg);
  const ids = [...c.nodes.map((n) => n.id), ...c.ranking];
  for (const id of ids) {
    const ref = parseNodeId(id)!;
    if (ref.layer >= d.L || ref.index >= locationSpec(ref.location).width(d)) {
      throw new UserError(
        `${where}: node ${id} is not a node of this model (${d.L} layers, d_model ${d.C})`,
      );
    }
  }
}

/** Validates parsed JSON as `circuits/summary.json`. */
export function parseSummary(json: unknown, where: string): CircuitSummary {
  const r = summarySchema.safeParse(json);
  if (!r.success) {
    throw new UserError(`${where}: not a valid circuit summary: ${firstIssue(r.error)}`);
  }
  return r.data;
}

/** Parses circuit-file text (JSON) with one-line errors for bad JSON too. */
export function parseCircuitText(text: string, where: string): Circuit {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UserError(`${where}: not valid JSON (truncated or not a circuit file?)`);
  }
  return parseCircuit(json, where);
}

/** A circuit in the pruner's terms: what encodeCircuit turns into the file. */
export interface CircuitParts {
  model: Circuit["model"];
  task: string;
  settings: Pick<
    Circuit,
    "target" | "method" | "ablation" | "freeze_norm" | "seed" | "hyperparameters"
  >;
  pairs: Circuit["pairs"];
  /** Kept nodes in model-wide order, with the value each takes when ablated and its delta. */
  nodes: { ref: NodeRef; mean: number; delta: number }[];
  edges: CircuitEdge[];
  losses: Circuit["losses"];
  calibration: Circuit["calibration"];
  curve: Circuit["curve"];
  /** Nodes by rank, best first, as far as the file keeps them. */
  ranking: NodeRef[];
  /** Example pairs, with each prompt's task loss under the full model and under the circuit. */
  examples: {
    prompts: [string, string];
    answers: [string, string];
    fullLosses: [number, number];
    circuitLosses: [number, number];
  }[];
  timeS: number;
  timing: Record<string, number>;
}

/** The circuit file of a circuit's parts (ids, per-location counts, P(correct) = exp(−loss)). */
export function encodeCircuit(p: CircuitParts): Circuit {
  const counts = Object.fromEntries(NODE_LOCATIONS.map((l) => [l, 0])) as Record<
    NodeLocation,
    number
  >;
  const nodes = p.nodes.map(({ ref, mean, delta }) => {
    counts[ref.location]++;
    return {
      id: nodeId(ref),
      layer: ref.layer,
      location: ref.location,
      index: ref.index,
      mean,
      delta,
    };
  });
  const prob = ([a, b]: [number, number]): [number, number] => [Math.exp(-a), Math.exp(-b)];
  return {
    format: CIRCUIT_FORMAT,
    version: CIRCUIT_VERSION,
    thinwire: VERSION,
    model: p.model,
    task: p.task,
    ...p.settings,
    pairs: p.pairs,
    nodes,
    edges: p.edges,
    counts,
    losses: p.losses,
    calibration: p.calibration,
    curve: p.curve,
    ranking: p.ranking.map(nodeId),
    examples: p.examples.map((e) => ({
      prompts: e.prompts,
      answers: e.answers,
      p_full: prob(e.fullLosses),
      p_circuit: prob(e.circuitLosses),
    })),
    time_s: p.timeS,
    timing: p.timing,
  };
}

/** `circuits/summary.json` of its task rows, with their geometric mean of edges. */
export function encodeSummary(
  p: Pick<
    CircuitSummary,
    "model" | "target" | "method" | "ablation" | "freeze_norm" | "tasks" | "time_s"
  >,
): CircuitSummary {
  const edges = p.tasks.filter((t) => t.status === "pruned").map((t) => t.edges ?? 0);
  return {
    format: SUMMARY_FORMAT,
    version: CIRCUIT_VERSION,
    thinwire: VERSION,
    model: p.model,
    target: p.target,
    method: p.method,
    ablation: p.ablation,
    freeze_norm: p.freeze_norm,
    tasks: p.tasks,
    geomean_edges: geomeanEdges(edges),
    time_s: p.time_s,
  };
}

/** Geometric mean of edge counts (docs/method.md §4's metric); null for none. An empty circuit counts as one edge, so a zero never collapses the mean. */
export function geomeanEdges(edges: readonly number[]): number | null {
  if (edges.length === 0) return null;
  return Math.exp(edges.reduce((s, x) => s + Math.log(Math.max(1, x)), 0) / edges.length);
}
