/**
 * Discretising a ranking (step 2 of src/prune/prune.ts): bisect the kept count k so that the
 * calibrated task loss on the pruning pairs just meets the target, on the pairs it is bisected
 * and calibrated on and, with that calibration, on the pruning pairs held out of the bisection;
 * every k measured is a point of the loss-vs-k curve.
 */
import type { PromptItem } from "../eval/task_eval.ts";
import type { Calibration } from "./calibrate.ts";
import type { MaskedScorer } from "./masked_scorer.ts";
import type { OnProgress } from "./settings.ts";

/** One point of the loss-vs-k curve: the top k nodes kept, the task loss raw and calibrated. */
export interface CurvePoint {
  k: number;
  loss: number;
  loss_calibrated: number;
}

/** The curve's points by k, each with the calibration fitted there. */
export type Curve = Map<number, CurvePoint & { c: Calibration }>;

/** Raw and calibrated task loss of a node set on some pairs. */
export interface PairLosses {
  pairs: number;
  circuit: number;
  circuit_calibrated: number;
}

/** A node set's losses on the pruning pairs held out of the bisection, and their standard error. */
export interface CheckLosses {
  losses: PairLosses;
  se: number;
}

/**
 * The current mask's losses on the held-out pruning pairs with the bisection's calibration `c`
 * (the standard error only when a margin asks for it: 0 otherwise).
 */
export function measureCheck(
  ms: MaskedScorer,
  check: readonly PromptItem[],
  c: Calibration,
  margin: number,
): CheckLosses {
  const m = ms.measure(check, c);
  return {
    losses: { pairs: check.length / 2, circuit: m.raw, circuit_calibrated: m.cal },
    se: margin > 0 ? ms.stdError(m.s, c) : 0,
  };
}

/** Whether held-out pruning pairs meet the target by `margin` standard errors of their mean. */
export function checkMeets(chk: CheckLosses, target: number, margin: number): boolean {
  return chk.losses.circuit_calibrated + margin * chk.se <= target;
}

/**
 * The margin a check falls back to when the whole model (every node kept) does not meet the
 * target by `margin` standard errors on the check pairs: the largest whole number of them it
 * meets it by, below `margin` (0: just meets it), so the circuit is asked for no more room than
 * the model itself leaves; null when it misses even with none, or nothing is lower.
 */
export function lowerMargin(full: CheckLosses, target: number, margin: number): number | null {
  const room = target - full.losses.circuit_calibrated;
  if (!(room >= 0) || margin <= 0) return null;
  let m = full.se > 0 ? Math.min(Math.ceil(margin) - 1, Math.floor(room / full.se)) : 0;
  while (m > 0 && !checkMeets(full, target, m)) m--;
  return m;
}

export interface BisectOptions {
  progress?: OnProgress;
  /** Pruning pairs held out of the bisection, on which k must meet the target too. */
  check?: readonly PromptItem[];
  /** Standard errors of their mean by which those pairs must meet it (default 0). */
  checkMargin?: number;
  /**
   * What an earlier bisection measured for its top k, when this ranking's top k are the same
   * nodes (a re-ranking reorders within them): not measured again.
   */
  known?: { k: number; point: CurvePoint & { c: Calibration }; check?: CheckLosses };
  /**
   * k is expected at or just under the hint (a re-ranking of the hint's top k): search down from
   * it with a doubling gap before bisecting, so a k that does not shrink costs one pass.
   */
  near?: boolean;
}

/**
 * Bisects the smallest k whose top-k nodes meet the target: calibrated on `pool` (the curve's
 * pairs) and, when `check` has pairs, on them too with pool's calibration, by `checkMargin`
 * standard errors of their mean (a k tuned to just meet the target on the pairs it was chosen on
 * generalises worse, and a loss just at the target on one sample of pairs is above it on about
 * half of the others: docs/prune.md). The check pairs are measured only at a k whose pool
 * passes. When even every node kept misses by the margin, the margin is lowered to what the whole
 * model meets (lowerMargin) and the search runs again; the result says which margin it used.
 */
export function bisect(
  ms: MaskedScorer,
  pool: readonly PromptItem[],
  ranking: number[],
  target: number,
  hint: number,
  opts: BisectOptions = {},
) {
  const { progress, check = [], known } = opts;
  let margin = opts.checkMargin ?? 0;
  const curve: Curve = new Map();
  const checked = new Map<number, CheckLosses>();
  if (known) {
    curve.set(known.k, known.point);
    if (known.check) checked.set(known.k, known.check);
  }
  const checkAt = (k: number) => {
    let got = checked.get(k);
    if (!got) {
      const c = at(k).c;
      ms.keepOnly(ranking.slice(0, k));
      got = measureCheck(ms, check, c, margin);
      checked.set(k, got);
    }
    return got;
  };
  const at = (k: number) => {
    const got = curve.get(k);
    if (got) return got;
    ms.keepOnly(ranking.slice(0, k));
    const m = ms.measure(pool);
    const p = { k, loss: m.raw, loss_calibrated: m.cal, c: m.c };
    curve.set(k, p);
    progress?.("bisect", curve.size, 0, { k: String(k), loss: m.cal.toFixed(3) });
    return p;
  };
  const n = ranking.length;
  const ok = (k: number) =>
    at(k).loss_calibrated <= target &&
    (check.length === 0 || checkMeets(checkAt(k), target, margin));
  const result = (k: number, reached: boolean) => {
    const p = at(k);
    return {
      k,
      reached,
      /** The margin k was checked at: the one asked for, or lower (lowerMargin). */
      checkMargin: margin,
      curve,
      bisectLosses: {
        pairs: pool.length / 2,
        circuit: p.loss,
        circuit_calibrated: p.loss_calibrated,
      },
      checkLosses: check.length ? checkAt(k).losses : null,
      /** What was measured at k, for a later bisection over the same top k (BisectOptions.known). */
      known: { k, point: p, check: check.length ? checkAt(k) : undefined },
    };
  };
  // lo fails (or is 0), hi passes; start from the optimiser's own circuit size.
  let lo = 0, hi = n;
  const h = Math.min(Math.max(hint, 1), n);
  const start = () => {
    lo = 0;
    hi = n;
    if (ok(h)) hi = h;
    else lo = h;
    return ok(hi);
  };
  if (!start()) {
    // Every node kept fails: with a margin the whole model may not have, ask for what it has.
    const lower = check.length && at(n).loss_calibrated <= target
      ? lowerMargin(checkAt(n), target, margin)
      : null;
    if (lower === null) return result(n, false);
    margin = lower;
    start();
  }
  if (opts.near && hi === h) {
    // Expected just under the hint: a gap doubling downwards until a k fails, then bisected.
    for (let gap = 1; hi - gap > 0; gap *= 2) {
      if (!ok(hi - gap)) {
        lo = hi - gap;
        break;
      }
      hi -= gap;
    }
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return result(hi, true);
}

/** The curve's extra points: powers of two up to 2k, for the viewer's slider. */
export function fillCurve(
  ms: MaskedScorer,
  pool: readonly PromptItem[],
  ranking: number[],
  k: number,
  curve: Curve,
  progress?: OnProgress,
) {
  const top = Math.min(ranking.length, Math.max(2 * k, 16));
  for (let x = 1; x <= top; x *= 2) {
    if (curve.has(x)) continue;
    ms.keepOnly(ranking.slice(0, x));
    const m = ms.measure(pool);
    curve.set(x, { k: x, loss: m.raw, loss_calibrated: m.cal, c: m.c });
    progress?.("curve", curve.size, 0, { k: String(x) });
  }
}
