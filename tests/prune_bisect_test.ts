/**
 * The discretisation's bisection (src/prune/bisect.ts) on a scorer whose loss is a known step in
 * k: the smallest k that meets the target on the pairs it is bisected on and, with their
 * calibration, on the pruning pairs held out of the bisection; and the losses it reports. And
 * what an optimisation whose masks collapsed is retried with.
 */
import assert from "node:assert/strict";
import type { PromptItem } from "../src/eval/task_eval.ts";
import { bisect, lowerMargin } from "../src/prune/bisect.ts";
import { RETRY_NOISE, RETRY_WARMUP, retryAfterCollapse } from "../src/prune/prune.ts";
import { bestScore } from "../src/prune/search.ts";
import { DEFAULT_HP } from "../src/prune/settings.ts";
import type { Calibration } from "../src/prune/calibrate.ts";
import type { MaskedScorer } from "../src/prune/masked_scorer.ts";

const item = (tag: number): PromptItem => ({ tokens: [tag], correct: 1, wrong: 2 });
const BISECT = Array.from({ length: 8 }, () => item(0));
const CHECK = Array.from({ length: 6 }, () => item(1));

/**
 * A scorer whose calibrated loss is 0.1 from k = kBisect on (kCheck on the check pairs), 1 below;
 * on the check pairs 0.05 from kTight on, and their standard error `se`.
 */
function stepScorer(kBisect: number, kCheck: number, kTight = Infinity, se = 0) {
  let k = 0;
  const measured: { k: number; check: boolean; c?: Calibration }[] = [];
  const ms = {
    keepOnly(kept: Iterable<number>) {
      k = [...kept].length;
    },
    measure(items: readonly PromptItem[], c?: Calibration) {
      const check = items[0].tokens[0] === 1;
      measured.push({ k, check, c });
      const cal = check && k >= kTight ? 0.05 : k >= (check ? kCheck : kBisect) ? 0.1 : 1;
      return { raw: 2 * cal, cal, c: c ?? { scale: k, shift: 0 }, s: null };
    },
    stdError: () => se,
  } as unknown as MaskedScorer;
  return { ms, measured };
}

const RANKING = Array.from({ length: 100 }, (_, i) => i);

Deno.test("bisect: the smallest k meeting the target on the bisection's pairs, none held out", () => {
  const { ms, measured } = stepScorer(37, 80);
  const r = bisect(ms, BISECT, RANKING, 0.15, 50);
  assert.equal(r.k, 37);
  assert.ok(r.reached);
  assert.deepEqual(r.bisectLosses, { pairs: 4, circuit: 0.2, circuit_calibrated: 0.1 });
  assert.equal(r.checkLosses, null);
  assert.ok(measured.every((m) => !m.check));
});

Deno.test("bisect: k grows until the held-out pruning pairs meet the target too, with the bisection's calibration", () => {
  const { ms, measured } = stepScorer(37, 61);
  const r = bisect(ms, BISECT, RANKING, 0.15, 50, { check: CHECK });
  assert.equal(r.k, 61);
  assert.ok(r.reached);
  assert.deepEqual(r.checkLosses, { pairs: 3, circuit: 0.2, circuit_calibrated: 0.1 });
  assert.equal(r.bisectLosses.circuit_calibrated, 0.1);
  // Held-out pairs are scored only where the bisection's pairs pass, with their calibration.
  for (const m of measured.filter((m) => m.check)) {
    assert.ok(m.k >= 37, `check scored at k = ${m.k}`);
    assert.deepEqual(m.c, { scale: m.k, shift: 0 });
  }
  // The curve holds the bisection's pairs only.
  assert.ok([...r.curve.values()].every((p) => p.loss_calibrated === (p.k >= 37 ? 0.1 : 1)));
});

Deno.test("bisect: a known top k is not scored again", () => {
  const { ms, measured } = stepScorer(37, 61);
  const r = bisect(ms, BISECT, RANKING, 0.15, 50, { check: CHECK });
  assert.equal(r.k, 61);
  // The same top 61 in another order (a re-ranking): nothing at k = 61 is measured again.
  measured.length = 0;
  const again = bisect(ms, BISECT, RANKING, 0.15, 61, { check: CHECK, known: r.known });
  assert.equal(again.k, 61);
  assert.ok(!measured.some((m) => m.k === 61));
});

Deno.test("bisect near the hint: a k that does not shrink costs one pass, one that does is still found", () => {
  const first = stepScorer(37, 37);
  const r = bisect(first.ms, BISECT, RANKING, 0.15, 50, { check: CHECK });
  first.measured.length = 0;
  const same = bisect(first.ms, BISECT, RANKING, 0.15, 37, {
    check: CHECK,
    known: r.known,
    near: true,
  });
  assert.equal(same.k, 37);
  assert.deepEqual(first.measured.map((m) => m.k), [36]);
  for (const k of [1, 20, 30, 35, 36]) {
    const { ms } = stepScorer(k, k);
    const got = bisect(ms, BISECT, RANKING, 0.15, 37, { check: CHECK, near: true });
    assert.equal(got.k, k, `k ${k}`);
  }
});

Deno.test("bisect: the target not reached when even every node fails on the held-out pairs", () => {
  const { ms } = stepScorer(10, 1000);
  const r = bisect(ms, BISECT, RANKING, 0.15, 20, { check: CHECK });
  assert.equal(r.k, 100);
  assert.equal(r.reached, false);
  assert.equal(r.checkLosses!.circuit_calibrated, 1);
});

Deno.test("bisect: with a margin, the held-out pruning pairs meet the target by that many standard errors", () => {
  // Check loss 0.1 from k = 61, 0.05 from k = 75, standard error 0.08: 0.1 + 0.08 misses 0.15.
  for (const [margin, k] of [[0, 61], [1, 75], [0.5, 61]]) {
    const { ms } = stepScorer(37, 61, 75, 0.08);
    const r = bisect(ms, BISECT, RANKING, 0.15, 50, { check: CHECK, checkMargin: margin });
    assert.equal(r.k, k, `margin ${margin}`);
    assert.ok(r.reached);
  }
});

Deno.test("bisect: a margin the whole model does not meet is lowered to the whole standard errors it meets by", () => {
  // Check loss 0.1 from k = 61 up to every node: the whole model has 0.05 of room.
  for (
    const [margin, se, want] of [
      [2, 0.04, 1], // room 1.25 SE: margin 1, met from k = 61
      [1.5, 0.04, 1],
      [3, 0.02, 2], // room 2.5 SE
      [2, 0.06, 0], // room 0.83 SE: just meet it
      [1, 0.04, 1], // met as asked: not lowered
    ]
  ) {
    const { ms } = stepScorer(37, 61, Infinity, se);
    const r = bisect(ms, BISECT, RANKING, 0.15, 50, { check: CHECK, checkMargin: margin });
    assert.equal(r.checkMargin, want, `margin ${margin}, se ${se}`);
    assert.equal(r.k, 61, `margin ${margin}, se ${se}`);
    assert.ok(r.reached);
  }
  // A hint at every node, and a lowered margin under which a smaller k passes: still bisected.
  const { ms } = stepScorer(37, 61, Infinity, 0.04);
  const all = bisect(ms, BISECT, RANKING, 0.15, 100, { check: CHECK, checkMargin: 2 });
  assert.deepEqual([all.k, all.checkMargin, all.reached], [61, 1, true]);
  // No margin helps when the whole model misses on the check pairs, or on the bisection's own.
  for (const [kBisect, kCheck] of [[37, 1000], [1000, 61]]) {
    const miss = stepScorer(kBisect, kCheck, Infinity, 0.04);
    const r = bisect(miss.ms, BISECT, RANKING, 0.15, 50, { check: CHECK, checkMargin: 2 });
    assert.deepEqual([r.k, r.reached, r.checkMargin], [100, false, 2]);
  }
});

Deno.test("lowerMargin: the largest whole margin below the one asked that the whole model meets", () => {
  const full = (cal: number, se: number) => ({
    losses: { pairs: 128, circuit: cal, circuit_calibrated: cal },
    se,
  });
  assert.equal(lowerMargin(full(0.1, 0.04), 0.15, 2), 1);
  assert.equal(lowerMargin(full(0.1, 0.01), 0.15, 2), 1); // room 5 SE, but only lower than asked
  assert.equal(lowerMargin(full(0.1, 0.01), 0.15, 2.5), 2);
  assert.equal(lowerMargin(full(0.0999, 0.05), 0.15, 2), 1); // just over 1 SE of room
  assert.equal(lowerMargin(full(0.15, 0.05), 0.15, 2), 0);
  assert.equal(lowerMargin(full(0.16, 0.05), 0.15, 2), null);
  assert.equal(lowerMargin(full(0.1, 0.04), 0.15, 0), null);
  assert.equal(lowerMargin(full(NaN, 0.04), 0.15, 2), null);
});

Deno.test("a collapsed optimisation is retried with less mask noise, then the penalty warmed up, then at k_coef / 10", () => {
  const lowered = retryAfterCollapse({
    ...DEFAULT_HP,
    maskNoise: 0,
    penaltyWarmup: 1,
    edgeCoef: 1e-4,
  });
  assert.deepEqual([lowered.kCoef, lowered.edgeCoef], [DEFAULT_HP.kCoef / 10, 1e-5]);
  const pick = (hp: typeof DEFAULT_HP) => [hp.maskNoise, hp.penaltyWarmup, hp.kCoef];
  const first = retryAfterCollapse(DEFAULT_HP);
  assert.deepEqual(pick(first), [RETRY_NOISE, 0, DEFAULT_HP.kCoef]);
  const second = retryAfterCollapse(first);
  assert.deepEqual(pick(second), [RETRY_NOISE, RETRY_WARMUP, DEFAULT_HP.kCoef]);
  const third = retryAfterCollapse(second);
  assert.deepEqual(pick(third), [RETRY_NOISE, RETRY_WARMUP, DEFAULT_HP.kCoef / 10]);
  // Settings already past a step skip it: no noise, or a longer warmup.
  assert.deepEqual(
    pick(retryAfterCollapse({ ...DEFAULT_HP, maskNoise: 0 })),
    [0, RETRY_WARMUP, DEFAULT_HP.kCoef],
  );
  assert.deepEqual(
    pick(retryAfterCollapse({ ...DEFAULT_HP, maskNoise: 0.01, penaltyWarmup: 0.8 })),
    [0.01, 0.8, DEFAULT_HP.kCoef / 10],
  );
});

Deno.test("restarts and trials keep the fewest edges, then the fewest nodes, then the earliest", () => {
  const miss = [Infinity, Infinity] as const;
  assert.equal(bestScore([[5, 3], [4, 9], [4, 2], miss]), 2);
  assert.equal(bestScore([[4, 2], [4, 2], [6, 1]]), 0);
  assert.equal(bestScore([miss, [9, 9]]), 1);
  assert.equal(bestScore([miss, miss]), -1);
  assert.equal(bestScore([[0, 1]]), 0);
});
