/**
 * Circuit pruning (docs/method.md §4): find the smallest set of nodes that keeps a task's loss at or under
 * a target with every other node mean-ablated, then measure it. The parts: settings.ts (what a
 * run is told), masked_scorer.ts (a task's loss under node masks), and the three steps:
 *
 *  1. Rank the nodes (ranking.ts). "learned": one τ per node, m = H(τ) forward, the sigmoid-
 *     derivative surrogate backward, AdamW on task loss + k_coef·Σm over batches of pairs from
 *     the first maskPairs pruning pairs; rank by τ. "attribution": rank by |∂L/∂m| at m = 1
 *     (gradient × (x − μ) summed over tokens), over the same pairs.
 *  2. Discretise (bisect.ts): bisect the kept count k of the ranking so that the calibrated task
 *     loss just meets the target on the first bisectPairs of those pairs (calibration:
 *     src/prune/calibrate.ts) and, with that calibration and checkMargin standard errors to
 *     spare, on the pruning pairs after the masks' own, unseen until then; re-rank the k nodes
 *     by |∂L/∂m| with only them kept and search k again, while that shrinks it (rerankTop);
 *     keep every k measured on the order kept as the loss-vs-k curve.
 *  3. Measure (measure.ts) on the held-out evaluation pairs: the full model, the circuit alone (sufficiency,
 *     raw and with the pruning pairs' calibration), the model with only the circuit ablated
 *     (necessity), random node sets with the same count per layer and location, and each
 *     node's delta (the loss change when it alone is ablated from the circuit).
 *
 * Task-agnostic: it takes prompt items (src/eval/task_eval.ts `taskItems`), so tests can hand it a
 * model and task built by hand.
 */
import type { PromptItem } from "../eval/task_eval.ts";
import { lapTimer } from "../util/laps.ts";
import { bisect, type CurvePoint, fillCurve, type PairLosses } from "./bisect.ts";
import { type Calibration, IDENTITY } from "./calibrate.ts";
import { LayerCache } from "./layer_cache.ts";
import type { MaskedScorer } from "./masked_scorer.ts";
import { type CircuitMeasures, measureCircuit } from "./measure.ts";
import { edgesAmong, graphOf } from "./edges.ts";
import { attributionRanking, type Ranking, rerankTop, trainMasks } from "./ranking.ts";
import {
  type MaskHyperparams,
  type OnProgress,
  poolRoles,
  type PruneSettings,
} from "./settings.ts";
import { trimCircuit, type Trimmed } from "./trim.ts";

export interface PruneData {
  /** Pruning pairs (2 items per pair): the masks train on them, k is bisected and checked on them. */
  pool: PromptItem[];
  /** Held-out evaluation pairs: every reported loss. */
  evalItems: PromptItem[];
}

export interface CircuitResult extends CircuitMeasures {
  /** Kept nodes (model-wide indices), ascending. */
  kept: number[];
  /** Every node by rank, best first. */
  ranking: number[];
  curve: CurvePoint[];
  calibration: Calibration;
  /** Whether the calibrated loss on the pruning pairs met the target at the chosen k. */
  reached: boolean;
  /**
   * The standard errors by which the check pairs met it: the settings' checkMargin, or lower
   * where the whole model does not meet the target by that many (bisect.ts lowerMargin).
   */
  checkMargin: number;
  /**
   * Losses at the chosen k on the pruning pairs k was bisected on, and on the rest of the pruning
   * pairs with their calibration (null when every pruning pair was bisected on).
   */
  pruningLosses: { bisect: PairLosses; check: PairLosses | null };
  /** Last optimisation loss (task + k_coef·Σm) and nodes on, for the report. */
  trainLoss: number;
  trainOn: number;
  /** The mask optimiser's settings that made the ranking (k_coef lowered after a collapse). */
  hp: MaskHyperparams;
  /** The logit scale the masks' task loss was taken at (1: the model's own logits). */
  logitScale: number;
  /**
   * Optimisations whose masks lost the task (see collapseLoss): their k_coef, edge_coef, penalty warmup and
   * mask noise, the task loss and nodes on at the end, and what they were retried with
   * (retryAfterCollapse).
   */
  collapses: (RetrySettings & { taskLoss: number; on: number; retry: RetrySettings })[];
  /** k on the τ ranking, then after each re-ranking round that shrank it. */
  ks: number[];
  /** Nodes and edges before and after each trimming pass (the last one may drop none). */
  trims: TrimStep[];
  timing: Record<string, number>;
}

/** A trimming pass: the circuit's nodes and edges before and after it. */
export interface TrimStep {
  nodes: [number, number];
  edges: [number, number];
  /** Tries made, and those refused by the screens, on the bisection's pairs, on the check pairs. */
  tries: number;
  refused: Trimmed["refused"];
}

/**
 * The task loss (uncalibrated, last batch) above which the optimiser's own masks count as having
 * lost the task: most of the way to chance (ln 2 = 0.693 for a two-answer loss) and at least
 * twice the target.
 */
export function collapseLoss(target: number): number {
  return Math.max(0.5, 2 * target);
}
const MAX_RETRIES = 3;

/**
 * The mask noise a collapsed optimisation is retried with first: at 0.1 a sixth of the nodes are
 * off on the first step and a task the model is very sure of starts at chance; at 0.03 almost none
 * are (docs/prune.md, "The mask noise at the start").
 */
export const RETRY_NOISE = 0.03;

/** The penalty warmup a collapsed optimisation is retried with next (a fraction of the steps). */
export const RETRY_WARMUP = 0.5;

/** The settings a collapse changes (what a retry is recorded with). */
export type RetrySettings = Pick<
  MaskHyperparams,
  "kCoef" | "edgeCoef" | "penaltyWarmup" | "maskNoise"
>;

/** The settings a collapse changes, picked out of the optimiser's. */
function retrySettings(hp: MaskHyperparams): RetrySettings {
  return {
    kCoef: hp.kCoef,
    edgeCoef: hp.edgeCoef,
    penaltyWarmup: hp.penaltyWarmup,
    maskNoise: hp.maskNoise,
  };
}

/**
 * What a collapsed optimisation is retried with, one change at a time: less mask noise (the
 * masks start with the task); then the penalty ramped in from 0 over the first half of the steps,
 * so the task's nodes rise before it bites; then k_coef (and edge_coef) / 10.
 */
export function retryAfterCollapse(hp: MaskHyperparams): MaskHyperparams {
  if (hp.maskNoise > RETRY_NOISE) return { ...hp, maskNoise: RETRY_NOISE };
  if (hp.penaltyWarmup < RETRY_WARMUP) return { ...hp, penaltyWarmup: RETRY_WARMUP };
  return { ...hp, kCoef: hp.kCoef / 10, edgeCoef: hp.edgeCoef / 10 };
}

/**
 * What the search (steps 1 and 2) found, before anything is measured on held-out pairs: the
 * ranking kept and the bisection on it.
 */
export interface Found {
  ranking: number[];
  bisection: ReturnType<typeof bisect>;
  ks: number[];
  trims: TrimStep[];
  /** The mask optimisation (or attribution) that made the first ranking. */
  opt: Ranking;
  hp: MaskHyperparams;
  collapses: CircuitResult["collapses"];
  timing: Record<string, number>;
}

/** Steps 1 and 2: rank the nodes and discretise, re-ranking while that shrinks k. */
export function searchCircuit(
  ms: MaskedScorer,
  data: PruneData,
  st: PruneSettings,
  progress?: OnProgress,
): Found {
  const { timing, lap } = lapTimer();
  let hp = st.hp;
  const collapses: CircuitResult["collapses"] = [];
  let opt: Ranking;
  // The masks train on the first maskPairs pruning pairs, k is bisected on the first of those,
  // and the pruning pairs after the masks' own are unseen by both, so the check that k meets the
  // target there is a held-out one (poolRoles).
  const { train, bisect: bisectItems, check: checkItems } = poolRoles(data.pool, st);
  if (st.method === "learned") {
    // A model that is very sure of a task gives the masks almost no task gradient at first, and
    // Adam moves every τ by about lr per step whatever the gradient's size: the penalty can switch
    // the whole task off before its loss pushes back (the masks "collapse"; the bisection then
    // has to take back thousands of nodes in an order that is noise). Such a run is retried with
    // less mask noise, then the penalty warmed up, then ten times smaller (retryAfterCollapse).
    for (;;) {
      const phase = collapses.length ? `optimise (retry ${collapses.length})` : "optimise";
      opt = trainMasks(ms, train, { ...st, hp }, progress, phase);
      if (!(opt.taskLoss > collapseLoss(st.target)) || collapses.length >= MAX_RETRIES) break;
      const next = retryAfterCollapse(hp);
      collapses.push({
        ...retrySettings(hp),
        taskLoss: opt.taskLoss,
        on: opt.on,
        retry: retrySettings(next),
      });
      hp = next;
    }
  } else {
    opt = attributionRanking(ms, train, st, progress);
  }
  lap(st.method === "learned" ? "optimise" : "attribute");
  const hint = st.method === "learned" ? opt.on : Math.max(1, Math.round(ms.n / 16));
  let ranking = opt.ranking;
  let b = bisect(ms, bisectItems, ranking, st.target, hint, {
    progress,
    check: checkItems,
    checkMargin: st.checkMargin,
  });
  const ks = [b.k];
  lap("bisect");
  // Re-rank the circuit by attribution inside it and bisect again, while that shrinks it.
  for (let round = 0; round < hp.rerank && b.reached && b.k > 1; round++) {
    progress?.("rerank", round + 1, hp.rerank, { nodes: String(b.k) });
    const next = rerankTop(ms, bisectItems, ranking, b.k, hp.batchPairs, opt.logitScale);
    const nb = bisect(ms, bisectItems, next, st.target, b.k, {
      check: checkItems,
      checkMargin: b.checkMargin,
      known: b.known,
      near: true,
    });
    if (!(nb.k < b.k)) break;
    ranking = next;
    b = nb;
    ks.push(b.k);
  }
  lap("rerank");
  // Trim: try dropping each node of the circuit, most edges first (src/prune/trim.ts).
  const trims: TrimStep[] = [];
  for (let pass = 0; pass < hp.trim && b.reached && b.k > 1; pass++) {
    const t = trimCircuit(
      ms,
      bisectItems,
      checkItems,
      ranking,
      b.k,
      st.target,
      b.checkMargin,
      graphOf(ms.model),
      progress,
    );
    if (!(t.k < b.k)) {
      trims.push({ nodes: [b.k, b.k], edges: [t.edgesBefore, t.edgesBefore], ...tried(t) });
      break;
    }
    // The trimmed nodes are the new ranking's top: bisect down from there, for the curve and
    // the losses at the final k (a drop the pass refused may pass now, so k can shrink further).
    const nb = bisect(ms, bisectItems, t.ranking, st.target, t.k, {
      check: checkItems,
      checkMargin: b.checkMargin,
      near: true,
    });
    const edges: [number, number] = [t.edgesBefore, edgesOfTop(ms, t.ranking, nb.k)];
    trims.push({ nodes: [b.k, nb.k], edges, ...tried(t) });
    ranking = t.ranking;
    b = nb;
  }
  if (hp.trim > 0) lap("trim");
  return { ranking, bisection: b, ks, trims, opt, hp, collapses, timing };
}

const tried = (t: Trimmed) => ({ tries: t.tries, refused: t.refused });

/** Edges among the top k nodes of a ranking. */
function edgesOfTop(ms: MaskedScorer, ranking: readonly number[], k: number): number {
  const on = new Uint8Array(ms.n);
  for (const i of ranking.slice(0, k)) on[i] = 1;
  return edgesAmong(graphOf(ms.model), on);
}

/** Step 3: measure what the search found, and fill its curve (findCircuit). */
export function measureFound(
  ms: MaskedScorer,
  data: PruneData,
  st: PruneSettings,
  found: Found,
  progress?: OnProgress,
): CircuitResult {
  const { timing, lap } = lapTimer();
  const { ranking, bisection, opt } = found;
  const { bisect: bisectItems } = poolRoles(data.pool, st);
  const { k, reached, curve, bisectLosses, checkLosses, checkMargin } = bisection;
  const kept = ranking.slice(0, k).sort((a, b) => a - b);
  const calibration = curve.get(k)!.c;
  // Each delta pass differs from the circuit's in one node: resume at that node's layer. The
  // cache keeps host copies of every block's input, which on a GPU would cost a wait per batch
  // for blocks a GPU recomputes faster: there every pass runs in full.
  const deltaResume = ms.model.be.kind === "cpu"
    ? new LayerCache(ms.model, () => ms.mask, ms.freezeNorm)
    : undefined;
  const m = measureCircuit(ms, data.evalItems, kept, calibration, st, {
    progress,
    lap,
    deltaResume,
  });
  if (!st.skipBaselines) {
    fillCurve(ms, bisectItems, ranking, k, curve, progress);
    lap("curve");
  }
  const points = [...curve.values()].sort((a, b) => a.k - b.k).map((
    { k, loss, loss_calibrated },
  ) => ({
    k,
    loss,
    loss_calibrated,
  }));
  return {
    kept,
    ranking,
    curve: points,
    calibration: calibration ?? IDENTITY,
    reached,
    checkMargin,
    pruningLosses: { bisect: bisectLosses, check: checkLosses },
    ...m,
    trainLoss: opt.loss,
    trainOn: opt.on,
    hp: found.hp,
    logitScale: opt.logitScale,
    collapses: found.collapses,
    ks: found.ks,
    trims: found.trims,
    timing: { ...found.timing, ...timing },
  };
}

/** Runs the whole search and measurement (see the file comment). */
export function findCircuit(
  ms: MaskedScorer,
  data: PruneData,
  st: PruneSettings,
  progress?: OnProgress,
): CircuitResult {
  return measureFound(ms, data, st, searchCircuit(ms, data, st, progress), progress);
}
