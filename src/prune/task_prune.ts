/**
 * `prune` on a run, one task at a time: the task's pair sets (task_data.ts), the circuit search
 * (prune.ts), the circuit file (circuit_file.ts), and `--all`'s summary. The node means are
 * means.ts's.
 */
import { CHANCE_LOSS } from "../eval/accuracy.ts";
import { type Circuit, type CircuitSummary, encodeSummary, geomeanEdges } from "../run/circuit.ts";
import type { OpenRun } from "../run/open.ts";
import type { Task } from "../../tasks/index.ts";
import { circuitJson } from "./circuit_file.ts";
import { MEANS_TOKENS } from "./means.ts";
import { type CircuitResult, measureFound, type TrimStep } from "./prune.ts";
import type { MaskHyperparams, OnProgress, PruneSettings } from "./settings.ts";
import { MaskedScorer } from "./masked_scorer.ts";
import { searchCandidates } from "./search.ts";
import { makeScorer, taskData } from "./task_data.ts";

export interface TaskPruneOptions {
  settings: PruneSettings;
  prunePairs: number;
  evalPairs: number;
  meansTokens?: number;
  /** Hyperparameter search trials (1 = the given settings only). */
  trials: number;
  /** Searches from seeds seed, seed + 1, … per trial (1 = the given seed only). */
  restarts?: number;
  progress?: OnProgress;
}

/** What pruning one task gave. */
export type TaskOutcome =
  | {
    task: string;
    status: "pruned" | "target not reached";
    circuit: Circuit;
    trials?: TrialReport;
    /** Every seed's circuit, when there were restarts (of the winning trial's settings). */
    restarts?: RestartReport;
    collapses?: Collapse[];
    /** k on the τ ranking, then after each re-ranking round that shrank it. */
    ks?: number[];
    /** Each trimming pass run (the last one may drop none). */
    trims?: TrimStep[];
    /**
     * The check margin asked for, when the whole model did not meet the target by it and k was
     * checked at a lower one (the circuit file's check_margin).
     */
    marginAsked?: number;
  }
  | { task: string; status: "not solved by the model"; fullLoss: number }
  | { task: string; status: "not measurable"; note: string };

/** An optimisation whose masks lost the task, and what it was retried with (retryAfterCollapse). */
export type Collapse = CircuitResult["collapses"][number];

export interface RestartReport {
  seeds: number[];
  /** Edges and nodes of each seed's circuit (Infinity: it missed the target). */
  edges: number[];
  nodes: number[];
  /** The seed whose circuit was kept (the circuit file's seed). */
  kept: number;
}

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
 * (evaluation loss at or above the target, or at chance: not below ln 2) is reported, not pruned.
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
  // At chance there is nothing to find: a target above chance is met by ablating everything.
  if (!(full < st.target) || !(full < CHANCE_LOSS)) {
    return { task: task.name, status: "not solved by the model", fullLoss: full };
  }
  const nTrials = opts.trials, nRestarts = opts.restarts ?? 1;
  const search = searchCandidates(r.model, ms, data, st, nTrials, nRestarts, opts.progress);
  const win = search.candidates[search.best];
  const settings = win.st;
  let trials: TrialReport | undefined;
  if (nTrials > 1) {
    const first = search.candidates[0];
    trials = {
      defaultEdges: first.edges,
      defaultNodes: first.nodes,
      bestEdges: win.edges,
      bestNodes: win.nodes,
      trials: nTrials,
      best: settings.hp,
    };
  }
  let restarts: RestartReport | undefined;
  if (nRestarts > 1) {
    const same = search.candidates.filter((c) => c.trial === win.trial);
    restarts = {
      seeds: same.map((c) => c.st.seed),
      edges: same.map((c) => c.edges),
      nodes: same.map((c) => c.nodes),
      kept: settings.seed,
    };
  }
  const res = measureFound(ms, data, settings, search.found, opts.progress);
  res.timing = { ...res.timing, ...search.timing };
  const used = { ...settings, hp: res.hp, checkMargin: res.checkMargin };
  const circuit = circuitJson(r, data, res, used, {
    prunePairs: opts.prunePairs,
    evalPairs: opts.evalPairs,
    meansTokens: opts.meansTokens ?? MEANS_TOKENS,
    means: st.ablation === "mean" ? means : null,
    timeS: (performance.now() - t0) / 1000,
    restarts: nRestarts,
  });
  return {
    task: task.name,
    status: res.reached ? "pruned" : "target not reached",
    circuit,
    trials,
    restarts,
    collapses: res.collapses,
    ks: res.ks,
    trims: res.trims,
    ...(res.checkMargin < settings.checkMargin ? { marginAsked: settings.checkMargin } : {}),
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
  return encodeSummary({
    model: { run: r.name, weights_sha256: r.weightsSha256, config: r.rc.model },
    target: st.target,
    method: st.method,
    ablation: st.ablation,
    freeze_norm: st.freezeNorm,
    tasks,
    time_s: timeS,
  });
}

/** Geometric mean of edge counts over the pruned tasks (docs/method.md §4's metric); null if none. */
export function outcomesGeomean(outcomes: TaskOutcome[]): number | null {
  return geomeanEdges(
    outcomes.flatMap((o) => o.status === "pruned" ? [o.circuit.edges.length] : []),
  );
}

/** Whether the full model's task loss is at chance (not below ln 2). */
export function atChance(fullLoss: number): boolean {
  return !(fullLoss < CHANCE_LOSS);
}

const LN2_TEXT = `ln 2 = ${CHANCE_LOSS.toFixed(4)}`;

/** What to do about a model at chance on a task (one clause). */
export const TRAIN_LONGER = "train the model longer (deno task train --out DIR --resume " +
  "--steps N) or use the small preset (deno task train)";

/** Why a task gave no circuit to prune (one line), or null when it was pruned. */
export function unprunableReason(o: TaskOutcome, target: number): string | null {
  if (o.status === "not measurable") return `${o.task}: ${o.note}`;
  if (o.status !== "not solved by the model") return null;
  const loss = o.fullLoss.toFixed(4);
  if (atChance(o.fullLoss)) {
    return `${o.task}: the full model is at chance on this task (task loss ${loss}, not below ` +
      `${LN2_TEXT}: it does not tell the two answers apart), so there is no circuit to find; ` +
      TRAIN_LONGER;
  }
  return `${o.task}: the full model's task loss is ${loss}, not under the target ${target} (not ` +
    `solved by the model: nothing to prune; give a --target between ${loss} and ${LN2_TEXT}, or ` +
    `train longer)`;
}
