/**
 * `deno task study` without an engine: config validation and bad input (one line, exit 2, nothing
 * started), the plan and the engines' scripts, the jobs' idempotence on real tiny runs, the
 * statistics on synthetic data with a known answer, the report on a fixture study root, and the
 * figures' well-formedness. The engines themselves: tests/study_engines_test.ts (opt-in).
 */
import assert from "node:assert/strict";
import { UserError } from "../src/errors.ts";
import { pruneCommand } from "../src/prune/cli_prune.ts";
import { RunDir } from "../src/run/run_dir.ts";
import { studyCommand } from "../src/study/cli_study.ts";
import { parseStudy } from "../src/study/config.ts";
import { parallelScript, slurmScript } from "../src/study/engines.ts";
import { gatherStudy } from "../src/study/gather.ts";
import { configDiff, jobCommand } from "../src/study/job.ts";
import { planJobs, planText, repoRoot, rootArg, shellQuote } from "../src/study/plan.ts";
import { buildReport } from "../src/study/report.ts";
import {
  fitLine,
  geomean,
  jaccard,
  matchedLossRatio,
  quantile,
  type RunPoint,
  stability,
} from "../src/study/stats.ts";
import { chartSvg, linearTicks, logTicks } from "../src/study/svg.ts";
import { sha256Hex } from "../src/util/sha256.ts";
import { assertUserError, TINY_SOLVES, trainTiny } from "./run_fixture.ts";
import { ids, writeStudyFixture } from "./study_fixture.ts";
import { PRESETS } from "../src/train/presets.ts";
import type { RunConfig } from "../src/run/config.ts";

const REPO = repoRoot();

/** A tiny study config; `over` replaces top-level keys. */
function tinyConfig(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    preset: "tiny",
    threads: 1,
    grid: [
      { family: "sparse", ef: [1], pfrac: [0.25] },
      { family: "dense", dense: true, ef: [1] },
    ],
    ...over,
  };
}

const parse = (json: unknown) => parseStudy(json, "study.json", "t");

function assertRefused(json: unknown, pattern: RegExp) {
  assert.throws(() => parse(json), (e: unknown) => {
    assert.ok(e instanceof UserError, `expected UserError, got ${(e as Error).stack}`);
    assert.equal(e.exitCode, 2);
    assert.ok(!e.message.includes("\n"), `not one line: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("study config: bad input is one line naming the problem", async (t) => {
  await t.step("unknown keys, at the top and inside", () => {
    assertRefused(tinyConfig({ gird: [] }), /study\.json: unknown key 'gird'/);
    assertRefused(
      tinyConfig({ grid: [{ family: "s", ef: [1], widht: [2] }] }),
      /grid\.0: unknown key 'widht'/,
    );
    assertRefused(tinyConfig({ stability: { seed: 3 } }), /stability: unknown key 'seed'/);
    assertRefused(
      tinyConfig({ grid: [{ family: "s", train: { "no-such-flag": 1 } }] }),
      /grid\.0.*Unknown option '--no-such-flag'/,
    );
    assertRefused(tinyConfig({ prune: { "k-cof": 0.1 } }), /prune: .*Unknown option '--k-cof'/);
  });
  await t.step("a grid point thinwire refuses: density under the top-k floor (j = 4)", () => {
    // tiny: c_fc is 256 × 64; pfrac 0.01 keeps 164 entries, under 4 × 256 protected ones.
    assertRefused(
      tinyConfig({ grid: [{ family: "sparse", ef: [1], pfrac: [0.25, 0.01] }] }),
      /grid\.0 \(sparse ef 1 pfrac 0\.01 seed 1\): pfrac 0\.01 keeps \d+ entries of .*protect-j 4/,
    );
    assertRefused(
      tinyConfig({ grid: [{ family: "s", ef: [1.3] }] }),
      /ef 1\.3 × d-model 64 = 83\.2 is not a whole width/,
    );
    assertRefused(tinyConfig({ grid: [{ family: "s", steps: [0] }] }), /grid\.0\.steps\.0/);
  });
  await t.step("values the study sets itself, and inconsistent grids", () => {
    assertRefused(
      tinyConfig({ grid: [{ family: "s", train: { seed: 3 } }] }),
      /'seed' is set by the study/,
    );
    assertRefused(tinyConfig({ prune: { "out-dir": "x" } }), /prune: 'out-dir' is set/);
    assertRefused(
      tinyConfig({ grid: [{ family: "d", dense: true, pfrac: [0.25] }] }),
      /pfrac does not apply to dense runs/,
    );
    assertRefused(
      tinyConfig({ grid: [{ family: "a", ef: [1] }, { family: "a", ef: [1] }] }),
      /two grid points make the run a-e1-p0\.25-n60-s1/,
    );
    assertRefused(
      tinyConfig({ grid: [{ family: "a" }, { family: "a", dense: true, ef: [2] }] }),
      /family 'a' mixes dense and sparse runs/,
    );
    assertRefused(tinyConfig({ preset: "huge" }), /unknown preset 'huge'/);
    assertRefused(
      tinyConfig({ stability: { seeds: 2, tasks: ["no_such_task"] } }),
      /stability\.tasks: unknown task 'no_such_task'/,
    );
    assertRefused(
      tinyConfig({ stability: { seeds: 2, runs: ["nope"] } }),
      /stability\.runs: no run 'nope'/,
    );
    assertRefused(tinyConfig({ slurm: { time: { trian: "1:00:00" } } }), /unknown stage 'trian'/);
  });
  await t.step("dense runs narrower than the preset are allowed (ef < 1)", () => {
    const s = parse(tinyConfig({ grid: [{ family: "d", dense: true, ef: [0.5, 1] }] }));
    assert.deepEqual(s.runs.map((r) => [r.name, r.dModel, r.rc.train.pfrac]), [
      ["d-e0.5-n60-s1", 32, 0.25],
      ["d-e1-n60-s1", 64, 1],
    ]);
  });
  await t.step("the shipped studies are valid", async () => {
    for (const f of ["default", "tiny"]) {
      const s = parse(JSON.parse(await Deno.readTextFile(`${REPO}/src/study/${f}.json`)));
      assert.ok(s.runs.length >= 2);
    }
  });
});

Deno.test("study CLI: bad input starts nothing", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-study-bad-" });
  const root = `${dir}/root`;
  const cfg = `${dir}/c.json`;
  try {
    await t.step("unknown key", async () => {
      await Deno.writeTextFile(cfg, JSON.stringify(tinyConfig({ extra: 1 })));
      await assertUserError(studyCommand(["--config", cfg, "--root", root]), /unknown key 'extra'/);
    });
    await t.step("refused grid point", async () => {
      await Deno.writeTextFile(
        cfg,
        JSON.stringify(tinyConfig({ grid: [{ family: "s", pfrac: [0.001] }] })),
      );
      await assertUserError(studyCommand(["--config", cfg, "--root", root]), /protect-j/);
    });
    await t.step("an engine that is not installed", async () => {
      await Deno.writeTextFile(cfg, JSON.stringify(tinyConfig()));
      const path = Deno.env.get("PATH")!;
      Deno.env.set("PATH", dir); // nothing to run there
      try {
        await assertUserError(
          studyCommand(["--config", cfg, "--root", root, "--engine", "parallel"]),
          /engine parallel: GNU parallel is not installed/,
        );
        await assertUserError(
          studyCommand(["--config", cfg, "--root", root, "--engine", "slurm"]),
          /engine slurm: sbatch is not installed/,
        );
        // Installed but unusable: another `parallel` (moreutils'), a Slurm without a controller.
        const fake = `${dir}/bin`;
        await Deno.mkdir(fake);
        for (
          const [name, body] of [
            ["parallel", "echo 'parallel from moreutils'"],
            ["sbatch", "echo 'slurm 22.05.8'"],
            ["scontrol", "echo 'Slurmctld(primary) at head is DOWN'; exit 1"],
          ]
        ) {
          await Deno.writeTextFile(`${fake}/${name}`, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
        }
        Deno.env.set("PATH", fake);
        await assertUserError(
          studyCommand(["--config", cfg, "--root", root, "--engine", "parallel"]),
          /is not GNU parallel/,
        );
        await assertUserError(
          studyCommand(["--config", cfg, "--root", root, "--engine", "slurm"]),
          /no Slurm controller answers \(scontrol ping: Slurmctld\(primary\) at head is DOWN\)/,
        );
      } finally {
        Deno.env.set("PATH", path);
      }
    });
    await t.step("bad flags and files", async () => {
      await assertUserError(studyCommand(["--engine", "k8s"]), /--engine must be one of/);
      await assertUserError(studyCommand(["--config", `${dir}/none.json`]), /cannot be read/);
      await assertUserError(studyCommand(["report", "--root", dir]), /not a study root/);
      await assertUserError(jobCommand(["fly"]), /unknown kind 'fly'/);
    });
    await t.step("nothing was written", async () => {
      await assert.rejects(Deno.stat(root), Deno.errors.NotFound);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("study plan: jobs, dependencies, scripts", async (t) => {
  const study = parse(tinyConfig({ stability: { seeds: 3, tasks: ["else_elif", "var_if"] } }));
  const plan = planJobs(study, "studies/t", REPO);
  await t.step("one job per run and stage, each after its run's previous stage", () => {
    assert.equal(plan.jobs.length, 2 * 3 + 2 * 2);
    const byId = new Map(plan.jobs.map((j) => [j.id, j]));
    for (const j of plan.jobs) {
      for (const a of j.after) assert.ok(byId.has(a), `${j.id} after ${a}`);
    }
    assert.deepEqual(byId.get("prune/dense-e1-n60-s1")!.after, ["eval/dense-e1-n60-s1"]);
    assert.deepEqual(byId.get("stability/dense-e1-n60-s1/seed-2")!.after, [
      "prune/dense-e1-n60-s1",
    ]);
    assert.deepEqual(byId.get("train/sparse-e1-p0.25-n60-s1")!.argv, [
      "deno",
      "run",
      "-A",
      "cli.ts",
      "study",
      "job",
      "train",
      "--preset",
      "tiny",
      "--ef",
      "1",
      "--pfrac",
      "0.25",
      "--seed",
      "1",
      "--threads",
      "1",
      "--out",
      "studies/t/runs/sparse-e1-p0.25-n60-s1",
    ]);
    const st = byId.get("stability/sparse-e1-p0.25-n60-s1/seed-1")!.argv.join(" ");
    assert.match(
      st,
      /--tasks else_elif,var_if .*--seed 1 --out-dir studies\/t\/runs\/sparse-e1-p0.25-n60-s1\/stability\/seed-1/,
    );
  });
  await t.step("--plan text: one command per line, stages in order", () => {
    const lines = planText(plan).trim().split("\n");
    const jobs = lines.filter((l) => !l.startsWith("#"));
    assert.equal(jobs.length, plan.jobs.length);
    assert.ok(jobs.every((l) => l.startsWith("deno run -A cli.ts study job ")));
    const stagesSeen = lines.filter((l) => l.startsWith("# stage")).map((l) => l.split(" ")[2]);
    assert.deepEqual(stagesSeen, ["train:", "eval:", "prune:", "stability:"]);
  });
  await t.step("roots: relative inside the checkout, absolute outside, quoted", () => {
    assert.equal(rootArg("studies/x", REPO, REPO), "studies/x");
    assert.equal(rootArg(`${REPO}/a/../studies/y/`, REPO), "studies/y");
    assert.equal(rootArg("/tmp/s", REPO), "/tmp/s");
    assert.equal(shellQuote("a b'c"), `'a b'\\''c'`);
    assert.equal(shellQuote("studies/x-1.5"), "studies/x-1.5");
  });
  await t.step("the engines' scripts are valid bash with the plan's jobs", async () => {
    const spaced = planJobs(study, "/tmp/a study root", REPO);
    for (
      const [name, text] of [
        ["slurm", slurmScript(spaced)],
        ["parallel", parallelScript(spaced, 2, "/tmp/hosts")],
      ]
    ) {
      const check = await new Deno.Command("bash", {
        args: ["-n"],
        stdin: "piped",
        stderr: "piped",
      })
        .spawn();
      const w = check.stdin.getWriter();
      await w.write(new TextEncoder().encode(text));
      await w.close();
      const out = await check.output();
      assert.equal(out.code, 0, `${name}: ${new TextDecoder().decode(out.stderr)}`);
      for (const j of spaced.jobs) assert.ok(text.includes("study job"), j.id);
    }
    const s = slurmScript(spaced);
    assert.match(s, /--array=0-\$\(\(n - 1\)\)/);
    assert.match(s, /--dependency=afterok:"\$after"/);
    assert.match(s, /job_eval=\$\(submit eval 2 "\$job_train"/);
    assert.match(s, /job_stability=\$\(submit stability 4 "\$job_prune"/);
    assert.match(s, /--cpus-per-task=1/);
    assert.match(s, /\$\{jobs\[\$SLURM_ARRAY_TASK_ID\]\}/);
    const p = parallelScript(spaced, 2, "/tmp/hosts");
    assert.match(p, /parallel --jobs "\$JOBS" --joblog/);
    assert.match(p, /SSHLOGINFILE=\$\{SSHLOGINFILE:-\/tmp\/hosts\}/);
    assert.match(p, /'\/tmp\/a study root\/runs\/dense-e1-n60-s1'/);
  });
  await t.step("slurm options from the config", () => {
    const s2 = parse(tinyConfig({
      slurm: {
        partition: "cpu",
        time: { train: "01:00:00" },
        max_parallel: 3,
        options: ["--qos=x"],
      },
    }));
    const text = slurmScript(planJobs(s2, "r", REPO));
    assert.match(text, /submit train 2 "" --partition=cpu --time=01:00:00 --qos=x <</);
    assert.match(text, /submit eval 2 "\$job_train" --partition=cpu --qos=x <</);
    assert.match(text, /--array=0-\$\(\(n - 1\)\)%3/);
  });
});

Deno.test("study jobs: idempotent on real tiny runs", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-study-job-" });
  const out = `${dir}/run`;
  const args = [
    "--preset",
    "tiny",
    "--steps",
    "6",
    "--save-every",
    "3",
    "--log-every",
    "3",
    "--eval-every",
    "3",
    "--threads",
    "1",
    "--quiet",
    "--out",
    out,
  ];
  const run = new RunDir(out);
  const sha = async () => await sha256Hex(await Deno.readFile(run.model));
  try {
    let first = "";
    await t.step("train: trains, then skips a finished run", async () => {
      assert.equal(await jobCommand(["train", ...args]), 0);
      first = await sha();
      const mtime = (await Deno.stat(run.model)).mtime!.getTime();
      assert.equal(await jobCommand(["train", ...args]), 0);
      assert.equal((await Deno.stat(run.model)).mtime!.getTime(), mtime);
    });
    await t.step(
      "train: a killed run resumes from its checkpoint to the same weights",
      async () => {
        await Deno.remove(run.model);
        assert.equal(await jobCommand(["train", ...args]), 0);
        assert.equal(await sha(), first);
      },
    );
    await t.step("train: a run killed before its first checkpoint starts over", async () => {
      await Deno.remove(run.model);
      await Deno.remove(run.stateDir, { recursive: true });
      assert.equal(await jobCommand(["train", ...args]), 0);
      assert.equal(await sha(), first);
    });
    await t.step("train: a folder with another run is refused, not overwritten", async () => {
      const other = args.map((a) => a === "6" ? "9" : a);
      await assertUserError(
        jobCommand(["train", ...other]),
        /holds a run trained with other settings \(train\.steps 6 ≠ 9\)/,
      );
    });
    await t.step("eval: writes eval.json once", async () => {
      assert.equal(await jobCommand(["eval", "--model", out, "--pairs", "4", "--threads", "1"]), 0);
      const j = JSON.parse(await Deno.readTextFile(`${out}/eval.json`));
      assert.equal(j.pairs_per_task, 4);
      const mtime = (await Deno.stat(`${out}/eval.json`)).mtime!.getTime();
      assert.equal(await jobCommand(["eval", "--model", out, "--pairs", "4", "--threads", "1"]), 0);
      assert.equal((await Deno.stat(`${out}/eval.json`)).mtime!.getTime(), mtime);
    });
    await t.step("stability before prune is refused; prune refuses --task", async () => {
      await assertUserError(
        jobCommand([
          "stability",
          "--tasks",
          "all",
          "--model",
          out,
          "--seed",
          "1",
          "--out-dir",
          `${dir}/s1`,
        ]),
        /no circuits yet/,
      );
      await assertUserError(
        jobCommand(["prune", "--model", out, "--task", "else_elif"]),
        /prunes --all into the run's circuits/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("configDiff names what differs", () => {
  const a: RunConfig = structuredClone(PRESETS.tiny);
  const b: RunConfig = structuredClone(PRESETS.tiny);
  assert.deepEqual(configDiff(a, b), []);
  b.train.lr = 0.5;
  b.model.ef = 2;
  assert.deepEqual(configDiff(a, b), ["model.ef 2 ≠ 1", "train.lr 0.5 ≠ 0.02"]);
});

Deno.test("prune --out-dir: circuits of another seed go there, not into circuits/", async () => {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-study-outdir-" });
  try {
    // Prune refuses a model at chance: the tiny preset trained a little, which beats it on one task.
    await trainTiny(`${dir}/run`);
    const quick = ["--steps", "2", "--batch-pairs", "4", "--prune-pairs", "8", "--pairs", "8"];
    const more = ["--random-draws", "2", "--delta-pairs", "2", "--bisect-pairs", "8"];
    const code = await pruneCommand([
      "--model",
      `${dir}/run`,
      "--task",
      TINY_SOLVES,
      "--target",
      "0.6",
      "--seed",
      "3",
      "--out-dir",
      `${dir}/seed-3`,
      "--means-tokens",
      "512",
      "--threads",
      "1",
      ...quick,
      ...more,
    ]);
    assert.equal(code, 0);
    const c = JSON.parse(await Deno.readTextFile(`${dir}/seed-3/${TINY_SOLVES}.json`));
    assert.equal(c.seed, 3);
    await assert.rejects(
      Deno.stat(`${dir}/run/circuits/${TINY_SOLVES}.json`),
      Deno.errors.NotFound,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("study stats", async (t) => {
  await t.step("least squares recovers a line; one x is a constant", () => {
    const f = fitLine([1, 2, 3, 4], [3, 5, 7, 9]);
    assert.ok(Math.abs(f.a - 1) < 1e-12 && Math.abs(f.b - 2) < 1e-12);
    assert.deepEqual(fitLine([2, 2], [1, 3]), { a: 2, b: 0, n: 2, distinct: 1 });
    const g = fitLine([0, 1, 2], [0, 2, 1]);
    assert.ok(Math.abs(g.b - 0.5) < 1e-12 && Math.abs(g.a - 0.5) < 1e-12);
  });
  await t.step("quantiles, geometric means, Jaccard", () => {
    assert.equal(quantile([1, 2, 3, 4, 5], 0.5), 3);
    assert.equal(quantile([0, 10], 0.25), 2.5);
    assert.equal(geomean([4, 9]), 6);
    assert.equal(geomean([0, 1]), 1);
    assert.equal(geomean([]), null);
    assert.equal(jaccard(new Set(["a", "b"]), new Set(["b", "c"])), 1 / 3);
    assert.equal(jaccard(new Set(), new Set()), 1);
  });

  // Sparse: ln e = ln2·(1 + (L − 2.0)/0.2) + ln m_t; dense: ln2·(4 + (L − 1.9)/0.2) + ln m_t.
  // Same slope, so dense/sparse = 2^3.5 at every loss and the task effects m_t cancel.
  const mult = [1, 3, 5, 7, 2, 10];
  const tasks = mult.map((_, i) => `t${i}`);
  const runs = (k: number[], losses: number[], tag: string): RunPoint[] =>
    losses.map((loss, i) => ({
      name: `${tag}${i}`,
      loss,
      edges: new Map(tasks.map((t, j) => [t, k[i] * mult[j]])),
    }));
  const sparse = runs([2, 4, 8], [2.0, 2.2, 2.4], "s");
  const dense = runs([16, 32, 64], [1.9, 2.1, 2.3], "d");
  const truth = 2 ** 3.5;

  await t.step("matched-loss ratio: the known answer, an interval of width 0", () => {
    const m = matchedLossRatio(sparse, dense, { boots: 500, seed: 3 })!;
    assert.deepEqual(m.tasks, tasks);
    assert.ok(m.covered);
    assert.ok(Math.abs(m.loss - 2.15) < 1e-12);
    assert.ok(Math.abs(m.ratio - truth) < 1e-9, `${m.ratio}`);
    assert.ok(Math.abs(m.lo - truth) < 1e-9 && Math.abs(m.hi - truth) < 1e-9);
    assert.ok(Math.abs(m.sparseFit.b - Math.LN2 / 0.2) < 1e-9);
    for (const p of m.perTask) assert.ok(Math.abs(p.ratio - truth) < 1e-9);
  });
  await t.step("with task noise: geomean of per-task ratios = ratio, interval holds it", () => {
    // Each task gets its own sparse/dense factor (noise in the ratio itself, across tasks).
    const noise = [1.5, 0.7, 1.2, 0.9, 1.1, 0.8];
    const dn = dense.map((r) => ({
      ...r,
      edges: new Map([...r.edges].map(([t, e]) => [t, e * noise[tasks.indexOf(t)]])),
    }));
    const m = matchedLossRatio(sparse, dn, { boots: 2000, seed: 1, level: 0.9 })!;
    const g = Math.exp(m.perTask.reduce((s, p) => s + Math.log(p.ratio), 0) / m.perTask.length);
    assert.ok(Math.abs(g - m.ratio) < 1e-9);
    assert.ok(m.lo < m.ratio && m.ratio < m.hi, `${m.lo} ${m.ratio} ${m.hi}`);
    const expect = truth * Math.exp(noise.reduce((s, x) => s + Math.log(x), 0) / noise.length);
    assert.ok(Math.abs(m.ratio - expect) < 1e-6);
    // Seeded: the same seed gives the same interval, another seed another one.
    const again = matchedLossRatio(sparse, dn, { boots: 2000, seed: 1, level: 0.9 })!;
    assert.equal(again.lo, m.lo);
    const other = matchedLossRatio(sparse, dn, { boots: 2000, seed: 2, level: 0.9 })!;
    assert.notEqual(other.lo, m.lo);
  });
  await t.step("only shared tasks count; no overlap is flagged; nothing shared is null", () => {
    const s2 = sparse.map((r, i) =>
      i === 0 ? { ...r, edges: new Map([...r.edges].filter(([t]) => t !== "t5")) } : r
    );
    assert.equal(matchedLossRatio(s2, dense)!.tasks.length, 5);
    const far = dense.map((r) => ({ ...r, loss: r.loss - 1 }));
    const m = matchedLossRatio(sparse, far)!;
    assert.equal(m.covered, false);
    assert.ok(Math.abs(m.loss - (1.3 + 2.0) / 2) < 1e-12);
    const none = dense.map((r) => ({ ...r, edges: new Map([["other", 1]]) }));
    assert.equal(matchedLossRatio(sparse, none), null);
    assert.equal(matchedLossRatio([], dense), null);
  });
  await t.step("stability across seeds", () => {
    const s = stability([
      { seed: 0, nodes: new Set(["a", "b", "c"]), edges: 10 },
      { seed: 1, nodes: new Set(["a", "b", "d"]), edges: 14 },
      { seed: 2, nodes: new Set(["a", "b", "c"]), edges: 12 },
    ])!;
    assert.ok(Math.abs(s.jaccardMean - 2 / 3) < 1e-12);
    assert.equal(s.jaccardMin, 0.5);
    assert.equal(s.edgesMean, 12);
    assert.equal(s.edgesSd, 2);
    assert.equal(s.core, 2);
    assert.equal(stability([{ seed: 0, nodes: new Set(), edges: 0 }]), null);
  });
});

/** Tags balanced, attributes quoted, text escaped: an XML parser would accept it. */
function assertWellFormedSvg(svg: string) {
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < svg.length) {
    const lt = svg.indexOf("<", i);
    const text = svg.slice(i, lt < 0 ? svg.length : lt);
    assert.ok(!/&(?!(amp|lt|gt|quot|#\d+);)/.test(text), `raw & in ${JSON.stringify(text)}`);
    assert.ok(!text.includes(">"), `raw > in ${JSON.stringify(text)}`);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(svg);
    assert.ok(m, `bad tag at ${svg.slice(lt, lt + 60)}`);
    const [all, close, name, , self] = m;
    if (close) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else if (!self) stack.push(name);
    i = lt + all.length;
  }
  assert.deepEqual(stack, []);
}

Deno.test("study svg: ticks and well-formed charts", () => {
  assert.deepEqual(linearTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(linearTicks(1.93, 2.41), [2, 2.1, 2.2, 2.3, 2.4]);
  assert.deepEqual(logTicks(3, 60), [5, 10, 20, 50]);
  assert.deepEqual(logTicks(1, 1e6), [1, 10, 100, 1000, 10000, 100000, 1000000]);
  assertWellFormedSvg(chartSvg({
    title: `a <b> & "c"`,
    xLabel: "x & y",
    yLabel: "y",
    yLog: true,
    series: [{
      name: "s<1>",
      color: "#000",
      points: [{ x: 1, y: 10, label: "p&q" }, { x: 2, y: 100 }, { x: 3, y: 0 }],
      line: [{ x: 1, y: 10 }, { x: 2, y: 100 }],
      dashed: [{ x: 0, y: 5 }, { x: 3, y: 200 }],
    }],
    markers: [{ x: 1.5, label: "m <x>" }],
  }));
  assertWellFormedSvg(
    chartSvg({ title: "t", xLabel: "x", yLabel: "y", series: [], empty: "none & all" }),
  );
  assertWellFormedSvg(chartSvg({
    title: "one point",
    xLabel: "x",
    yLabel: "y",
    series: [{ name: "a", color: "#111", points: [{ x: 2, y: 3 }] }],
  }));
});

Deno.test("study report on a fixture root: the known ratio, stability, CSVs, a partial study", async () => {
  const config = tinyConfig({
    grid: [
      { family: "sparse", ef: [1], pfrac: [0.125, 0.25, 0.5, 1] },
      { family: "dense", dense: true, ef: [1], steps: [20, 40, 60] },
    ],
    stability: { seeds: 3, tasks: ["else_elif"] },
  });
  const study = parse(config);
  const root = await Deno.makeTempDir({ prefix: "thinwire-study-report-" });
  // The stats test's numbers: dense/sparse = 2^3.5 at every loss, task effects cancel.
  const T = ["else_elif", "var_if", "while_return_true", "bracket_brace", "indent_for", "with_as"];
  const mult = [1, 3, 5, 7, 2, 10];
  const circuits = (k: number) => Object.fromEntries(T.map((t, j) => [t, { edges: k * mult[j] }]));
  try {
    await writeStudyFixture(root, study, {
      "sparse-e1-p0.125-n60-s1": {
        loss: 2.4,
        circuits: { ...circuits(8), else_elif: { edges: 8, nodes: ids(0, 1, 2) } },
        seeds: {
          1: { else_elif: { edges: 12, nodes: ids(0, 1, 3) } },
          2: { else_elif: { edges: 10, nodes: ids(0, 1, 2) } },
        },
      },
      "sparse-e1-p0.25-n60-s1": {
        loss: 2.2,
        circuits: { ...circuits(4), for_while: { edges: 3 } },
        missed: ["if_equals"],
      },
      "sparse-e1-p0.5-n60-s1": { loss: 2.0, circuits: circuits(2) },
      "dense-e1-n20-s1": { loss: 2.3, circuits: circuits(64) },
      "dense-e1-n40-s1": { loss: 2.1, circuits: circuits(32) },
      "dense-e1-n60-s1": { loss: 1.9, circuits: circuits(16) },
      // sparse-e1-p1-n60-s1 not started: the study is partial.
    });
    const results = await gatherStudy(study, root);
    assert.deepEqual(results.flatMap((r) => r.notes), []);
    assert.deepEqual(results.map((r) => r.state), [
      "pruned",
      "pruned",
      "pruned",
      "not started",
      "pruned",
      "pruned",
      "pruned",
    ]);
    const rep = buildReport(study, results, { level: 0.9, boots: 300, seed: 1, trust: 0.6, root });
    const c = rep.comparisons[0];
    assert.deepEqual(c.result!.tasks, [...T].sort());
    assert.ok(Math.abs(c.result!.ratio - 2 ** 3.5) < 1e-9);
    const md = rep.files["report.md"];
    assert.match(
      md,
      /\*\*Dense circuits have 11\.3× the edges of sparse ones at validation loss 2\.150\*\*/,
    );
    assert.match(md, /90% bootstrap interval over tasks: 11\.3–11\.3×/);
    assert.match(md, /7 runs planned: 6 trained, 6 evaluated, 6 pruned, 1 not started/);
    assert.match(
      md,
      /\| sparse-e1-p0\.125-n60-s1 \| else_elif \| 0,1,2 \| 3\.0 \| 10\.0 ± 2\.0 \| 8–12 \| 0\.67 \| 0\.50 \| 2 \| yes \|/,
    );
    assert.match(md, /Circuits this report trusts.*: else_elif in sparse-e1-p0\.125-n60-s1\./);
    const runsCsv = rep.files["runs.csv"].trim().split("\n");
    assert.equal(runsCsv.length, 1 + 7);
    assert.match(runsCsv[4], /^sparse-e1-p1-n60-s1,sparse,false,1,64,1,60,1,not started,,/);
    const circ = rep.files["circuits.csv"].trim().split("\n");
    // Sparse: 6, 6 + for_while + if_equals (missed), 6; dense 3 × 6; stability 2.
    assert.equal(circ.length, 1 + 6 + 8 + 6 + 18 + 2);
    assert.ok(circ.some((l) => l.includes(",if_equals,0,target not reached,")));
    for (const [name, text] of Object.entries(rep.files)) {
      if (name.endsWith(".svg")) assertWellFormedSvg(text);
    }
    assert.match(rep.files["fig2-1-sparse-vs-dense.svg"], /matched loss 2\.150: ratio 11\.3×/);
    // `study report --root` reads <root>/study.json and writes the same report.
    await Deno.writeTextFile(`${root}/study.json`, JSON.stringify(config));
    assert.equal(await studyCommand(["report", "--root", root, "--boots", "50"]), 0);
    assert.match(await Deno.readTextFile(`${root}/report/report.md`), /11\.3× the edges/);
    for (const f of ["runs.csv", "circuits.csv", "fig3-width-l0.svg"]) {
      await Deno.stat(`${root}/report/${f}`);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
