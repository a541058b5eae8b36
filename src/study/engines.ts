/**
 * The engines that run a plan (src/study/plan.ts). thinwire schedules nothing itself beyond the
 * local runner: a stage's jobs N at a time, the next stage when all of them succeeded.
 *
 *   local     this machine, in-process runner
 *   parallel  a bash script that runs each stage with GNU parallel (also over ssh hosts)
 *   slurm     a bash script that submits one sbatch job array per stage, each stage
 *             --dependency=afterok on the one before
 *
 * The two scripts are self-contained (they write <root>/study.json and the job lists themselves),
 * so `study --plan --engine slurm > submit.sh` can be copied to a cluster and run there.
 */
import { UserError } from "../errors.ts";
import { formatDuration } from "../util/progress.ts";
import { writeAtomic } from "../util/write_atomic.ts";
import { type Stage, STAGES } from "./config.ts";
import { type Job, jobLine, type Plan, shellQuote, stages, studyJson } from "./plan.ts";

export const ENGINES = ["local", "parallel", "slurm"] as const;
export type Engine = typeof ENGINES[number];

/** Exit code and output of a command, or null when the program is not installed. */
async function probe(cmd: string, args: string[]): Promise<{ code: number; text: string } | null> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const dec = new TextDecoder();
    return { code: out.code, text: (dec.decode(out.stdout) + dec.decode(out.stderr)).trim() };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** Refuses, with one line, an engine whose programs this machine lacks. */
export async function checkEngine(engine: Engine): Promise<void> {
  if (engine === "parallel") {
    const v = await probe("parallel", ["--version"]);
    if (v === null) {
      throw new UserError(
        "engine parallel: GNU parallel is not installed (Debian: apt-get install parallel)",
      );
    }
    if (!v.text.includes("GNU parallel")) {
      throw new UserError(
        "engine parallel: the `parallel` on PATH is not GNU parallel (moreutils ships another): " +
          "install GNU parallel (apt-get install parallel)",
      );
    }
  } else if (engine === "slurm") {
    if ((await probe("sbatch", ["--version"])) === null) {
      throw new UserError(
        "engine slurm: sbatch is not installed here (run on a Slurm login node; --plan prints " +
          "the submission script without submitting)",
      );
    }
    const ping = await probe("scontrol", ["ping"]);
    if (ping === null || ping.code !== 0) {
      const why = ping === null ? "not installed" : ping.text.split("\n").at(-1);
      throw new UserError(`engine slurm: no Slurm controller answers (scontrol ping: ${why})`);
    }
  }
}

const absolute = (plan: Plan, p: string) => p.startsWith("/") ? p : `${plan.repo}/${p}`;

/**
 * Runs the plan here, stage by stage, `jobs` at a time; each job's output goes to its log. Returns
 * 0 when every job succeeded, 1 when a stage had failures (the later stages are not started).
 */
export async function runLocal(plan: Plan, jobs: number): Promise<number> {
  await Deno.mkdir(absolute(plan, plan.root), { recursive: true });
  await writeAtomic(absolute(plan, `${plan.root}/study.json`), studyJson(plan.study));
  // A job is a process of its own: stopping the runner stops its jobs too (a rerun resumes them).
  const stop = (signal: Deno.Signal) => () => {
    for (const c of running) {
      try {
        c.kill(signal);
      } catch { /* already gone */ }
    }
    console.error(`study ${plan.study.name}: stopped (${signal}); run it again to resume`);
    Deno.exit(130);
  };
  const handlers = (["SIGINT", "SIGTERM"] as const).map((s) => [s, stop(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  try {
    return await runStages(plan, jobs);
  } finally {
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  }
}

/** The jobs running now (runLocal stops them when it is stopped). */
const running = new Set<Deno.ChildProcess>();

async function runStages(plan: Plan, jobs: number): Promise<number> {
  const t0 = performance.now();
  for (const { stage, jobs: list } of stages(plan)) {
    console.error(
      `stage ${stage}: ${list.length} job(s), ${Math.min(jobs, list.length)} at a time`,
    );
    const failed: Job[] = [];
    let next = 0, done = 0;
    const worker = async () => {
      while (next < list.length) {
        const j = list[next++];
        const t1 = performance.now();
        const code = await runJob(plan, j);
        done++;
        const took = formatDuration((performance.now() - t1) / 1000);
        const last = await lastLine(absolute(plan, j.log));
        if (code === 0) {
          console.error(`[${stage} ${done}/${list.length}] ${j.run} (${took}): ${last}`);
        } else {
          failed.push(j);
          console.error(
            `[${stage} ${done}/${list.length}] ${j.run}: FAILED (exit ${code}) after ${took}: ` +
              `${last} (log: ${j.log})`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(jobs, list.length) }, worker));
    if (failed.length) {
      console.error(
        `stage ${stage}: ${failed.length} of ${list.length} job(s) failed; the later stages were ` +
          `not started. Fix the cause and run the study again: finished jobs are skipped.`,
      );
      return 1;
    }
  }
  console.error(
    `study ${plan.study.name}: every job finished in ${
      formatDuration((performance.now() - t0) / 1000)
    } → report: deno task study report --root ${plan.root}`,
  );
  return 0;
}

/** Runs one job with its output appended to its log; returns the exit code. */
async function runJob(plan: Plan, j: Job): Promise<number> {
  const log = absolute(plan, j.log);
  await Deno.mkdir(log.slice(0, log.lastIndexOf("/")), { recursive: true });
  const f = await Deno.open(log, { append: true, create: true });
  try {
    await f.write(new TextEncoder().encode(`# ${new Date().toISOString()} ${jobLine(j)}\n`));
    const [cmd, ...args] = j.argv;
    const child = new Deno.Command(cmd === "deno" ? Deno.execPath() : cmd, {
      args,
      cwd: plan.repo,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    running.add(child);
    const copy = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s) await f.write(chunk);
    };
    await Promise.all([copy(child.stdout), copy(child.stderr)]);
    const code = (await child.status).code;
    running.delete(child);
    return code;
  } finally {
    f.close();
  }
}

/** The last line of a log (jobs write to a pipe: progress bars print whole lines there). */
async function lastLine(path: string): Promise<string> {
  try {
    const lines = (await Deno.readTextFile(path)).split("\n").map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    return lines.at(-1) ?? "";
  } catch {
    return "";
  }
}

/** A heredoc delimiter that no line of `body` equals. */
function delimiter(base: string, body: string): string {
  const lines = new Set(body.split("\n"));
  let d = base, i = 0;
  while (lines.has(d)) d = `${base}_${++i}`;
  return d;
}

function heredoc(base: string, body: string): { open: string; close: string } {
  const d = delimiter(base, body);
  return { open: `<<'${d}'`, close: d };
}

/** The lines every script starts with: where it runs, the build, the root's folders, study.json. */
function scriptHead(plan: Plan, what: string[]): string[] {
  const json = studyJson(plan.study);
  const h = heredoc("THINWIRE_STUDY", json);
  const q = shellQuote;
  return [
    "#!/usr/bin/env bash",
    ...what.map((l) => `# ${l}`),
    `# Every job skips what it finds finished, so running this again resumes the study.`,
    "",
    `# The thinwire checkout every job runs in (on a cluster: its path there, on a shared file system).`,
    `REPO=\${THINWIRE_REPO:-${q(plan.repo)}}`,
    `cd "$REPO" || exit 1`,
    `deno task build || exit 1`,
    `mkdir -p ${STAGES.map((s) => q(`${plan.root}/logs/${s}`)).join(" ")} ${
      q(`${plan.root}/engine`)
    } || exit 1`,
    `cat > ${q(`${plan.root}/study.json`)} ${h.open}`,
    json.trimEnd(),
    h.close,
    "",
  ];
}

/**
 * A bash script running the plan with GNU parallel, stage after stage; `jobs` at a time (env JOBS
 * overrides). With an ssh login file (env SSHLOGINFILE overrides) the jobs run on those hosts, in
 * $REPO there: the checkout and the study root must be on a file system they share.
 */
export function parallelScript(plan: Plan, jobs: number, sshLoginFile: string | null): string {
  const q = shellQuote;
  const out = scriptHead(plan, [
    `thinwire study '${plan.study.name}' for GNU parallel: ${plan.jobs.length} jobs in ` +
    `${stages(plan).length} stages.`,
    `A stage starts when every job of the stage before succeeded.`,
    `Usage: bash THIS [JOBS=N] [SSHLOGINFILE=FILE]; over ssh the hosts need deno on their PATH.`,
  ]);
  out.push(
    `JOBS=\${JOBS:-${jobs}}`,
    `SSHLOGINFILE=\${SSHLOGINFILE:-${sshLoginFile === null ? "" : q(sshLoginFile)}}`,
    `remote=()`,
    `if [ -n "$SSHLOGINFILE" ]; then remote=(--sshloginfile "$SSHLOGINFILE" --workdir "$REPO"); fi`,
    "",
    `stage() { # name, job count; the jobs on stdin`,
    `  echo "stage $1: $2 job(s), $JOBS at a time" >&2`,
    `  if ! parallel --jobs "$JOBS" --joblog ${
      q(`${plan.root}/engine`)
    }/"parallel-$1.joblog" "\${remote[@]}"; then`,
    `    echo "stage $1: some jobs failed (exit codes: ${plan.root}/engine/parallel-$1.joblog, ` +
      `output: ${plan.root}/logs/$1/); later stages not started" >&2`,
    `    exit 1`,
    `  fi`,
    `}`,
    "",
  );
  for (const { stage, jobs: list } of stages(plan)) {
    const body = list.map((j) => `${jobLine(j)} >> ${q(j.log)} 2>&1`).join("\n");
    const h = heredoc("THINWIRE_JOBS", body);
    out.push(`stage ${stage} ${list.length} ${h.open}`, body, h.close);
  }
  out.push(
    `echo "study ${plan.study.name}: every job finished; report: deno task study report --root ${
      q(plan.root)
    }" >&2`,
  );
  return out.join("\n") + "\n";
}

/** sbatch options from the study's slurm section for one stage. */
function sbatchOptions(plan: Plan, stage: Stage): string[] {
  const s = plan.study.config.slurm;
  const opts: string[] = [];
  if (s.partition) opts.push(`--partition=${s.partition}`);
  if (s.account) opts.push(`--account=${s.account}`);
  if (s.mem) opts.push(`--mem=${s.mem}`);
  const time = typeof s.time === "string" ? s.time : s.time?.[stage];
  if (time) opts.push(`--time=${time}`);
  return [...opts, ...s.options];
}

/**
 * A bash script submitting the plan to Slurm: per stage one sbatch job array whose task i runs
 * job i of the stage's list, each stage --dependency=afterok on the stage before (every task of
 * its array succeeded). It prints the job ids; nothing here waits for them.
 */
export function slurmScript(plan: Plan): string {
  const q = shellQuote;
  const cfg = plan.study.config;
  const out = scriptHead(plan, [
    `thinwire study '${plan.study.name}' for Slurm: ${plan.jobs.length} jobs, one job array per ` +
    `stage (${stages(plan).map((s) => `${s.stage} ${s.jobs.length}`).join(", ")}),`,
    `each stage --dependency=afterok on the one before. Usage: bash THIS (on a login node).`,
  ]);
  out.push(
    `set -euo pipefail`,
    `mkdir -p ${q(`${plan.root}/logs/slurm`)}`,
    "",
    `submit() { # stage, tasks, job it waits for ("" = none), extra sbatch options...; script on stdin`,
    `  local stage=$1 n=$2 after=$3; shift 3`,
    `  local dep=(); if [ -n "$after" ]; then dep=(--dependency=afterok:"$after"); fi`,
    `  sbatch --parsable --job-name="thinwire-${plan.study.name}-$stage" ` +
      `--array=0-$((n - 1))${cfg.slurm.max_parallel ? `%${cfg.slurm.max_parallel}` : ""} ` +
      `--ntasks=1 --cpus-per-task=${cfg.threads} --chdir="$REPO" ` +
      `--output=${
        q(`${plan.root}/logs/slurm`)
      }/"$stage-%A_%a.out" "\${dep[@]}" "$@" | cut -d';' -f1`,
    `}`,
    "",
  );
  let prev = "";
  for (const { stage, jobs: list } of stages(plan)) {
    const body = [
      "#!/usr/bin/env bash",
      "jobs=(",
      ...list.map((j) => `  ${q(jobLine(j))}`),
      ")",
      "logs=(",
      ...list.map((j) => `  ${q(j.log)}`),
      ")",
      `exec bash -c "\${jobs[$SLURM_ARRAY_TASK_ID]}" >> "\${logs[$SLURM_ARRAY_TASK_ID]}" 2>&1`,
    ].join("\n");
    const h = heredoc("THINWIRE_ARRAY", body);
    const v = `job_${stage}`;
    out.push(
      `${v}=$(submit ${stage} ${list.length} ${prev ? `"$${prev}"` : '""'} ${
        sbatchOptions(plan, stage).map(q).join(" ")
      } ${h.open}`.replace(/ +</, " <"),
      body,
      h.close,
      `)`,
      `echo "stage ${stage}: job $${v} (${list.length} array tasks${
        prev ? `, after job $${prev}` : ""
      })"`,
    );
    prev = v;
  }
  out.push(
    `echo "submitted; watch with: squeue --me; then: deno task study report --root ${
      q(plan.root)
    }"`,
  );
  return out.join("\n") + "\n";
}

/** Writes an engine's script into <root>/engine/ and runs it with bash; returns its exit code. */
export async function runScript(plan: Plan, engine: "parallel" | "slurm", text: string) {
  const dir = absolute(plan, `${plan.root}/engine`);
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/${engine}.sh`;
  await writeAtomic(path, text);
  console.error(`${engine}: ${path}`);
  const st = await new Deno.Command("bash", { args: [path], cwd: plan.repo }).spawn().status;
  return st.code;
}
