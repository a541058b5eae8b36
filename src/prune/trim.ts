/**
 * Trimming a bisected circuit (after step 2 of src/prune/prune.ts; docs/prune.md, "Trimming"): a
 * bisection on a ranking can only cut the ranking's tail, so a node the task can do without stays
 * in the circuit whenever a node the task needs ranks below it. Trimming tries every node of
 * the circuit once, dropping it for good when the circuit without it still meets the target —
 * calibrated afresh on the bisection's pairs and, with that calibration, on the check pairs by the
 * bisection's margin, the same test as a bisection's — so it keeps what the bisection found to be
 * enough and can only shrink it. The metric is edges, so the node with the most edges to the rest
 * of the circuit is tried first (ties: the one ranked lower), each choice made on the circuit as it
 * stands after the drops before it. A try is screened on a quarter of the bisection's and of the
 * check pairs first (SCREEN_PAIRS), since most fail by far.
 */
import type { PromptItem } from "../eval/task_eval.ts";
import { checkMeets, measureCheck } from "./bisect.ts";
import { edgesAmong, type NodeGraph } from "./edges.ts";
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
  const degree = (i: number) => {
    let d = 0;
    for (let e = graph.ptr[i]; e < graph.ptr[i + 1]; e++) d += on[graph.idx[e]];
    return d;
  };
  // Each trial differs from the pass before it in a node or two: on the CPU a pass over the same
  // items resumes at the first layer that changed (the same bits as a full pass).
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
    // Most tries fail by far: a quarter of each pair set says so first.
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
  let kept = k;
  while (untried.size > 0 && kept > 1) {
    let best = -1, bestDegree = -1;
    for (const i of untried) {
      const d = degree(i);
      if (d > bestDegree || (d === bestDegree && rank.get(i)! > rank.get(best)!)) {
        best = i;
        bestDegree = d;
      }
    }
    untried.delete(best);
    on[best] = 0;
    ms.keepOnly(ranking.slice(0, k).filter((i) => on[i]));
    const why = refusal();
    if (why === null) kept--;
    else {
      refused[why]++;
      on[best] = 1;
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
  };
}
