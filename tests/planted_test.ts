/**
 * Pruning recovers circuits that are known: models built by hand (tests/planted.ts) whose answer
 * flows through a planted MLP path, an attention head whose query is a constant, or an MLP that
 * writes a residual channel a later head reads, among 1400 nodes of dense random distractors, at
 * a full loss from moderate (0.05) to extremely sure (1e-5). At the default settings the circuit
 * must be exactly the planted nodes. The planted set is first shown to be the necessary one: alone
 * it meets the target, and without any one of its nodes it does not (calibration refitted, so
 * no rescaling can make up for the node). Opt-in (THINWIRE_WIDE_TESTS=1, minutes): the same
 * among 22,528 and 90,112 nodes, 4 layers of distractors at block density 1/64.
 * bench/planted_bench.ts runs the wider grid (full loss 1e-3 too, any width, depth and density).
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import { nodeAt, nodeId } from "../src/model/nodes.ts";
import { circuitEdges, graphOf } from "../src/prune/edges.ts";
import { MaskedScorer } from "../src/prune/masked_scorer.ts";
import { findCircuit } from "../src/prune/prune.ts";
import { lossScale, rerankTop } from "../src/prune/ranking.ts";
import { bisect } from "../src/prune/bisect.ts";
import { trimCircuit } from "../src/prune/trim.ts";
import { circuitSearchSettings, DEFAULT_HP, PRUNE_DEFAULTS } from "../src/prune/settings.ts";
import {
  PLANTED_SHAPES,
  plantedModel,
  plantedNodes,
  type PlantedOptions,
  type PlantedShape,
} from "./planted.ts";

const SETTINGS = circuitSearchSettings();

/** Builds a planted model, checks its planted set is the necessary one, and prunes it at the defaults. */
async function recoversExactly(
  shape: PlantedShape,
  fullLoss: number,
  opts: PlantedOptions = {},
  threads = 1,
): Promise<void> {
  const be = await Backend.create({ threads });
  try {
    const p = plantedModel(be, shape, fullLoss, 1, opts);
    const model = p.model;
    assert.ok(
      Math.abs(Math.log(p.fullLoss / fullLoss)) < 0.1,
      `full loss ${p.fullLoss}, wanted ${fullLoss}`,
    );
    const ms = new MaskedScorer(model, p.scorer, p.means, false);
    const pool = p.items(PRUNE_DEFAULTS.prunePairs, 11);
    const evalItems = p.items(PRUNE_DEFAULTS.evalPairs, 12);
    const name = (i: number) => nodeId(nodeAt(model.d, model.nodes, i));
    // Necessary: alone the planted nodes meet the target; every one of them is needed.
    ms.keepOnly(p.planted);
    assert.ok(ms.measure(evalItems).cal <= SETTINGS.target, "the planted nodes alone");
    for (const i of p.planted) {
      ms.keepOnly(p.planted.filter((j) => j !== i));
      const cal = ms.measure(evalItems).cal;
      assert.ok(cal > 2 * SETTINGS.target, `without ${name(i)}: ${cal}`);
    }
    // The loss set point: a model less sure than it trains on its own logits (scale exactly
    // 1, so nothing changes); a surer one on logits cooled until its loss is the set point.
    // The masks train on the bisection's pairs.
    const setPoint = DEFAULT_HP.lossSetPoint;
    const train = pool.slice(0, 2 * SETTINGS.bisectPairs);
    const s = lossScale(ms, train, setPoint);
    const trainLoss = ms.score(train, false).meanLoss;
    if (trainLoss >= setPoint) assert.equal(s, 1);
    else {
      assert.ok(s < 1);
      const cooled = ms.scaledLoss(ms.score(train, false), s);
      assert.ok(Math.abs(cooled / setPoint - 1) < 1e-3, `loss ${cooled} at scale ${s}`);
    }
    assert.equal(lossScale(ms, train, 0), 1);
    assert.equal(lossScale(ms, train, trainLoss / 2), 1);
    const res = findCircuit(ms, { pool, evalItems }, SETTINGS);
    assert.equal(res.logitScale, s);
    assert.deepEqual(res.kept.map(name), p.planted.map(name));
    assert.equal(circuitEdges(model, res.kept).length, p.edges);
    assert.ok(res.reached);
    assert.deepEqual(res.collapses, []);
    // Nothing smaller meets the target, so no re-ranking round is kept.
    assert.deepEqual(res.ks, [p.planted.length]);
    assert.ok(res.losses.circuit_calibrated <= SETTINGS.target);
    assert.ok(res.pruningLosses.check !== null);
    assert.ok(res.pruningLosses.check.circuit_calibrated <= SETTINGS.target);
  } finally {
    be.close();
  }
}

for (const shape of PLANTED_SHAPES) {
  for (const fullLoss of [0.05, 1e-5]) {
    Deno.test(
      `planted ${shape} circuit at full loss ${fullLoss}: pruning returns exactly it`,
      () => recoversExactly(shape, fullLoss),
    );
  }
}

// The paper model's node count and an ef-8 model's, among sparse distractors (minutes each, so
// opt-in: THINWIRE_WIDE_TESTS=1; bench/planted_bench.ts --layers 4 --ef E --density 1/64 runs
// every shape and sureness).
const WIDE = Deno.env.get("THINWIRE_WIDE_TESTS") === "1";
for (const ef of [8, 32]) {
  const opts = { ef, layers: 4, density: 1 / 64 };
  Deno.test({
    name: `planted mlp_head circuit at full loss 1e-5 among ${
      plantedNodes(opts).toLocaleString("en")
    } nodes (4 layers, distractors at density 1/64): pruning returns exactly it`,
    ignore: !WIDE,
    fn: () => recoversExactly("mlp_head", 1e-5, opts, 2),
  });
}

/**
 * The τ ranking's failure on the paper model: every planted node but one on top, 20 distractors
 * (the lowest other nodes), then the last planted node, then the rest. No prefix short of all of
 * them meets the target.
 */
function buriedRanking(planted: number[], n: number): number[] {
  const set = new Set(planted);
  const others = Array.from({ length: n }, (_, i) => i).filter((i) => !set.has(i));
  return [...planted.slice(0, -1), ...others.slice(0, 20), planted.at(-1)!, ...others.slice(20)];
}

/**
 * Runs `fn` on the planted head model at full loss 0.05 (1 thread), its masked scorer, a node's
 * id by index, and buriedRanking of its planted nodes.
 */
async function onBuriedHead(
  fn: (
    p: ReturnType<typeof plantedModel>,
    ms: MaskedScorer,
    name: (i: number) => string,
    ranking: number[],
  ) => void,
): Promise<void> {
  const be = await Backend.create({ threads: 1 });
  try {
    const p = plantedModel(be, "head", 0.05);
    const ms = new MaskedScorer(p.model, p.scorer, p.means, false);
    const name = (i: number) => nodeId(nodeAt(p.model.d, p.model.nodes, i));
    fn(p, ms, name, buriedRanking(p.planted, ms.n));
  } finally {
    be.close();
  }
}

Deno.test("re-ranking brings a planted node the ranking buried under distractors back to the top", () =>
  onBuriedHead((p, ms, name, ranking) => {
    const train = p.items(PRUNE_DEFAULTS.bisectPairs, 11);
    const target = PRUNE_DEFAULTS.target;
    const before = bisect(ms, train, ranking, target, p.planted.length + 20);
    assert.equal(before.k, p.planted.length + 20);
    const scale = lossScale(ms, train, DEFAULT_HP.lossSetPoint);
    const next = rerankTop(ms, train, ranking, before.k, DEFAULT_HP.batchPairs, scale);
    assert.deepEqual(next.slice(before.k), ranking.slice(before.k), "the rest keeps its order");
    const after = bisect(ms, train, next, target, before.k);
    assert.ok(after.reached);
    assert.deepEqual(
      next.slice(0, after.k).sort((a, b) => a - b).map(name),
      p.planted.map(name),
    );
  }));

Deno.test("trimming drops every distractor a bisection had to keep above a buried planted node, and only them", () =>
  onBuriedHead((p, ms, name, ranking) => {
    const pool = p.items(PRUNE_DEFAULTS.prunePairs, 11);
    const bisectItems = pool.slice(0, 2 * PRUNE_DEFAULTS.bisectPairs);
    const check = pool.slice(2 * PRUNE_DEFAULTS.bisectPairs);
    // The bisection on buriedRanking keeps the 20 distractors above the last planted node.
    const planted = new Set(p.planted);
    const others = ranking.filter((i) => !planted.has(i));
    const target = PRUNE_DEFAULTS.target;
    const opts = { check, checkMargin: 1 };
    const before = bisect(ms, bisectItems, ranking, target, p.planted.length + 20, opts);
    assert.equal(before.k, p.planted.length + 20);
    const graph = graphOf(p.model);
    const t = trimCircuit(ms, bisectItems, check, ranking, before.k, target, 1, graph);
    assert.deepEqual(
      t.ranking.slice(0, t.k).sort((a, b) => a - b).map(name),
      p.planted.map(name),
    );
    assert.equal(t.edgesBefore, circuitEdges(p.model, ranking.slice(0, before.k)).length);
    // The distractors went in galloping groups: fewer tries than nodes.
    assert.ok(t.tries < before.k, `${t.tries} tries for ${before.k} nodes`);
    // The dropped nodes follow the kept ones, then the rest in its order.
    assert.deepEqual(t.ranking.slice(before.k), ranking.slice(before.k));
    assert.deepEqual(
      new Set(t.ranking.slice(t.k, before.k)),
      new Set(others.slice(0, 20)),
    );
    // What was kept meets the target as a bisection would test it.
    assert.equal(bisect(ms, bisectItems, t.ranking, target, t.k, { ...opts, near: true }).k, t.k);
  }));
