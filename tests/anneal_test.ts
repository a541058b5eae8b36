/**
 * The L0 anneal's shapes (src/train/sparsify.ts): linear (the method) and cubic (Zhu & Gupta
 * 2017), their counts, the sharkfin density, the config field, and a run that follows them.
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import { countNonzero } from "../src/backend/ops/topk.ts";
import { paramLayout } from "../src/model/params.ts";
import { FORMAT_VERSION } from "../src/run/config.ts";
import { readRunConfig, RunDir } from "../src/run/run_dir.ts";
import { type RunConfig, validateRunConfig } from "../src/run/config.ts";
import { PRESETS } from "../src/train/presets.ts";
import {
  annealProgress,
  annealPruned,
  blockDensity,
  isSparsified,
  keptCount,
} from "../src/train/sparsify.ts";
import { StepRunner } from "../src/train/step.ts";
import { Rng } from "../src/util/rng.ts";

function config(shape: "linear" | "cubic", steps = 40): RunConfig {
  const rc = structuredClone(PRESETS.tiny);
  rc.model.nCtx = 16;
  rc.train.batchSize = 2;
  rc.train.steps = steps;
  rc.train.annealShape = shape;
  return rc;
}

Deno.test("L0 anneal shapes", async (t) => {
  await t.step("linear: the pruned share is the anneal's progress (the method)", () => {
    const rc = config("linear", 1000);
    for (const s of [0, 10, 11, 255, 500, 501, 1000]) {
      assert.equal(annealPruned(s, rc), annealProgress(s, rc), `step ${s}`);
    }
  });

  await t.step("cubic: 1 − (1 − p)³, dense before, the target after", () => {
    const rc = config("cubic", 1000); // anneal from step 10 to 500
    assert.equal(annealPruned(10, rc), 0);
    assert.equal(annealPruned(500, rc), 1);
    assert.equal(annealPruned(900, rc), 1);
    const p = annealProgress(255, rc); // halfway
    assert.equal(p, 0.5);
    assert.equal(annealPruned(255, rc), 0.875);
    const { now, target } = blockDensity(255, rc);
    assert.ok(Math.abs(now - (target + (1 - target) / 8)) < 1e-15, `${now}`);
  });

  await t.step("cubic counts: dense to the same target, never rising, at most linear's", () => {
    const lin = config("linear", 1000), cub = config("cubic", 1000);
    const specs = paramLayout(lin.model).specs.filter((s) => isSparsified(s, lin));
    assert.ok(specs.length > 0);
    for (const spec of specs) {
      let prev = Infinity;
      for (let s = 0; s <= 1000; s++) {
        const c = keptCount(spec, s, cub);
        assert.ok(c <= prev, `${spec.name} rose at step ${s}`);
        assert.ok(c <= keptCount(spec, s, lin), `${spec.name} above linear at step ${s}`);
        prev = c;
      }
      assert.equal(keptCount(spec, 0, cub), spec.size);
      assert.equal(keptCount(spec, 1000, cub), keptCount(spec, 1000, lin));
    }
  });

  await t.step("a run follows the cubic counts; linear is the default", async () => {
    assert.equal(PRESETS.small.train.annealShape, "linear");
    assert.equal(PRESETS.tiny.train.annealShape, "linear");
    const rc = config("cubic");
    const be = await Backend.create({ threads: 1 });
    try {
      const r = new StepRunner(be, rc);
      r.model.init(rc.train.seed);
      r.model.refresh(true);
      const rng = new Rng(3);
      const N = rc.train.batchSize * rc.model.nCtx;
      const specs = r.model.layout.specs.filter((s) => isSparsified(s, rc));
      for (let step = 0; step < 12; step++) {
        const x = new Int32Array(N).map(() => rng.int(rc.model.vocabSize));
        const y = new Int32Array(N).map(() => rng.int(rc.model.vocabSize));
        r.step(x, y, step);
        for (const spec of specs) {
          const nz = countNonzero(be, { w: r.model.ptr(spec), n: spec.size });
          assert.equal(nz, keptCount(spec, step + 1, rc), `${spec.name} after step ${step}`);
        }
      }
    } finally {
      be.close();
    }
  });

  await t.step(
    "config: a config.json from before the flag reads as linear; bad shapes refused",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "thinwire-anneal-" });
      try {
        const { annealShape: _, ...train } = PRESETS.tiny.train;
        const cfg = { format_version: FORMAT_VERSION, model: PRESETS.tiny.model, train };
        await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(cfg));
        assert.equal((await readRunConfig(new RunDir(dir))).train.annealShape, "linear");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
      const bad = config("linear");
      (bad.train as { annealShape: string }).annealShape = "exp";
      assert.throws(() => validateRunConfig(bad), /anneal-shape must be one of linear, cubic/);
    },
  );
});
