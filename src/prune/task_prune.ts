/**
 * `prune` on a run: node means (cached in the run folder with the weights' hash), the task's
 * pruning and evaluation pairs, the circuit search (src/prune/prune.ts) and the circuit file
 * (src/run/circuit.ts). One task or every task the model solves.
 */
import { PairScorer, type PromptItem, SOLVED_LOSS, taskItems } from "../eval/task_eval.ts";
import { UserError } from "../errors.ts";
import { LOCATIONS, nodeAt, nodeId, type NodeLocation } from "../model/nodes.ts";
import type { Circuit, CircuitSummary } from "../run/circuit.ts";
import { CIRCUIT_FORMAT, CIRCUIT_VERSION, SUMMARY_FORMAT } from "../run/circuit.ts";
import type { NodeMeans } from "../run/format.ts";
import type { OpenRun } from "../run/open.ts";
import { type LoadedRun, readMeans, writeMeans } from "../run/run_dir.ts";
import { VERSION } from "../version.ts";
import { EVAL_SEED, PRUNE_SEED, type Task, type TaskPair } from "../../tasks/index.ts";
import { circuitEdges } from "./edges.ts";
import { computeMeans, MEANS_TOKENS } from "./means.ts";
import { type CircuitResult, findCircuit } from "./prune.ts";
import {
  hyperparamsJson,
  type MaskHyperparams,
  type OnProgress,
  type PruneSettings,
} from "./settings.ts";
import { MaskedScorer } from "./masked_scorer.ts";
import { searchHyperparams } from "./search.ts";

export interface TaskPruneOptions {
  settings: PruneSettings;
  prunePairs: number;
  evalPairs: number;
  meansTokens?: number;
  /** Hyperparameter search trials (1 = the given settings only). */
  trials: number;
  progress?: OnProgress;
}

/** The pair sets of a task, or why it cannot be pruned. */
export interface TaskData {
  task: Task;
  pool: PromptItem[];
  evalItems: PromptItem[];
  evalPairs: TaskPair[];
}

/** Loads the cached node means or computes (and caches) them; a damaged cache is recomputed. */
export async function nodeMeans(
  r: LoadedRun,
  tokens = MEANS_TOKENS,
  onBatch?: (done: number, total: number) => void,
): Promise<{ means: NodeMeans; cached: boolean }> {
  const n = r.model.nodes.total;
  const cached = await readMeans(r.dir, n, r.weightsSha256);
  if (cached && cached.tokens >= tokens) return { means: cached, cached: true };
  const means = await computeMeans(r, tokens, onBatch);
  await writeMeans(r.dir, means);
  return { means, cached: false };
}

/** Builds a task's pruning (PRUNE_SEED) and evaluation (EVAL_SEED) items. */
export function taskData(
  r: OpenRun,
  task: Task,
  prunePairs: number,
  evalPairs: number,
): TaskData | { task: Task; note: string } {
  const pool = taskItems(r.tokenizer, task, PRUNE_SEED, prunePairs);
  if (pool.note !== null) return { task, note: pool.note };
  const ev = taskItems(r.tokenizer, task, EVAL_SEED, evalPairs);
  if (ev.note !== null) return { task, note: ev.note };
  return { task, pool: pool.items, evalItems: ev.items, evalPairs: ev.pairs };
}

/** A scorer sized for a task's pair sets, on the run's model. */
export function makeScorer(r: OpenRun, items: number): PairScorer {
  const tokensPerBatch = Math.max(r.rc.train.batchSize * r.rc.model.nCtx, r.rc.model.nCtx);
  return new PairScorer(r.model, r.tokenizer, items, tokensPerBatch);
}

/** The circuit file of a search result. */
export function circuitJson(
  r: OpenRun,
  data: TaskData,
  res: CircuitResult,
  st: PruneSettings,
  opts: {
    prunePairs: number;
    evalPairs: number;
    meansTokens: number;
    means: Float32Array | null;
    timeS: number;
  },
): Circuit {
  const d = r.model.d;
  const counts = Object.fromEntries(LOCATIONS.map((l) => [l.name, 0])) as Record<
    NodeLocation,
    number
  >;
  const nodes = res.kept.map((i, j) => {
    const n = nodeAt(d, r.model.nodes, i);
    counts[n.location]++;
    return {
      id: nodeId(n),
      layer: n.layer,
      location: n.location,
      index: n.index,
      mean: opts.means ? opts.means[i] : 0,
      delta: res.deltas[j] ?? 0,
    };
  });
  const maxK = res.curve.reduce((m, p) => Math.max(m, p.k), res.kept.length);
  const hp: Record<string, number | string | boolean> = {
    ...hyperparamsJson(st.hp),
    means_tokens: opts.meansTokens,
    random_draws: st.randomDraws,
    random_pairs: Math.min(st.randomPairs, opts.evalPairs),
    delta_pairs: Math.min(st.deltaPairs, opts.evalPairs),
    bisect_pairs: Math.min(st.bisectPairs, opts.prunePairs),
  };
  const p = (x: number) => Math.exp(-x);
  return {
    format: CIRCUIT_FORMAT,
    version: CIRCUIT_VERSION,
    thinwire: VERSION,
    model: { run: r.name, weights_sha256: r.weightsSha256, config: r.rc.model },
    task: data.task.name,
    target: st.target,
    method: st.method,
    ablation: st.ablation,
    freeze_norm: st.freezeNorm,
    seed: st.seed,
    hyperparameters: hp,
    pairs: {
      prune_seed: PRUNE_SEED,
      eval_seed: EVAL_SEED,
      prune_pairs: opts.prunePairs,
      eval_pairs: opts.evalPairs,
    },
    nodes,
    edges: circuitEdges(r.model, res.kept),
    counts,
    losses: res.losses,
    calibration: res.calibration,
    curve: res.curve,
    ranking: res.ranking.slice(0, maxK).map((i) => nodeId(nodeAt(d, r.model.nodes, i))),
    examples: data.evalPairs.slice(0, 4).map((q, k) => ({
      prompts: q.prompts,
      answers: q.answers,
      p_full: [p(res.fullLosses[2 * k]), p(res.fullLosses[2 * k + 1])],
      p_circuit: [p(res.circuitLosses[2 * k]), p(res.circuitLosses[2 * k + 1])],
    })),
    time_s: opts.timeS,
    timing: res.timing,
  };
}

/** What pruning one task gave. */
export type TaskOutcome =
  | {
    task: string;
    status: "pruned" | "target not reached";
    circuit: Circuit;
    trials?: TrialReport;
    collapses?: Collapse[];
  }
  | { task: string; status: "not solved by the model"; fullLoss: number }
  | { task: string; status: "not measurable"; note: string };

/** An optimisation whose masks lost the task, retried with a smaller k_coef (prune.ts). */
export type Collapse = CircuitResult["collapses"][number];

export interface TrialReport {
  /** Edges (and nodes) of the default settings' circuit and of the best trial's. */
  defaultEdges: number;
  defaultNodes: number;
  bestEdges: number;
  bestNodes: number;
  trials: number;
  best: MaskHyperparams;
}

/**
 * Prunes one task of a loaded run (means already at hand). A task the full model does not solve
 * (evaluation loss at or above the target) is reported, not pruned.
 */
export function pruneTask(
  r: OpenRun,
  task: Task,
  means: Float32Array | null,
  opts: TaskPruneOptions,
): TaskOutcome {
  // Every buffer of one task (scorer, masks, activations at its shapes) lives in one arena scope
  // that ends with it, so `--all` runs in the memory of its largest task, not of their sum.
  const { model } = r, arena = model.be.arena;
  model.releaseActs();
  const mark = arena.mark();
  try {
    return pruneTaskIn(r, task, means, opts);
  } finally {
    model.releaseActs();
    arena.restore(mark);
  }
}

function pruneTaskIn(
  r: OpenRun,
  task: Task,
  means: Float32Array | null,
  opts: TaskPruneOptions,
): TaskOutcome {
  const t0 = performance.now();
  const st = opts.settings;
  const data = taskData(r, task, opts.prunePairs, opts.evalPairs);
  if ("note" in data) return { task: task.name, status: "not measurable", note: data.note };
  const scorer = makeScorer(r, Math.max(data.pool.length, data.evalItems.length));
  const ms = new MaskedScorer(
    r.model,
    scorer,
    st.ablation === "mean" ? means : null,
    st.freezeNorm,
  );
  const full = ms.score(data.evalItems, false).meanLoss;
  if (!(full < st.target)) {
    return { task: task.name, status: "not solved by the model", fullLoss: full };
  }
  let settings = st;
  let trials: TrialReport | undefined;
  if (opts.trials > 1) {
    const s = searchHyperparams(r.model, ms, data, st, opts.trials, opts.progress);
    settings = { ...st, hp: s.best };
    trials = {
      defaultEdges: s.defaultEdges,
      defaultNodes: s.defaultNodes,
      bestEdges: s.bestEdges,
      bestNodes: s.bestNodes,
      trials: opts.trials,
      best: s.best,
    };
  }
  const res = findCircuit(ms, data, settings, opts.progress);
  const circuit = circuitJson(r, data, res, { ...settings, hp: res.hp }, {
    prunePairs: opts.prunePairs,
    evalPairs: opts.evalPairs,
    meansTokens: opts.meansTokens ?? MEANS_TOKENS,
    means: st.ablation === "mean" ? means : null,
    timeS: (performance.now() - t0) / 1000,
  });
  return {
    task: task.name,
    status: res.reached ? "pruned" : "target not reached",
    circuit,
    trials,
    collapses: res.collapses,
  };
}

/** `circuits/summary.json` for `--all`. */
export function summaryJson(
  r: OpenRun,
  st: PruneSettings,
  outcomes: { outcome: TaskOutcome; timeS: number }[],
  timeS: number,
): CircuitSummary {
  const tasks = outcomes.map(({ outcome: o, timeS }) => {
    const base = { task: o.task, status: o.status, time_s: timeS };
    if (o.status === "pruned" || o.status === "target not reached") {
      const c = o.circuit;
      return {
        ...base,
        full_loss: c.losses.full,
        nodes: c.nodes.length,
        edges: c.edges.length,
        circuit_loss: c.losses.circuit_calibrated,
        ablated_loss: c.losses.ablated,
        random_loss: Number.isFinite(c.losses.random.mean) ? c.losses.random.mean : null,
        note: null,
      };
    }
    return {
      ...base,
      full_loss: o.status === "not solved by the model" ? o.fullLoss : null,
      nodes: null,
      edges: null,
      circuit_loss: null,
      ablated_loss: null,
      random_loss: null,
      note: o.status === "not measurable" ? o.note : null,
    };
  });
  return {
    format: SUMMARY_FORMAT,
    version: CIRCUIT_VERSION,
    thinwire: VERSION,
    model: { run: r.name, weights_sha256: r.weightsSha256, config: r.rc.model },
    target: st.target,
    method: st.method,
    ablation: st.ablation,
    freeze_norm: st.freezeNorm,
    tasks,
    geomean_edges: geomeanEdges(outcomes.map((o) => o.outcome)),
    time_s: timeS,
  };
}

/** Geometric mean of edge counts over the pruned tasks (PAPER §4's metric); null if none. */
export function geomeanEdges(outcomes: TaskOutcome[]): number | null {
  const e = outcomes.filter((o) => o.status === "pruned").map((o) =>
    (o as { circuit: Circuit }).circuit.edges.length
  );
  if (e.length === 0) return null;
  // An empty circuit counts as one edge, so a zero never collapses the mean.
  return Math.exp(e.reduce((s, x) => s + Math.log(Math.max(1, x)), 0) / e.length);
}

/** Throws the one-line error of a task that cannot be pruned alone (`--task`). */
export function refuseUnprunable(o: TaskOutcome, target: number): void {
  if (o.status === "not solved by the model") {
    throw new UserError(
      `${o.task}: the full model's task loss is ${o.fullLoss.toFixed(4)}, not under the target ` +
        `${target} (not solved by the model: nothing to prune; lower the bar with --target)`,
    );
  }
  if (o.status === "not measurable") throw new UserError(`${o.task}: ${o.note}`);
}

export { SOLVED_LOSS };
