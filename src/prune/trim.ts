/**
 * Trimming a bisected circuit (after step 2 of src/prune/prune.ts; docs/prune.md, "Trimming"): a
 * bisection on a ranking can only cut the ranking's tail, so a node the task can do without stays
 * in the circuit whenever a node the task needs ranks below it. Trimming tries every node of the
 * circuit, dropping it for good when the circuit without it still meets the target — calibrated
 * afresh on the bisection's pairs and, with that calibration, on the check pairs by the
 * bisection's margin, the same test as a bisection's — so it keeps what the bisection found to be
 * enough and can only shrink it. The metric is edges, so the untried node with the most edges to
 * the rest of the circuit as it stands goes first (ties: the one ranked lower). Nodes are tried in
 * groups that gallop: after a group is dropped the next is twice as large, a group refused is
 * tried again in halves, and a node refused alone stays; a circuit with much it can do without
 * sheds it in a few tries, one that needs every node costs about a try a node. A try is screened
 * on a quarter of the bisection's and of the check pairs first (SCREEN_PAIRS), which refuses one
 * that fails by far for a fraction of its cost.
 */
import type { PromptItem } from "../eval/task_eval.ts";
import { checkMeets, measureCheck } from "./bisect.ts";
import { edgesAmong, keptNeighbours, type NodeGraph } from "./edges.ts";
import { LayerCache } from "./layer_cache.ts";
import type { Calibration } from "./calibrate.ts";
import type { MaskedScorer } from "./masked_scorer.ts";
import type { OnProgress } from "./settings.ts";

export interface Trimmed {
  /** The ranking with the kept nodes first (in their order), then the dropped ones, then the rest. */
  ranking: number[];
  /** Nodes kept (the new ranking's top k). */
  k: number;
  /** Edges among the top k before. */
  edgesBefore: number;
  /** Tries refused by the screens, on the bisection's pairs, and on the check pairs. */
  refused: { screen: number; pool: number; check: number };
  /** Tries made (each one test of a group of nodes dropped together). */
  tries: number;
}

/**
 * A try is first scored on the first SCREEN_PAIRS of the bisection's pairs alone, calibrated
 * there, and on the first SCREEN_PAIRS of the check pairs with that calibration, and refused when
 * either loss is over SCREEN_FACTOR times the target: a drop the whole test would pass leaves those
 * pairs near the target, not twice over it.
 */
export const SCREEN_PAIRS = 64;
export const SCREEN_FACTOR = 2;

/** One trimming pass over the top k of `ranking` (see the file comment). */
export function trimCircuit(
  ms: MaskedScorer,
  pool: readonly PromptItem[],
  check: readonly PromptItem[],
  ranking: readonly number[],
  k: number,
  target: number,
  margin: number,
  graph: NodeGraph,
  progress?: OnProgress,
): Trimmed {
  const on = new Uint8Array(ms.n);
  const rank = new Map<number, number>();
  for (let r = 0; r < k; r++) {
    on[ranking[r]] = 1;
    rank.set(ranking[r], r);
  }
  const edgesBefore = edgesAmong(graph, on);
  // Each try differs from the pass before it in a few nodes: on the CPU a pass over the same items
  // resumes at the first layer that changed (the same bits as a full pass).
  const cache = () =>
    ms.model.be.kind === "cpu" ? new LayerCache(ms.model, () => ms.mask, ms.freezeNorm) : undefined;
  const screenOf = (items: readonly PromptItem[]) =>
    items.length > 2 * SCREEN_PAIRS ? items.slice(0, 2 * SCREEN_PAIRS) : null;
  const screen = screenOf(pool), checkScreen = screenOf(check);
  const screenResume = cache(), checkScreenResume = cache(), resume = cache();
  const calibrated = (items: readonly PromptItem[], r: LayerCache | undefined, c?: Calibration) => {
    const s = ms.score(items, true, r);
    const cal = c ?? ms.fit(s);
    return { loss: ms.calibrated(s, cal).loss, c: cal };
  };
  // Where tries were refused: the screens, the bisection's pairs, the check pairs.
  const refused = { screen: 0, pool: 0, check: 0 };
  /** Whether the circuit as masked now meets the target; where it was refused if not. */
  const refusal = (): keyof typeof refused | null => {
    // A try that fails by far: a quarter of each pair set says so first.
    if (screen) {
      const sc = calibrated(screen, screenResume);
      const over = sc.loss > SCREEN_FACTOR * target ||
        (checkScreen !== null &&
          calibrated(checkScreen, checkScreenResume, sc.c).loss > SCREEN_FACTOR * target);
      if (over) return "screen";
    }
    const p = calibrated(pool, resume);
    if (p.loss > target) return "pool";
    if (check.length && !checkMeets(measureCheck(ms, check, p.c, margin), target, margin)) {
      return "check";
    }
    return null;
  };
  const untried = new Set(ranking.slice(0, k));
  /** The untried nodes, most edges to the circuit as it stands first, ties the lower-ranked. */
  const order = () => {
    const deg = new Map([...untried].map((i) => [i, keptNeighbours(graph, on, i)]));
    return [...untried].sort((a, b) => deg.get(b)! - deg.get(a)! || rank.get(b)! - rank.get(a)!);
  };
  let kept = k, g = 1, tries = 0;
  while (untried.size > 0 && kept > 1) {
    // The next g untried nodes in that order, dropped together (at least one node stays).
    const group = order().slice(0, Math.min(g, kept - 1));
    for (const i of group) on[i] = 0;
    ms.keepOnly(ranking.slice(0, k).filter((i) => on[i]));
    const why = refusal();
    tries++;
    if (why === null) {
      for (const i of group) untried.delete(i);
      kept -= group.length;
      g *= 2;
    } else {
      refused[why]++;
      for (const i of group) on[i] = 1;
      // A group refused is tried again in halves; a node refused alone stays.
      if (group.length === 1) untried.delete(group[0]);
      g = Math.max(1, group.length >> 1);
    }
    progress?.("trim", k - untried.size, k, {
      nodes: String(kept),
      refused: `${refused.screen}/${refused.pool}/${refused.check}`,
    });
  }
  const top = ranking.slice(0, k).filter((i) => on[i]);
  return {
    ranking: [...top, ...ranking.slice(0, k).filter((i) => !on[i]), ...ranking.slice(k)],
    k: top.length,
    edgesBefore,
    refused,
    tries,
  };
}
