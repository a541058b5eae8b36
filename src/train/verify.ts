/**
 * Reproducibility check: re-train a run from its config.json into a temporary folder and compare
 * the result with the run's files bit for bit. Training is bit-reproducible across machines and
 * thread counts (the WASM kernels are deterministic), so any difference means different code,
 * different data, or a changed file.
 *
 * What is compared:
 *   - the tokenizer training makes from the run's data, with tokenizer.json (before training);
 *   - without `steps`: model.safetensors (SHA-256, then tensor by tensor for the report);
 *   - with `steps` N: the run's checkpoint, which must be at step N. train keeps one checkpoint,
 *     state/checkpoint.safetensors, overwritten every save-every steps and at the end, so a
 *     finished run can be checked at its last step and a stopped one at the step it stopped at.
 *     Weights, both Adam moments and the data position are compared.
 * Runs extended with `train --resume --steps` are re-trained segment by segment, each under the
 * schedule it had (config.json's `extended`), so they reproduce too.
 */
import { UserError } from "../errors.ts";
import { paramLayout } from "../model/params.ts";
import { decodeSafetensors, type SafetensorsFile } from "../model/safetensors.ts";
import { parseRunConfig, type RunConfig } from "../run/config.ts";
import { parseModelFile } from "../run/format.ts";
import { checkIsFolder, fileExists, RunDir } from "../run/run_dir.ts";
import { removeQuietly, withCleanup } from "../util/cleanup.ts";
import { sha256Hex } from "../util/sha256.ts";
import { VERSION } from "../version.ts";
import { checkpointStep, makeTokenizer, train } from "./trainer.ts";

/** One entry of config.json's `extended`: `train --resume --steps to` from the checkpoint at `at`. */
export interface Extension {
  atStep: number;
  fromSteps: number;
  toSteps: number;
}

/**
 * config.json's `extended` (absent: none), checked to be a chain that ends at the run's `steps`:
 * anything else cannot have been written by train, and cannot be re-trained.
 */
export function parseExtensions(config: unknown, steps: number, where: string): Extension[] {
  const raw = (config as { extended?: unknown }).extended;
  if (raw === undefined) return [];
  const bad = (why: string): never => {
    throw new UserError(`${where}: extended: ${why}, so the run cannot be re-trained`);
  };
  if (!Array.isArray(raw)) bad("not a list");
  const out: Extension[] = [];
  (raw as unknown[]).forEach((e, i) => {
    const o = (typeof e === "object" && e !== null ? e : {}) as Record<string, unknown>;
    const int = (k: string) => {
      const v = o[k];
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
        bad(`entry ${i + 1} has no integer ${k}`);
      }
      return v as number;
    };
    const x = { atStep: int("at_step"), fromSteps: int("from_steps"), toSteps: int("to_steps") };
    const prev = out[out.length - 1];
    if (x.fromSteps < 1 || x.atStep > x.fromSteps || x.toSteps <= x.fromSteps) {
      bad(
        `entry ${i + 1} (at_step ${x.atStep}, ${x.fromSteps} → ${x.toSteps} steps) is impossible`,
      );
    }
    if (prev && (x.fromSteps !== prev.toSteps || x.atStep < prev.atStep)) {
      bad(`entry ${i + 1} does not continue entry ${i}`);
    }
    out.push(x);
  });
  if (out.length > 0 && out[out.length - 1].toSteps !== steps) {
    bad(`the last entry ends at ${out[out.length - 1].toSteps} steps, train.steps is ${steps}`);
  }
  return out;
}

/** One train() call of a re-training: `steps` is the schedule's length, `stopAt` where it ends. */
export interface Segment {
  steps: number;
  stopAt: number;
  /** Continue from the previous segment's checkpoint (train --resume --steps). */
  resume: boolean;
}

/**
 * The train() calls that re-train a run with these extensions up to step `until` (at most its
 * steps): the original schedule to the first extension's checkpoint, then each extension's.
 */
export function trainingSegments(
  steps: number,
  ext: readonly Extension[],
  until: number,
): Segment[] {
  const out: Segment[] = [];
  let schedule = ext.length > 0 ? ext[0].fromSteps : steps;
  for (let i = 0; i <= ext.length; i++) {
    const stopAt = Math.min(i < ext.length ? ext[i].atStep : steps, until);
    out.push({ steps: schedule, stopAt, resume: i > 0 });
    if (stopAt === until) break;
    schedule = ext[i].toSteps;
  }
  return out;
}

/** Where two f32 arrays differ in their bits: how many values, and the largest |a − b|. */
export interface Difference {
  /** Index of the first differing value. */
  first: number;
  count: number;
  /** Largest |a − b| over the differing values; NaN when one of them is NaN. */
  maxAbs: number;
}

/** The bitwise difference of a and b (same length), or null when every bit is equal. */
export function bitDifference(a: Float32Array, b: Float32Array): Difference | null {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let first = -1, count = 0, maxAbs = 0, nan = false;
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] === ub[i]) continue;
    if (first < 0) first = i;
    count++;
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) nan = true;
    else if (d > maxAbs) maxAbs = d;
  }
  return first < 0 ? null : { first, count, maxAbs: nan ? NaN : maxAbs };
}

/** The verdict: exit code 0 (equal) or 1 (different) and the one line that says so. */
export interface Verdict {
  equal: boolean;
  line: string;
}

export interface VerifyOptions {
  /** The run folder. */
  dir: string;
  /** Check the checkpoint at this step instead of the final weights. */
  steps?: number;
  threads: number;
  /** No progress output. */
  quiet?: boolean;
  /** Where the temporary folder is made (default: the system's, $TMPDIR). */
  tmpRoot?: string;
}

/**
 * Re-trains the run in `opts.dir` and compares. Bad input (no run, a missing --data folder, no
 * checkpoint at `steps`, a damaged file) is a UserError; a difference is a Verdict. The temporary
 * folder is removed however this ends, Ctrl+C included.
 */
export async function verifyRun(opts: VerifyOptions): Promise<Verdict> {
  const run = new RunDir(opts.dir.replace(/\/+$/, "") || "/");
  const target = await readTarget(run, opts.steps);
  const { rc, ext, config } = target;
  const until = opts.steps ?? rc.train.steps;
  const segs = trainingSegments(rc.train.steps, ext, until);
  const first: RunConfig = { model: rc.model, train: { ...rc.train, steps: segs[0].steps } };

  // The tokenizer is made from the data before any step: a different one fails fast.
  const tok = await makeTokenizer(first);
  const theirs = JSON.stringify(await run.readJson(run.tokenizer));
  if (JSON.stringify(tok.toJSON()) !== theirs) {
    return differ(
      run,
      config,
      `tokenizer.json differs from the tokenizer training makes from ${dataName(rc)}`,
    );
  }

  const tmp = await Deno.makeTempDir({ prefix: "thinwire-verify-", dir: opts.tmpRoot });
  return await withCleanup(() => removeQuietly(tmp), async () => {
    const out = `${tmp}/run`;
    if (!opts.quiet) {
      const what = opts.steps === undefined ? "its weights" : `its checkpoint at step ${until}`;
      const parts = segs.length > 1 ? ` in ${segs.length} parts (extended with --resume)` : "";
      console.error(`verify: re-training ${run.dir}${parts} to check ${what}; in ${tmp}`);
    }
    for (const s of segs) {
      await train({
        out,
        rc: s.resume ? rc : first,
        threads: opts.threads,
        resume: s.resume,
        steps: s.resume ? s.steps : undefined,
        stopAt: s.stopAt,
        quiet: opts.quiet,
      });
    }
    const fresh = new RunDir(out);
    return opts.steps === undefined
      ? await compareModels(run, fresh, target, until)
      : await compareCheckpoints(run, fresh, target, until);
  });
}

/** What the run holds to compare against, read and checked before any training. */
interface Target {
  rc: RunConfig;
  ext: Extension[];
  /** config.json as parsed (its `thinwire` version names who trained it). */
  config: Record<string, unknown>;
  /** model.safetensors (without `steps`). */
  model?: { bytes: Uint8Array; tensors: Map<string, { data: Float32Array }> };
  /** The checkpoint (with `steps`). */
  checkpoint?: SafetensorsFile;
}

async function readTarget(run: RunDir, steps: number | undefined): Promise<Target> {
  await checkIsFolder(run);
  for (const p of [run.config, run.tokenizer]) {
    if (!(await fileExists(p))) throw new UserError(`${p}: missing (not a run folder?)`);
  }
  const config = await run.readJson(run.config) as Record<string, unknown>;
  const rc = parseRunConfig(config, run.config);
  const ext = parseExtensions(config, rc.train.steps, run.config);
  await checkData(rc, run);
  if (steps === undefined) {
    if (!(await fileExists(run.model))) {
      let why = `${run.model}: missing, so there are no final weights to check`;
      const ckpt = await readCheckpointIfAny(run);
      if (ckpt) {
        why += ` (training stopped at step ${ckpt.step}: \`verify --steps ${ckpt.step}\` ` +
          `checks that prefix)`;
      }
      throw new UserError(why);
    }
    const bytes = await run.readBytes(run.model);
    return {
      rc,
      ext,
      config,
      model: { bytes, tensors: parseModelFile(bytes, rc.model, run.model) },
    };
  }
  if (steps > rc.train.steps) {
    throw new UserError(`--steps ${steps}: ${run.dir} has only ${rc.train.steps} steps`);
  }
  const ckpt = await readCheckpointIfAny(run);
  if (!ckpt) {
    throw new UserError(
      `${run.checkpoint}: missing, so no training state can be checked (without --steps, verify ` +
        `checks the final weights)`,
    );
  }
  if (ckpt.step !== steps) {
    throw new UserError(
      `--steps ${steps}: ${run.dir} keeps only its checkpoint at step ${ckpt.step} (train ` +
        `overwrites it every ${rc.train.saveEvery} steps and at the end): use --steps ${ckpt.step}`,
    );
  }
  const n = paramLayout(rc.model).total;
  for (const name of ["params", "adam_m", "adam_v"]) {
    if (ckpt.file.tensors.get(name)?.data.length !== n) {
      throw new UserError(`${run.checkpoint}: tensor ${name} missing or of the wrong size`);
    }
  }
  return { rc, ext, config, checkpoint: ckpt.file };
}

async function readCheckpointIfAny(
  run: RunDir,
): Promise<{ file: SafetensorsFile; step: number } | null> {
  if (!(await fileExists(run.checkpoint))) return null;
  const file = decodeSafetensors(await run.readBytes(run.checkpoint), run.checkpoint);
  return { file, step: checkpointStep(file, run.checkpoint) };
}

/** A run trained on a --data folder needs that folder, at the same path, to re-train. */
async function checkData(rc: RunConfig, run: RunDir): Promise<void> {
  const data = rc.train.data;
  if (data === "corpus") return;
  let ok = false;
  try {
    ok = (await Deno.stat(data)).isDirectory;
  } catch {
    // Reported below.
  }
  if (!ok) {
    throw new UserError(
      `${run.dir} was trained on --data ${data}, which is not a folder here (verify re-reads ` +
        `the same .py files from that path${data.startsWith("/") ? "" : ", relative to here"})`,
    );
  }
}

function dataName(rc: RunConfig): string {
  return rc.train.data === "corpus" ? "the embedded corpus" : `--data ${rc.train.data}`;
}

async function compareModels(run: RunDir, fresh: RunDir, t: Target, steps: number) {
  const mine = await fresh.readBytes(fresh.model);
  const [a, b] = [await sha256Hex(t.model!.bytes), await sha256Hex(mine)];
  if (a === b) {
    return {
      equal: true,
      line: `verify: ${run.dir} reproduces: model.safetensors equal bit for bit after ${steps} ` +
        `steps (SHA-256 ${a.slice(0, 16)}…)`,
    };
  }
  const ours = decodeSafetensors(mine, fresh.model).tensors;
  const diffs = paramLayout(t.rc.model).specs.flatMap((spec) => {
    const d = bitDifference(t.model!.tensors.get(spec.name)!.data, ours.get(spec.name)!.data);
    return d ? [{ name: spec.name, size: spec.size, d }] : [];
  });
  if (diffs.length === 0) {
    return differ(
      run,
      t.config,
      `model.safetensors differs only in its header (every tensor equal)`,
    );
  }
  return differ(run, t.config, describe(diffs, "tensors", steps));
}

async function compareCheckpoints(run: RunDir, fresh: RunDir, t: Target, steps: number) {
  const f = decodeSafetensors(await fresh.readBytes(fresh.checkpoint), fresh.checkpoint);
  const specs = paramLayout(t.rc.model).specs;
  for (
    const [buffer, what] of [["params", ""], ["adam_m", "adam_m of "], ["adam_v", "adam_v of "]]
  ) {
    const theirs = t.checkpoint!.tensors.get(buffer)!.data, ours = f.tensors.get(buffer)!.data;
    const diffs = specs.flatMap((spec) => {
      const at = (x: Float32Array) => x.subarray(spec.offset, spec.offset + spec.size);
      const d = bitDifference(at(theirs), at(ours));
      return d ? [{ name: `${what}${spec.name}`, size: spec.size, d }] : [];
    });
    if (diffs.length > 0) {
      return differ(run, t.config, `checkpoint: ${describe(diffs, `${buffer} tensors`, steps)}`);
    }
    // The alignment gaps between tensors hold zeros; anything else there is a changed file.
    if (bitDifference(theirs, ours)) {
      return differ(
        run,
        t.config,
        `checkpoint: ${buffer} differs between tensors (alignment gaps)`,
      );
    }
  }
  const meta = t.checkpoint!.metadata.data_state, ours = f.metadata.data_state;
  if (meta !== ours) {
    return differ(
      run,
      t.config,
      `checkpoint: the data position differs after ${steps} steps (weights and moments equal)`,
    );
  }
  return {
    equal: true,
    line: `verify: ${run.dir} reproduces its checkpoint at step ${steps}: weights, Adam moments ` +
      `and data position equal bit for bit`,
  };
}

function describe(
  diffs: { name: string; size: number; d: Difference }[],
  kind: string,
  steps: number,
): string {
  const { name, size, d } = diffs[0];
  const max = Number.isNaN(d.maxAbs) ? "NaN" : d.maxAbs.toPrecision(3);
  const more = diffs.length > 1 ? `; ${diffs.length} ${kind} differ, this is the first` : "";
  return `${name} differs in ${d.count} of ${size} values (max |Δ| ${max}) after ${steps} ` +
    `steps${more}`;
}

function differ(run: RunDir, config: Record<string, unknown>, why: string): Verdict {
  const by = config.thinwire;
  const note = typeof by === "string" && by !== VERSION
    ? ` (trained by thinwire ${by}, this is ${VERSION})`
    : "";
  return { equal: false, line: `verify: ${run.dir} does not reproduce: ${why}${note}` };
}
