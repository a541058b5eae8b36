/**
 * The sparse anneal (`--anneal-from D`, src/train/sparse_anneal.ts): its counts and density, the
 * prune at init, kept tensors pruned on dense-gradient steps only, products sparse from the first
 * step, the config field, the paper preset, and bit-reproducibility (its golden hash, 1 thread =
 * 2 threads). Its SIGKILL resume is in tests/train_test.ts with the other modes'.
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import { countNonzero } from "../src/backend/ops/topk.ts";
import { paramLayout, targetDensity } from "../src/model/params.ts";
import { FORMAT_VERSION, type RunConfig, validateRunConfig } from "../src/run/config.ts";
import { readRunConfig, RunDir } from "../src/run/run_dir.ts";
import { PRESETS } from "../src/train/presets.ts";
import { isDenseGradStep } from "../src/train/kept_grads.ts";
import { keptCountStep, pruneAtInit } from "../src/train/sparse_anneal.ts";
import {
  blockDensity,
  checkSparsityFeasible,
  isSparseAnneal,
  isSparsified,
  keptCount,
} from "../src/train/sparsify.ts";
import { StepRunner } from "../src/train/step.ts";
import { train } from "../src/train/trainer.ts";
import { Rng } from "../src/util/rng.ts";

/** The tiny preset (block target 1/ef²/4) from block density `from`, R, cubic, `steps` steps. */
function config(from: number | undefined, R: number, steps = 40, ef = 1): RunConfig {
  const rc = structuredClone(PRESETS.tiny);
  rc.model.ef = ef;
  rc.model.nCtx = 16;
  rc.train.batchSize = 2;
  rc.train.steps = steps;
  rc.train.denseGradEvery = R;
  rc.train.annealShape = "cubic";
  if (from === undefined) delete rc.train.annealFrom;
  else rc.train.annealFrom = from;
  return rc;
}

/** SHA-256 of model.safetensors for microConfig() below. Update only for an intended change. */
const GOLDEN_SHA256_SPARSE_ANNEAL =
  "35ab90f62c390eecb8cd7fe9f23ca64049b1430a4170329c15c98a1ab6152163";

/** train_test.ts's micro run (16 steps) with a sparse anneal from 0.5, R = 3, cubic. */
function microConfig(): RunConfig {
  const rc = structuredClone(PRESETS.tiny);
  rc.model.nCtx = 32;
  rc.train.steps = 16;
  rc.train.batchSize = 4;
  rc.train.evalEvery = 8;
  rc.train.saveEvery = 4;
  rc.train.logEvery = 2;
  rc.train.valBatches = 1;
  rc.train.denseGradEvery = 3;
  rc.train.annealShape = "cubic";
  rc.train.annealFrom = 0.5;
  return rc;
}

Deno.test("sparse anneal", async (t) => {
  await t.step(
    "counts: D / target × each target density at the start, the target at the end",
    () => {
      const rc = config(0.5, 4, 1000); // block target 0.25: start at 2× every target
      const specs = paramLayout(rc.model).specs.filter((s) => isSparsified(s, rc));
      assert.ok(specs.some((s) => s.cls === "block") && specs.some((s) => s.cls === "embed"));
      const method = config(undefined, 4, 1000);
      for (const spec of specs) {
        const density = targetDensity(spec.cls, rc.train.pfrac, rc.model.ef);
        const start = Math.min(spec.size, Math.round(spec.size * density * 2));
        assert.equal(keptCount(spec, 0, rc), start, spec.name);
        assert.equal(keptCount(spec, 1000, rc), keptCount(spec, 1000, method), spec.name);
        let prev = Infinity;
        for (let s = 0; s <= 1000; s++) {
          const c = keptCount(spec, s, rc);
          assert.ok(c <= prev && c <= keptCount(spec, s, method), `${spec.name} at step ${s}`);
          prev = c;
        }
      }
      assert.equal(blockDensity(0, rc).now, 0.5);
      assert.equal(blockDensity(1000, rc).now, 0.25);
      assert.ok(isSparseAnneal(rc) && !isSparseAnneal(method));
      assert.ok(!isSparseAnneal(config(1, 4)), "annealFrom 1 is the method");
    },
  );

  await t.step("kept tensors' counts fall only on dense-gradient steps (R > 1)", () => {
    const rc = config(0.5, 4);
    assert.deepEqual([0, 1, 3, 4, 5, 7, 8].map((d) => keptCountStep(d, rc)), [0, 0, 0, 4, 4, 4, 8]);
    for (let s = 0; s < 12; s++) {
      // After a dense-gradient step (0-based s), the count is the schedule's own.
      if (isDenseGradStep(s, rc)) assert.equal(keptCountStep(s + 1, rc), s + 1);
    }
    assert.equal(keptCountStep(5, config(0.5, 1)), 5, "R = 1: every step is dense");
    assert.equal(keptCountStep(5, config(undefined, 4)), 5, "the method's anneal");
  });

  await t.step(
    "a run: pruned at init, sparse products from step 0, the counts followed",
    async () => {
      // ef 2: block target 1/16, embed 1/8; twice those at the start, below SPARSE_DENSITY.
      const rc = config(0.125, 4, 40, 2);
      const be = await Backend.create({ threads: 1 });
      try {
        const r = new StepRunner(be, rc);
        r.model.init(rc.train.seed);
        pruneAtInit(be, r.model, rc);
        r.model.refresh(true);
        const specs = r.model.layout.specs.filter((s) => isSparsified(s, rc));
        const kept = new Set(r.kept!.tensors.map((k) => k.spec));
        const nnz = (spec: (typeof specs)[number]) =>
          countNonzero(be, { w: r.model.ptr(spec), n: spec.size });
        for (const spec of specs) {
          if (spec.cls === "bias") continue; // zeros at init
          assert.equal(nnz(spec), keptCount(spec, 0, rc), `${spec.name} at init`);
        }
        for (const { lin, spec } of r.kept!.tensors) {
          assert.ok(lin.sparse, `${spec.name}: dense products at init`);
        }
        const rng = new Rng(5);
        const N = rc.train.batchSize * rc.model.nCtx;
        for (let step = 0; step < 24; step++) {
          const x = new Int32Array(N).map(() => rng.int(rc.model.vocabSize));
          const y = new Int32Array(N).map(() => rng.int(rc.model.vocabSize));
          r.step(x, y, step);
          for (const spec of specs) {
            const want = keptCount(
              spec,
              kept.has(spec) ? keptCountStep(step + 1, rc) : step + 1,
              rc,
            );
            // Top-k keeps positions; one that holds 0 (a bias never trained) is not a nonzero.
            const got = nnz(spec);
            if (spec.cls === "bias") assert.ok(got <= want, `${spec.name} after step ${step}`);
            else assert.equal(got, want, `${spec.name} after step ${step}`);
          }
        }
      } finally {
        be.close();
      }
    },
  );

  await t.step(
    "config: absent = the method, refused below the target, above 1, --dense",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "thinwire-sparse-anneal-" });
      try {
        const cfg = { format_version: FORMAT_VERSION, ...PRESETS.tiny };
        await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(cfg));
        assert.equal((await readRunConfig(new RunDir(dir))).train.annealFrom, undefined);
        const bad = { ...cfg, train: { ...cfg.train, annealFrom: "0.5" } };
        await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(bad));
        await assert.rejects(readRunConfig(new RunDir(dir)), /train\.annealFrom must be a number/);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
      assert.throws(() => validateRunConfig(config(0.2, 4)), /anneal-from must be a block density/);
      assert.throws(() => validateRunConfig(config(1.5, 4)), /anneal-from must be a block density/);
      const dense = config(0.5, 1);
      dense.train.dense = true;
      dense.train.annealShape = "linear";
      dense.train.pfrac = 1;
      assert.throws(() => validateRunConfig(dense), /anneal-from 0\.5 needs weight sparsity/);
      validateRunConfig(config(0.25, 4)); // the target itself: no anneal, sparse from the start
    },
  );

  await t.step(
    "the paper preset: ef 4, block density 1/96 (≤ 1/64), on the order of 20M tokens, sparse start",
    () => {
      const rc = PRESETS.paper;
      validateRunConfig(rc);
      checkSparsityFeasible(paramLayout(rc.model), rc);
      assert.equal(rc.model.ef, 4);
      assert.equal(blockDensity(rc.train.steps, rc).target, 1 / 96);
      assert.equal(rc.train.annealFrom, 1 / 96, "started at the target: no anneal");
      const tokens = rc.train.steps * rc.train.batchSize * rc.model.nCtx;
      assert.ok(tokens > 15e6 && tokens < 25e6, `${tokens} tokens: on the order of 20M`);
      assert.ok(isSparseAnneal(rc) && rc.train.annealFrom! < 0.3, "dense products at the start");
      assert.equal(PRESETS.small.train.annealFrom, undefined, "the default is the method");
    },
  );

  await t.step("bit-reproducible: its golden hash, 1 thread = 2 threads", async () => {
    const dirs = [
      await Deno.makeTempDir({ prefix: "thinwire-sparse-anneal-" }),
      await Deno.makeTempDir({ prefix: "thinwire-sparse-anneal-" }),
    ];
    try {
      const rc = microConfig();
      const [a, b] = [
        await train({ out: `${dirs[0]}/r`, rc, threads: 1, resume: false, quiet: true }),
        await train({ out: `${dirs[1]}/r`, rc, threads: 2, resume: false, quiet: true }),
      ];
      assert.equal(a.modelSha256, b.modelSha256, "1 and 2 threads differ");
      assert.ok(Number.isFinite(a.valLoss) && a.valLoss < Math.log(2048), `val ${a.valLoss}`);
      assert.equal(
        a.modelSha256,
        GOLDEN_SHA256_SPARSE_ANNEAL,
        "weights changed: update GOLDEN_SHA256_SPARSE_ANNEAL if intended",
      );
      const cfg = JSON.parse(await Deno.readTextFile(`${dirs[0]}/r/config.json`));
      assert.equal(cfg.train.annealFrom, 0.5);
    } finally {
      for (const d of dirs) await Deno.remove(d, { recursive: true });
    }
  });
});
