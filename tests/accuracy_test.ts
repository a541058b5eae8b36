/**
 * Accuracy counts a 50/50 tie as half, wherever it is computed: the helpers (src/eval/accuracy.ts),
 * the eval table (evalTask, whose "same answer" counts no tied pair), and the viewer's engine,
 * whose circuit accuracy with every calibrated P(correct) exactly 1/2 is 50%, not 0%.
 */
import assert from "node:assert/strict";
import { accuracyOfLosses, accuracyOfMargins, TIE_LOSS } from "../src/eval/accuracy.ts";
import { evalTask, PairScorer, type PromptItem, type PromptScores } from "../src/eval/task_eval.ts";
import { loadDefaultTokenizer } from "../src/data/tokenizer.ts";
import { circuitJson } from "../src/prune/circuit_file.ts";
import { MaskedScorer } from "../src/prune/masked_scorer.ts";
import { findCircuit } from "../src/prune/prune.ts";
import { DEFAULT_HP, PRUNE_DEFAULTS, type PruneSettings } from "../src/prune/settings.ts";
import { makeScorer, taskData } from "../src/prune/task_data.ts";
import { type RunConfig } from "../src/run/config.ts";
import { loadRun, RunDir } from "../src/run/run_dir.ts";
import { DEFAULT_WASM_URL } from "../src/backend/wasm.ts";
import { PRESETS } from "../src/train/presets.ts";
import { Engine } from "../src/view/engine.ts";
import { getTask } from "../tasks/index.ts";
import { makeRandomRun } from "./run_fixture.ts";

Deno.test("accuracy helpers: right 1, tie 1/2, wrong 0", () => {
  assert.deepEqual(accuracyOfMargins([1, 0, -1, 0]), { accuracy: 0.5, ties: 2 });
  assert.deepEqual(accuracyOfMargins([0, 0, 0]), { accuracy: 0.5, ties: 3 });
  assert.deepEqual(accuracyOfMargins([2, 3]), { accuracy: 1, ties: 0 });
  assert.deepEqual(accuracyOfMargins([]), { accuracy: 0, ties: 0 });
  // Per-prompt losses as the kernels store them: softplus(0) in f32 is a tie.
  const l = Float32Array.from([0.1, Math.LN2, 1.5, Math.LN2]);
  assert.equal(l[1], TIE_LOSS);
  assert.deepEqual(accuracyOfLosses(l), { accuracy: 0.5, ties: 2 });
});

Deno.test("eval: a tied prompt counts half, and a pair with a tie is not 'same answer'", () => {
  const tok = loadDefaultTokenizer();
  // Pair 0: both right. Pair 1: both tied. Pair 2: one right, one wrong (the same token twice).
  // Pair 3: one right, one tied.
  const correct = Float32Array.from([2, 2, 1, 1, 3, 0, 3, 1]);
  const wrong = Float32Array.from([1, 1, 1, 1, 0, 3, 1, 1]);
  const scorer = {
    score(items: readonly PromptItem[]): PromptScores {
      assert.equal(items.length, 8);
      const diff = correct.map((c, i) => c - wrong[i]);
      const losses = diff.map((d) => Math.log1p(Math.exp(-d)));
      return {
        losses,
        correct,
        wrong,
        diff,
        meanLoss: losses.reduce((a, b) => a + b) / 8,
        meanDiff: diff.reduce((a, b) => a + b) / 8,
        truncated: 0,
      };
    },
  } as unknown as PairScorer;
  const r = evalTask(scorer, tok, getTask("single_double_quote"), 4);
  assert.equal(r.accuracy, (2 + 1 + 1 + 1.5) / 8);
  assert.equal(r.sameAnswer, 1 / 4);
});

const RC: RunConfig = {
  model: { ...PRESETS.tiny.model, nLayer: 1, baseDModel: 32, baseDMlp: 64, nCtx: 128 },
  train: { ...PRESETS.tiny.train, batchSize: 4, valBatches: 1 },
};

Deno.test("viewer engine: every calibrated P(correct) 1/2 is accuracy 50%, each a tie", async () => {
  const dir = await makeRandomRun(RC, "thinwire-accuracy-");
  try {
    const task = getTask("indent_for");
    // A circuit file for the random model, as prune writes one (prune itself refuses a model
    // at chance).
    const r = await loadRun(dir, { threads: 1 });
    let circuit;
    try {
      const data = taskData(r, task, 8, 8);
      assert.ok(!("note" in data));
      const ms = new MaskedScorer(r.model, makeScorer(r, 16), null, false);
      const st: PruneSettings = {
        ...PRUNE_DEFAULTS,
        target: 0.6,
        method: "learned",
        ablation: "zero",
        freezeNorm: false,
        seed: 0,
        hp: { ...DEFAULT_HP, steps: 2, batchPairs: 4 },
        randomDraws: 1,
        deltaPairs: 1,
        bisectPairs: 4,
        maskPairs: 4,
        skipBaselines: true,
      };
      const res = findCircuit(ms, data, st);
      circuit = circuitJson(r, data, res, st, {
        prunePairs: 8,
        evalPairs: 8,
        meansTokens: 0,
        means: null,
        timeS: 0,
      });
    } finally {
      r.close();
    }
    const run = new RunDir(dir);
    const engine = await Engine.open(
      {
        run: dir,
        config: await run.readJson(run.config),
        tokenizer: await run.readJson(run.tokenizer),
        model: await run.readBytes(run.model),
        means: null,
      },
      { wasm: await Deno.readFile(DEFAULT_WASM_URL), threads: 1, shared: false },
    );
    try {
      // Scale and shift 0: every prompt's calibrated logit difference is exactly 0.
      engine.setCircuit({ ...circuit, calibration: { scale: 0, shift: 0 } }, 4);
      const ev = engine.evaluate(circuit.nodes.map((n) => n.id));
      assert.ok(ev.pCorrect.every((p) => Math.abs(p - 0.5) < 1e-7), String(ev.pCorrect));
      assert.equal(ev.ties, 16);
      assert.equal(ev.accuracy, 0.5);
      // The full model: the eval table's number on the same pairs.
      const full = engine.evaluateFull();
      const scorer = new PairScorer(engine.model, engine.tok, 16, 2048);
      assert.equal(full.accuracy, evalTask(scorer, engine.tok, task, 8).accuracy);
    } finally {
      engine.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
