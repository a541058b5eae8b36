/**
 * `thinwire study`: a grid of runs (sparse at several widths × nonzero budgets, dense at several
 * widths) trained, evaluated and pruned as jobs for an engine, then `study report`: circuit size at
 * matched loss with a bootstrap interval, the width × L0 figure, the circuits' stability across
 * pruning seeds (docs/study.md).
 */
import { commandFlags, intFlag, numberFlag } from "../cli_flags.ts";
import { UserError } from "../errors.ts";
import { loadStudy, parseStudy, type Study } from "./config.ts";
import {
  checkEngine,
  type Engine,
  ENGINES,
  parallelScript,
  runLocal,
  runScript,
  slurmScript,
} from "./engines.ts";
import { gatherStudy } from "./gather.ts";
import { jobCommand } from "./job.ts";
import { planJobs, planText, repoRoot, rootArg } from "./plan.ts";
import { buildReport, writeReport } from "./report.ts";

/** The study shipped with thinwire (docs/study.md has its time estimate). */
export const DEFAULT_CONFIG = "src/study/default.json";

const USAGE = `usage: deno task study [--config FILE] [--root DIR] [--engine E] [--jobs N] [--plan]
       deno task study report [--root DIR | --config FILE] [--out DIR] [options]
       deno task study job <train|eval|prune|stability> [flags]

Runs a study (docs/study.md): every run of the config's grid is trained, evaluated and pruned on
each task it solves (prune --all), and chosen circuits are pruned again with more seeds. The work
is a plan of jobs, one CLI command each, that skip what is finished: run the study again after a
failure or a kill and it resumes.

  --config FILE       the study (default ${DEFAULT_CONFIG})
  --root DIR          where its runs, logs and report go (default studies/<name>)
  --engine E          local (default: here, --jobs at a time), parallel (GNU parallel; with
                      --sshloginfile over ssh hosts) or slurm (sbatch job arrays, one per stage,
                      each --dependency=afterok on the one before)
  --jobs N            jobs at a time for local and parallel (default 1); each job uses the
                      config's threads
  --sshloginfile F    parallel: run the jobs on these hosts (same checkout path, shared disk)
  --plan              print the plan and start nothing: local: the jobs, one per line, by stage;
                      parallel / slurm: the script the engine would run (save it and run it
                      with bash elsewhere, e.g. on a cluster's login node)

report:
  --root DIR          the study root (default: studies/<name> of --config)
  --out DIR           where report.md, the SVG figures, runs.csv and circuits.csv go
                      (default <root>/report)
  --level X           bootstrap interval level (default 0.9)
  --boots N           bootstrap resamples (default 2000)
  --seed N            bootstrap seed (default 1)
  --trust X           mean node-set Jaccard across seeds at which a circuit is trusted
                      (default 0.5)

job: one job of a plan, made idempotent (study job --help).`;

/** Runs `study` with its own arguments; returns the exit code. */
export async function studyCommand(argv: string[]): Promise<number> {
  if (argv[0] === "job") return await jobCommand(argv.slice(1));
  if (argv[0] === "report") return await reportCommand(argv.slice(1));
  const v = commandFlags("study", USAGE, {
    config: { type: "string" },
    root: { type: "string" },
    engine: { type: "string" },
    jobs: { type: "string" },
    sshloginfile: { type: "string" },
    plan: { type: "boolean" },
  }, argv);
  if (!v) return 0;
  const engine = (v.engine ?? "local") as Engine;
  if (!ENGINES.includes(engine)) {
    throw new UserError(`--engine must be one of ${ENGINES.join(", ")}, got '${v.engine}'`);
  }
  const jobs = intFlag("jobs", v.jobs, 1, 1);
  if (v.sshloginfile !== undefined && engine !== "parallel") {
    throw new UserError("--sshloginfile is for --engine parallel");
  }
  if (v.jobs !== undefined && engine === "slurm") {
    throw new UserError(
      "--jobs is for local and parallel (Slurm: the config's slurm.max_parallel)",
    );
  }
  const study = await loadStudy(v.config ?? DEFAULT_CONFIG);
  const repo = repoRoot();
  const plan = planJobs(study, rootArg(v.root ?? `studies/${study.name}`, repo), repo);
  if (v.sshloginfile !== undefined) {
    try {
      await Deno.stat(v.sshloginfile);
    } catch {
      throw new UserError(`--sshloginfile ${v.sshloginfile}: no such file`);
    }
  }
  const ssh = v.sshloginfile === undefined
    ? null
    : v.sshloginfile.startsWith("/")
    ? v.sshloginfile
    : `${Deno.cwd()}/${v.sshloginfile}`;
  const script = engine === "parallel"
    ? parallelScript(plan, jobs, ssh)
    : engine === "slurm"
    ? slurmScript(plan)
    : null;
  if (v.plan) {
    console.log(script ?? planText(plan));
    return 0;
  }
  await checkEngine(engine);
  console.error(
    `study ${study.name}: ${study.runs.length} runs, ${plan.jobs.length} jobs → ${plan.root} ` +
      `(engine ${engine}; finished jobs are skipped, a rerun resumes)`,
  );
  if (script === null) return await runLocal(plan, jobs);
  return await runScript(plan, engine as "parallel" | "slurm", script);
}

async function reportCommand(argv: string[]): Promise<number> {
  const v = commandFlags("study report", USAGE, {
    config: { type: "string" },
    root: { type: "string" },
    out: { type: "string" },
    level: { type: "string" },
    boots: { type: "string" },
    seed: { type: "string" },
    trust: { type: "string" },
  }, argv);
  if (!v) return 0;
  const level = numberFlag("level", v.level, 0.9, (x) => x > 0 && x < 1, "in (0, 1)");
  const boots = intFlag("boots", v.boots, 2000, 1);
  const seed = intFlag("seed", v.seed, 1, 0);
  const trust = numberFlag("trust", v.trust, 0.5, (x) => x >= 0 && x <= 1, "in [0, 1]");
  let study: Study;
  let root: string;
  if (v.config !== undefined) {
    study = await loadStudy(v.config);
    root = (v.root ?? `studies/${study.name}`).replace(/\/+$/, "");
  } else {
    root = (v.root ?? `studies/default`).replace(/\/+$/, "");
    const path = `${root}/study.json`;
    let json: unknown;
    try {
      json = JSON.parse(await Deno.readTextFile(path));
    } catch (e) {
      throw new UserError(
        e instanceof Deno.errors.NotFound
          ? `${root}: not a study root (no study.json; give --config FILE, or --root of a started study)`
          : `${path}: unreadable (${(e as Error).message.split("\n")[0]})`,
      );
    }
    study = parseStudy(json, path, root.split("/").pop()!);
  }
  const results = await gatherStudy(study, root);
  const out = v.out ?? `${root}/report`;
  const report = buildReport(study, results, { level, boots, seed, trust, root });
  await writeReport(out, report);
  for (const c of report.comparisons) {
    const m = c.result;
    console.log(
      m
        ? `${c.sparse} vs ${c.dense}: dense/sparse edges ${m.ratio.toFixed(2)}× at val loss ` +
          `${m.loss.toFixed(3)} (${Math.round(m.level * 100)}% interval ${m.lo.toFixed(2)}–` +
          `${m.hi.toFixed(2)}, ${m.tasks.length} shared task(s)${
            m.covered ? "" : ", extrapolated"
          })`
        : `${c.sparse} vs ${c.dense}: no ratio yet (${c.why})`,
    );
  }
  for (const s of report.stability) {
    console.log(
      `stability ${s.run} ${s.task}: seeds ${s.s.seeds.join(",")}, Jaccard mean ` +
        `${s.s.jaccardMean.toFixed(2)} (min ${s.s.jaccardMin.toFixed(2)}), edges ` +
        `${s.s.edgesMean.toFixed(1)} ± ${s.s.edgesSd.toFixed(1)}`,
    );
  }
  console.error(`report → ${out}/report.md (${Object.keys(report.files).length} files)`);
  return 0;
}
