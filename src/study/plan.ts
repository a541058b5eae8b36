/**
 * A study as jobs for an engine: one CLI command per job (`deno run -A cli.ts study job …`, run
 * from the repository root), grouped in stages train → eval → prune → stability, each job after its
 * run's job of the stage before. A job checks its own outputs (src/study/job.ts), so any engine may
 * run a plan again: finished jobs are skipped, a killed training resumes.
 *
 * The study root's layout (paths relative to the repository root when the root is inside it):
 *
 *   <root>/study.json                       the study's config, as validated (the report reads it)
 *   <root>/runs/<run>/                      a run folder (train), with eval.json (eval), circuits/
 *                                           (prune --all) and stability/seed-<s>/ (stability)
 *   <root>/logs/<stage>/<job>.log           each job's output
 *   <root>/engine/                          the engine's scripts and job logs
 *   <root>/report/                          `study report`
 */
import { type Stage, STAGES, type Study } from "./config.ts";

/** The eval JSON a study writes into each run folder. */
export const EVAL_FILE = "eval.json";
/** Circuits of pruning seed s go to <run>/stability/seed-<s>/. */
export const stabilityDir = (runDir: string, seed: number) => `${runDir}/stability/seed-${seed}`;

export interface Job {
  /** Unique in the plan: "<stage>/<run>" or "stability/<run>/seed-<s>". */
  id: string;
  stage: Stage;
  run: string;
  /** The command, argv[0] = "deno", run from the repository root. */
  argv: string[];
  /** Job ids this one needs finished first. */
  after: string[];
  /** Where its output goes. */
  log: string;
}

export interface Plan {
  study: Study;
  /** The study root as the jobs name it (relative to the repository root when inside it). */
  root: string;
  /** The repository root (absolute): every job runs there. */
  repo: string;
  jobs: Job[];
}

/** The repository this module belongs to (absolute path, no trailing slash). */
export function repoRoot(): string {
  return decodeURIComponent(new URL("../../", import.meta.url).pathname).replace(/\/$/, "");
}

/** An absolute path (from the current directory) as the jobs should name it. */
export function rootArg(root: string, repo: string, cwd = Deno.cwd()): string {
  const abs = normalize(root.startsWith("/") ? root : `${cwd}/${root}`);
  return abs.startsWith(repo + "/") ? abs.slice(repo.length + 1) : abs;
}

function normalize(p: string): string {
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/** The run folder of a run, as the jobs name it. */
export const runDir = (root: string, run: string) => `${root}/runs/${run}`;

/** Every job of a study rooted at `root` (as the jobs name it). */
export function planJobs(study: Study, root: string, repo: string): Plan {
  const cfg = study.config;
  const threads = ["--threads", `${cfg.threads}`];
  const job = (
    kind: string,
    args: string[],
  ) => ["deno", "run", "-A", "cli.ts", "study", "job", kind, ...args];
  const log = (stage: Stage, id: string) => `${root}/logs/${stage}/${id}.log`;
  const jobs: Job[] = [];
  const st = cfg.stability;
  for (const r of study.runs) {
    const dir = runDir(root, r.name);
    jobs.push({
      id: `train/${r.name}`,
      stage: "train",
      run: r.name,
      argv: job("train", [...r.trainArgs, ...threads, "--out", dir]),
      after: [],
      log: log("train", r.name),
    });
    jobs.push({
      id: `eval/${r.name}`,
      stage: "eval",
      run: r.name,
      argv: job("eval", ["--model", dir, "--pairs", `${cfg.eval.pairs}`, ...threads]),
      after: [`train/${r.name}`],
      log: log("eval", r.name),
    });
    jobs.push({
      id: `prune/${r.name}`,
      stage: "prune",
      run: r.name,
      argv: job("prune", ["--model", dir, "--all", ...study.pruneArgs, ...threads]),
      after: [`eval/${r.name}`],
      log: log("prune", r.name),
    });
    if (st.runs && !st.runs.includes(r.name)) continue;
    for (let s = 1; s < st.seeds; s++) {
      jobs.push({
        id: `stability/${r.name}/seed-${s}`,
        stage: "stability",
        run: r.name,
        argv: job("stability", [
          "--tasks",
          st.tasks === "all" ? "all" : st.tasks.join(","),
          "--model",
          dir,
          "--seed",
          `${s}`,
          "--out-dir",
          stabilityDir(dir, s),
          ...study.pruneArgs,
          ...threads,
        ]),
        after: [`prune/${r.name}`],
        log: log("stability", `${r.name}-seed-${s}`),
      });
    }
  }
  return { study, root, repo, jobs };
}

/** The plan's jobs per stage, in stage order, leaving out empty stages. */
export function stages(plan: Plan): { stage: Stage; jobs: Job[] }[] {
  return STAGES.map((stage) => ({ stage, jobs: plan.jobs.filter((j) => j.stage === stage) }))
    .filter((s) => s.jobs.length > 0);
}

/** Quotes a word for POSIX sh when it needs it. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A job's command line. */
export function jobLine(j: Job): string {
  return j.argv.map(shellQuote).join(" ");
}

/** The study config as written to <root>/study.json (defaults filled in). */
export function studyJson(study: Study): string {
  return JSON.stringify({ ...study.config, name: study.name }, null, 2) + "\n";
}

/** The plan as text: a header, then per stage a comment line and one job per line. */
export function planText(plan: Plan): string {
  const s = plan.study;
  const dense = s.runs.filter((r) => r.dense).length;
  const out = [
    `# thinwire study '${s.name}': ${s.runs.length} runs (${
      s.runs.length - dense
    } sparse, ${dense} dense), ${plan.jobs.length} jobs, root ${plan.root}`,
    `# every job runs from the repository root (${plan.repo}) and skips what it finds finished`,
  ];
  const after: Record<Stage, string> = {
    train: "nothing",
    eval: "its run's train job",
    prune: "its run's eval job",
    stability: "its run's prune job",
  };
  for (const { stage, jobs } of stages(plan)) {
    out.push(`# stage ${stage}: ${jobs.length} job(s), each after ${after[stage]}`);
    for (const j of jobs) out.push(jobLine(j));
  }
  return out.join("\n") + "\n";
}
