/**
 * The study engines for real (opt-in: minutes, and it starts daemons): the shipped tiny study
 * (src/study/tiny.json: two runs, tiny preset) end to end through GNU parallel, and through a
 * single-node Slurm cluster (munged + slurmctld + slurmd with a generated slurm.conf in a temp
 * folder, stopped at the end) via sbatch job arrays chained with --dependency=afterok. Both must
 * give the same weights, every output of every stage, and a rerun that only skips.
 *
 * It installs nothing. On Debian, as root (the daemons need it):
 *
 *   apt-get install -y parallel slurm-wlm munge
 *   THINWIRE_ENGINE_TESTS=1 deno test -A tests/study_engines_test.ts
 */
import assert from "node:assert/strict";
import { studyCommand } from "../src/study/cli_study.ts";
import { repoRoot } from "../src/study/plan.ts";
import { sha256Hex } from "../src/util/sha256.ts";

const ENABLED = Deno.env.get("THINWIRE_ENGINE_TESTS") === "1";
if (!ENABLED) {
  console.log(
    "study engine tests (GNU parallel, Slurm) not run: THINWIRE_ENGINE_TESTS=1 deno test -A " +
      "tests/study_engines_test.ts (needs: apt-get install -y parallel slurm-wlm munge; as root)",
  );
}

const REPO = repoRoot();
const CONFIG = `${REPO}/src/study/tiny.json`;
const RUNS = ["sparse-e1-p0.25-n300-s1", "dense-e1-n300-s1"];

async function sh(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

async function requireProgram(name: string, pkg: string) {
  const r = await sh("bash", ["-c", `command -v ${name}`]);
  assert.equal(r.code, 0, `${name} not found: apt-get install -y ${pkg}`);
}

/** Every stage's output of the tiny study is there; returns the models' hashes. */
async function checkStudy(root: string): Promise<string[]> {
  const hashes: string[] = [];
  for (const run of RUNS) {
    const dir = `${root}/runs/${run}`;
    hashes.push(await sha256Hex(await Deno.readFile(`${dir}/model.safetensors`)));
    const ev = JSON.parse(await Deno.readTextFile(`${dir}/eval.json`));
    assert.equal(ev.pairs_per_task, 64);
    const summary = JSON.parse(await Deno.readTextFile(`${dir}/circuits/summary.json`));
    const pruned = summary.tasks.filter((t: { status: string }) => t.status === "pruned");
    assert.ok(pruned.length > 0, `${run}: no circuit at target 0.5`);
    for (const t of pruned) {
      const again = JSON.parse(
        await Deno.readTextFile(`${dir}/stability/seed-1/${t.task}.json`),
      );
      assert.equal(again.seed, 1);
    }
  }
  return hashes;
}

/** mtimes of every model and circuit file, to see that a rerun wrote nothing. */
async function mtimes(root: string): Promise<string> {
  const out: string[] = [];
  for (const run of RUNS) {
    for (const f of ["model.safetensors", "eval.json", "circuits/summary.json"]) {
      out.push(`${f} ${(await Deno.stat(`${root}/runs/${run}/${f}`)).mtime!.getTime()}`);
    }
  }
  return out.join("\n");
}

let parallelHashes: string[] | null = null;

Deno.test({
  name: "study engine: GNU parallel runs the tiny study end to end, then only skips",
  ignore: !ENABLED,
  async fn() {
    await requireProgram("parallel", "parallel");
    const root = await Deno.makeTempDir({ prefix: "thinwire-study-parallel-" });
    try {
      const t0 = performance.now();
      const code = await studyCommand([
        "--config",
        CONFIG,
        "--root",
        root,
        "--engine",
        "parallel",
        "--jobs",
        "2",
      ]);
      assert.equal(code, 0);
      console.log(`parallel: study in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      parallelHashes = await checkStudy(root);
      for (const stage of ["train", "eval", "prune", "stability"]) {
        const log = (await Deno.readTextFile(`${root}/engine/parallel-${stage}.joblog`)).trim()
          .split("\n").slice(1);
        assert.equal(log.length, 2, stage);
        for (const l of log) assert.equal(l.split("\t")[6], "0", `${stage}: ${l}`);
      }
      const before = await mtimes(root);
      const t1 = performance.now();
      assert.equal(
        await studyCommand(["--config", CONFIG, "--root", root, "--engine", "parallel"]),
        0,
      );
      assert.equal(await mtimes(root), before);
      console.log(`parallel: rerun in ${((performance.now() - t1) / 1000).toFixed(0)} s`);
      assert.equal(await studyCommand(["report", "--root", root]), 0);
      assert.match(await Deno.readTextFile(`${root}/report/report.md`), /## Runs/);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

/** A free TCP port on 127.0.0.1. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitFor(what: string, ok: () => Promise<boolean>, seconds: number) {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 2000));
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`);
}

Deno.test({
  name: "study engine: Slurm (single node, started here) runs the tiny study via sbatch arrays",
  ignore: !ENABLED,
  async fn() {
    for (
      const [p, pkg] of [["munged", "munge"], ["slurmctld", "slurm-wlm"], ["slurmd", "slurm-wlm"], [
        "sbatch",
        "slurm-wlm",
      ], ["squeue", "slurm-wlm"]]
    ) {
      await requireProgram(p, pkg);
    }
    const d = await Deno.makeTempDir({ prefix: "thinwire-slurm-" });
    const root = `${d}/study`;
    const host = Deno.hostname();
    const conf = `${d}/slurm.conf`;
    const env = { SLURM_CONF: conf };
    const pids: string[] = [`${d}/slurmd.pid`, `${d}/slurmctld.pid`, `${d}/munge/munged.pid`];
    const oldConf = Deno.env.get("SLURM_CONF");
    try {
      await Deno.mkdir(`${d}/munge`, { mode: 0o700 });
      for (const sub of ["state", "spool", "log"]) await Deno.mkdir(`${d}/${sub}`);
      const key = crypto.getRandomValues(new Uint8Array(1024));
      await Deno.writeFile(`${d}/munge/munge.key`, key, { mode: 0o400 });
      const munge = await sh("munged", [
        "--force",
        `--key-file=${d}/munge/munge.key`,
        `--socket=${d}/munge/munge.socket`,
        `--pid-file=${d}/munge/munged.pid`,
        `--log-file=${d}/log/munged.log`,
        `--seed-file=${d}/munge/seed`,
      ]);
      assert.equal(munge.code, 0, munge.text);
      const mem = Math.floor(
        Number(/MemTotal:\s+(\d+)/.exec(await Deno.readTextFile("/proc/meminfo"))![1]) / 1024,
      ) - 512;
      await Deno.writeTextFile(
        conf,
        [
          "ClusterName=thinwiretest",
          `SlurmctldHost=${host}(127.0.0.1)`,
          "AuthType=auth/munge",
          `AuthInfo=socket=${d}/munge/munge.socket`,
          "CredType=cred/munge",
          "SlurmUser=root",
          "SlurmdUser=root",
          `SlurmctldPort=${freePort()}`,
          `SlurmdPort=${freePort()}`,
          `StateSaveLocation=${d}/state`,
          `SlurmdSpoolDir=${d}/spool`,
          `SlurmctldPidFile=${d}/slurmctld.pid`,
          `SlurmdPidFile=${d}/slurmd.pid`,
          `SlurmctldLogFile=${d}/log/slurmctld.log`,
          `SlurmdLogFile=${d}/log/slurmd.log`,
          // No cgroups in a container: plain process tracking, no task plugin, no accounting.
          "ProctrackType=proctrack/linuxproc",
          "TaskPlugin=task/none",
          "JobAcctGatherType=jobacct_gather/none",
          "AccountingStorageType=accounting_storage/none",
          "SchedulerType=sched/backfill",
          "SelectType=select/cons_tres",
          "SelectTypeParameters=CR_CPU",
          "ReturnToService=2",
          "MpiDefault=none",
          "MinJobAge=3600",
          `NodeName=${host} NodeAddr=127.0.0.1 CPUs=${navigator.hardwareConcurrency} ` +
          `RealMemory=${mem} State=UNKNOWN`,
          `PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
        ].join("\n") + "\n",
      );
      for (const daemon of ["slurmctld", "slurmd"]) {
        const r = await sh(daemon, [], env);
        assert.equal(r.code, 0, `${daemon}: ${r.text}`);
      }
      await waitFor("the node to be idle", async () => {
        const r = await sh("sinfo", ["-h", "-o", "%T"], env);
        return r.code === 0 && r.text.trim() === "idle";
      }, 60);

      Deno.env.set("SLURM_CONF", conf); // the study's bash script calls sbatch with it
      const t0 = performance.now();
      assert.equal(
        await studyCommand(["--config", CONFIG, "--root", root, "--engine", "slurm"]),
        0,
      );
      const ids = [
        ...(await Deno.readTextFile(`${root}/engine/slurm.sh`)).matchAll(/^job_(\w+)=/gm),
      ]
        .map((m) => m[1]);
      assert.deepEqual(ids, ["train", "eval", "prune", "stability"]);
      await waitFor("the study's jobs to leave the queue", async () => {
        const r = await sh("squeue", ["-h", "-o", "%i %T %r"], env);
        return r.code === 0 && r.text.trim() === "";
      }, 1200);
      console.log(`slurm: study in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      const states = await sh("scontrol", ["show", "job", "-o"], env);
      const jobs = states.text.trim().split("\n").filter((l) =>
        l.includes("JobName=thinwire-tiny-")
      );
      // One array per stage with two tasks each, every one COMPLETED (exit 0).
      assert.equal(jobs.length, 8, states.text);
      for (const j of jobs) assert.match(j, /JobState=COMPLETED .*ExitCode=0:0/);
      // afterok: a stage's tasks start only after every task of the stage before has ended.
      const time = (j: string, k: string) => Date.parse(new RegExp(`${k}=(\\S+)`).exec(j)![1]);
      const stage = (s: string) => jobs.filter((j) => j.includes(`JobName=thinwire-tiny-${s} `));
      for (const [a, b] of [["train", "eval"], ["eval", "prune"], ["prune", "stability"]]) {
        const end = Math.max(...stage(a).map((j) => time(j, "EndTime")));
        const start = Math.min(...stage(b).map((j) => time(j, "StartTime")));
        assert.ok(start >= end, `${b} started before ${a} ended`);
      }
      const hashes = await checkStudy(root);
      if (parallelHashes) assert.deepEqual(hashes, parallelHashes, "same weights on both engines");
    } finally {
      if (oldConf === undefined) Deno.env.delete("SLURM_CONF");
      else Deno.env.set("SLURM_CONF", oldConf);
      for (const p of pids) {
        try {
          const pid = Number((await Deno.readTextFile(p)).trim());
          Deno.kill(pid, "SIGTERM");
          await waitFor(`pid ${pid} to stop`, async () => {
            try {
              await Deno.stat(`/proc/${pid}`);
              return false;
            } catch {
              return true;
            }
          }, 30);
        } catch { /* not started */ }
      }
      await Deno.remove(d, { recursive: true });
    }
  },
});
