/**
 * The training loop (docs/method.md §2): AdamW on dense gradients, the global gradient RMS normalised to
 * 1, warmup + linear decay × the sharkfin factor, then per-tensor magnitude top-k to the annealed L0
 * and decoupled weight decay, after every step. Checkpoints are atomic and resumable bit-exactly.
 */
import { ARENA_BASE } from "../backend/arena.ts";
import type { BackendKind, ComputeBackend } from "../backend/backend.ts";
import { backendLabel, createBackend } from "../backend/create.ts";
import { aliveNeurons, countNonzero } from "../backend/ops/topk.ts";
import { TRAIN_SEED } from "../data/corpus/index.ts";
import {
  corpusSource,
  filesSource,
  fixedBatches,
  splitBatch,
  type TokenSource,
  valSource,
} from "../data/dataset.ts";
import { loadPyFiles } from "../data/pyfiles.ts";
import { takeChars } from "../data/take_chars.ts";
import {
  corpusPrefix,
  DEFAULT_TRAIN_CHARS,
  loadDefaultTokenizer,
  Tokenizer,
} from "../data/tokenizer.ts";
import { KernelError, UserError } from "../errors.ts";
import type { Model } from "../model/model.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type NamedTensor,
  type SafetensorsFile,
} from "../model/safetensors.ts";
import { formatDuration, Progress } from "../util/progress.ts";
import { formatBytes, trainingBytes } from "../model/memory.ts";
import {
  checkTrainingFits,
  FORMAT_VERSION,
  parseRunConfig,
  type RunConfig,
  validateRunConfig,
} from "../run/config.ts";
import { plotSvg } from "./plot_svg.ts";
import {
  configTokenizerName,
  encodeModelFile,
  type MetricsRow,
  parseTokenizer,
} from "../run/format.ts";
import {
  appendMetrics,
  fileExists,
  readMetrics,
  readRegularFile,
  RunDir,
  writeAtomic,
  writeMetrics,
} from "../run/run_dir.ts";
import { checkSparsityFeasible, isSparseAnneal } from "./sparsify.ts";
import { pruneAtInit } from "./sparse_anneal.ts";
import { paramLayout, type ParamSpec } from "../model/params.ts";
import { LOSS_CHECK, StepRunner } from "./step.ts";
import { validationXent } from "./validation.ts";
import { sha256Hex } from "../util/sha256.ts";
import { VERSION } from "../version.ts";

export interface TrainArgs {
  out: string;
  /** The run's config (with `resume`, config.json's is used instead). */
  rc: RunConfig;
  threads: number;
  /** What to compute on (default "cpu"; "webgpu": docs/webgpu.md). Not part of the run's config. */
  backend?: BackendKind;
  /** Continue the run in `out` from its checkpoint, with its saved config. */
  resume: boolean;
  /**
   * With `resume`: train to this many steps, at least the saved count (README "Extending a run").
   * From the checkpoint on, everything that is a fraction of the run's steps (warmup, lr decay, the
   * sharkfin factor, the L0 anneal) follows a run of this many steps, so the result differs from
   * training this many steps from scratch. config.json records the new count, and in `extended`
   * the step it changed at.
   */
  steps?: number;
  /** No progress output (tests). */
  quiet?: boolean;
  /**
   * Stop after this step, as a run killed just after its checkpoint there would: the checkpoint
   * is saved at it and model.safetensors is not written. `verify` re-trains prefixes with it.
   */
  stopAt?: number;
}

export interface TrainResult {
  steps: number;
  trainLoss: number;
  valLoss: number;
  seconds: number;
  tokensPerSecond: number;
  /** SHA-256 of model.safetensors; null when `stopAt` ended training before the last step. */
  modelSha256: string | null;
}

export async function train(args: TrainArgs): Promise<TrainResult> {
  const run = new RunDir(args.out);
  let rc = args.rc;
  let tok: Tokenizer;
  let extendedFrom: number | null = null;
  if (args.resume) {
    if (!(await run.exists())) throw new UserError(`${args.out}: no run to resume here`);
    const configJson = await run.readJson(run.config);
    rc = parseRunConfig(configJson, run.config);
    tok = parseTokenizer(
      await run.readJson(run.tokenizer),
      rc,
      configTokenizerName(configJson),
      run.tokenizer,
    );
    if (args.steps !== undefined && args.steps !== rc.train.steps) {
      if (args.steps < rc.train.steps) {
        throw new UserError(
          `--steps ${args.steps}: --resume can only extend a run, and ${args.out} has ` +
            `${rc.train.steps} steps`,
        );
      }
      extendedFrom = rc.train.steps;
      rc = { model: rc.model, train: { ...rc.train, steps: args.steps } };
      validateRunConfig(rc);
    }
  } else {
    validateRunConfig(rc);
    checkTrainingFits(rc);
    checkSparsityFeasible(paramLayout(rc.model), rc);
    if (await run.exists()) {
      throw new UserError(`${args.out} already holds a run: use --resume, or another --out`);
    }
    tok = await makeTokenizer(rc);
  }
  const m = rc.model, t = rc.train;
  if (tok.vocabSize !== m.vocabSize) {
    throw new UserError(
      `tokenizer has ${tok.vocabSize} tokens but the model expects ${m.vocabSize}`,
    );
  }
  const kind = args.backend ?? "cpu";
  // Load the data before writing anything, so bad input leaves no half-made run behind.
  const { train: source, val: valSource } = await makeSources(rc, tok);
  const valBatches = fixedBatches(valSource, t.valBatches, t.batchSize, m.nCtx);
  // So is a missing GPU, or one too small for the model.
  const be = await createBackend({ threads: args.threads, backend: kind });
  let madeFolder: boolean, lock: { release(): void };
  try {
    checkTrainingFitsDevice(be, rc);
    madeFolder = !(await fileExists(run.dir));
    await run.create();
    lock = await run.lock();
  } catch (e) {
    be.close();
    throw e;
  }
  // Until its first checkpoint a new run can be redone from nothing: a failure before it removes
  // what this call wrote (a run killed then resumes from step 0).
  let written = !args.resume;
  // Steps whose loss was checked finite (on a GPU: read, at log steps), and the last checkpoint.
  let checkedTo = 0, lastSaved = 0;
  try {
    const runner = new StepRunner(be, rc);
    const { model, adamM, adamV } = runner;
    model.prepare(t.batchSize, m.nCtx);
    if (!args.resume) {
      await writeAtomic(run.config, JSON.stringify(runConfigJson(rc, tok), null, 2) + "\n");
      await writeAtomic(run.tokenizer, JSON.stringify(tok.toJSON()));
      await writeMetrics(run, []);
    }
    const total = model.layout.total;
    let start = 0;
    let metrics: MetricsRow[] = [];
    if (args.resume && await fileExists(run.checkpoint)) {
      start = await loadCheckpoint(run, rc, model, adamM, adamV, source);
      // Rows past the checkpoint come from steps that are about to be redone.
      metrics = (await readMetrics(run)).filter((r) => r.step <= start);
      await writeMetrics(run, metrics);
    } else {
      if (args.resume && !args.quiet) {
        console.error(`thinwire: ${args.out} has no checkpoint yet: training from step 0`);
      }
      if (args.resume) await writeMetrics(run, []);
      model.init(t.seed);
      pruneAtInit(be, model, rc);
    }
    if (args.resume && extendedFrom !== null) {
      await recordExtension(run, start, extendedFrom, t.steps);
    }
    model.refresh(!t.dense);

    const B = t.batchSize, T = m.nCtx, N = B * T;
    const inputs = new Int32Array(N), targets = new Int32Array(N);
    const valLoss = () => validationXent(model, valBatches, B, T);

    // A prefix (stopAt) fills its bar at the step it stops at.
    const end = Math.min(t.steps, args.stopAt ?? t.steps);
    const progress = args.quiet ? null : new Progress("train", end);
    if (!args.quiet) {
      console.error(
        `thinwire: ${t.dense ? "dense" : "sparse"} model${
          t.denseGradEvery > 1 ? ` (dense gradients every ${t.denseGradEvery} steps)` : ""
        }${
          isSparseAnneal(rc) ? `, starting sparse at block density ${t.annealFrom}` : ""
        }, ${model.d.L} layers, d_model ${model.d.C}, ` +
          `${(total / 1e6).toFixed(2)}M parameters, ${B}×${T} tokens/step, ${t.steps} steps, ` +
          `${backendLabel(be)} → ${args.out}` + (args.resume ? ` (from step ${start})` : ""),
      );
      if (start >= t.steps) {
        console.error(
          `thinwire: ${args.out} is complete: nothing to train (--resume --steps N extends it)`,
        );
      }
    }
    const t0 = performance.now();
    let windowStart = performance.now(), windowTokens = 0;
    let lastLoss = NaN, lastVal = NaN;
    lastSaved = checkedTo = start;
    for (let step = start; step < end; step++) {
      splitBatch(source.nextBatch(B, T), B, T, inputs, targets);
      const { lr } = runner.record(inputs, targets, step);
      windowTokens += N;
      const done = step + 1;
      const last = done === t.steps;
      const logged = done % t.logEvery === 0 || last;
      // On a GPU the loss is read (one wait) only where it is logged or training stops.
      if (logged || done === end || !runner.lossDeferred) {
        const loss = runner.lastLoss();
        if (!Number.isFinite(loss)) {
          throw new UserError(
            `loss became ${loss} at step ${done}; stopped. The last good checkpoint (step ` +
              `${lastSaved}) is in ${run.stateDir}`,
            3,
          );
        }
        lastLoss = loss;
        checkedTo = done;
      }
      const loss = lastLoss;
      if (logged) {
        const now = performance.now();
        const row: MetricsRow = { step: done, "train/xent": loss, lr };
        if (done % t.evalEvery === 0 || last) row["val/xent"] = lastVal = valLoss();
        Object.assign(row, sparsityMetrics(be, model));
        row.tokens_per_s = windowTokens / ((now - windowStart) / 1000);
        windowStart = now;
        windowTokens = 0;
        metrics.push(row);
        await appendMetrics(run, row);
        progress?.update(done, {
          loss: loss.toFixed(3),
          val: Number.isFinite(lastVal) ? lastVal.toFixed(3) : "-",
          L0: formatCount(row.L0),
          "tok/s": Math.round(row.tokens_per_s).toString(),
        }, start);
      }
      if (done % t.saveEvery === 0 || last || done === end) {
        await saveCheckpoint(run, rc, model, adamM, adamV, done, source);
        written = false;
        await writeAtomic(run.lossSvg, lossPlot(metrics, rc));
        lastSaved = done;
      }
    }
    if (end < t.steps) {
      const seconds = (performance.now() - t0) / 1000;
      const tokensPerSecond = (Math.max(end - start, 0) * N) / Math.max(seconds, 1e-9);
      return {
        steps: end,
        trainLoss: lastLoss,
        valLoss: lastVal,
        seconds,
        tokensPerSecond,
        modelSha256: null,
      };
    }
    if (start >= t.steps) lastVal = valLoss();
    const bytes = await saveModel(run, model, rc);
    await writeAtomic(run.lossSvg, lossPlot(metrics, rc));
    const seconds = (performance.now() - t0) / 1000;
    const result: TrainResult = {
      steps: t.steps,
      trainLoss: lastLoss,
      valLoss: lastVal,
      seconds,
      tokensPerSecond: ((t.steps - start) * N) / Math.max(seconds, 1e-9),
      modelSha256: await sha256Hex(bytes),
    };
    if (!args.quiet) {
      console.error(
        `done in ${formatDuration(seconds)}: train xent ${lastLoss.toFixed(4)}, val xent ` +
          `${lastVal.toFixed(4)}, ${Math.round(result.tokensPerSecond)} tok/s → ${run.model}`,
      );
    }
    return result;
  } catch (e) {
    if (written) await removeUnstarted(run, madeFolder);
    throw translateDeviceLoss(translateArenaError(e, rc), checkedTo, lastSaved, run);
  } finally {
    be.close();
    lock.release();
  }
}

/** Removes what a new run wrote before its first checkpoint (and its folder, if it made it). */
async function removeUnstarted(run: RunDir, madeFolder: boolean): Promise<void> {
  for (const p of [run.config, run.tokenizer, run.metrics, run.lossSvg, run.stateDir]) {
    await Deno.remove(p, { recursive: true }).catch(() => {});
  }
  if (madeFolder) {
    await Deno.remove(`${run.dir}/.lock`).catch(() => {});
    await Deno.remove(run.dir).catch(() => {});
  }
}

/**
 * A GPU's arena is capped by what the device binds at once (docs/webgpu.md): a model whose
 * training needs more is refused in one line naming the limit, before anything is written.
 */
function checkTrainingFitsDevice(be: ComputeBackend, rc: RunConfig): void {
  const need = trainingBytes(
    rc.model,
    rc.train.batchSize,
    rc.model.nCtx,
    rc.train.denseGradEvery,
  );
  const room = be.arena.maxBytes - ARENA_BASE;
  if (be.kind === "cpu" || need <= room) return;
  throw new UserError(
    `training this model on batches of ${rc.train.batchSize}×${rc.model.nCtx} tokens needs ` +
      `${formatBytes(need)} of GPU memory, and this WebGPU device binds ${formatBytes(room)} ` +
      `at once (maxStorageBufferBindingSize): lower --batch or --n-ctx, or use --backend cpu`,
  );
}

/**
 * A non-finite loss on a GPU is counted on the device and thrown at the next download (a log
 * step, a validation, a checkpoint): the line the CPU path gives, with the steps it lies between.
 */
function translateDeviceLoss(e: unknown, checkedTo: number, saved: number, run: RunDir): unknown {
  const prefix = `${LOSS_CHECK.kernel}: ${LOSS_CHECK.what} has NaN/Inf`;
  if (!(e instanceof KernelError) || !e.message.startsWith(prefix)) return e;
  return new UserError(
    `loss became NaN or Inf after step ${checkedTo} (found on the GPU at a later log step); ` +
      `stopped. The last good checkpoint (step ${saved}) is in ${run.stateDir}`,
    3,
  );
}

/** The arena running out is a size the user chose: one line saying so (exit 2). */
function translateArenaError(e: unknown, rc: RunConfig): unknown {
  if (e instanceof KernelError && /^arena: out of WebGPU memory/.test(e.message)) {
    return new UserError(
      `this model does not fit what the WebGPU device binds at once at batches of ` +
        `${rc.train.batchSize}×${rc.model.nCtx} tokens (${e.message}): lower --batch or --n-ctx, ` +
        `or use --backend cpu`,
    );
  }
  if (e instanceof KernelError && /^arena: out of memory/.test(e.message)) {
    return new UserError(
      `this model does not fit the 2 GiB of WebAssembly memory at batches of ` +
        `${rc.train.batchSize}×${rc.model.nCtx} tokens (${e.message}): lower --batch or --n-ctx`,
    );
  }
  return e;
}

/** The default tokenizer for the embedded corpus; otherwise one trained on the run's data. */
export async function makeTokenizer(rc: RunConfig): Promise<Tokenizer> {
  if (rc.train.data === "corpus") {
    const def = loadDefaultTokenizer();
    if (def.vocabSize === rc.model.vocabSize) return def;
    return Tokenizer.train(corpusPrefix(TRAIN_SEED, DEFAULT_TRAIN_CHARS), rc.model.vocabSize);
  }
  const files = await loadPyFiles(rc.train.data);
  return Tokenizer.train(takeChars(files.train, DEFAULT_TRAIN_CHARS), rc.model.vocabSize);
}

async function makeSources(
  rc: RunConfig,
  tok: Tokenizer,
): Promise<{ train: TokenSource; val: TokenSource }> {
  if (rc.train.data === "corpus") {
    return {
      train: corpusSource(tok, (TRAIN_SEED + rc.train.seed) >>> 0),
      val: valSource(tok, null),
    };
  }
  const files = await loadPyFiles(rc.train.data);
  if (files.val.length === 0) {
    throw new UserError(`${rc.train.data}: too few .py files to hold out a validation split`);
  }
  return {
    train: filesSource(tok, files, "train", rc.train.seed),
    val: valSource(tok, files),
  };
}

function runConfigJson(rc: RunConfig, tok: Tokenizer) {
  return {
    format_version: FORMAT_VERSION,
    thinwire: VERSION,
    deno: Deno.version.deno,
    tokenizer: tok.name,
    model: rc.model,
    train: rc.train,
  };
}

function sparsityMetrics(be: ComputeBackend, model: Model): MetricsRow {
  const out: MetricsRow = {};
  let l0 = 0, l0NonEmbed = 0;
  const specs = model.layout.specs.filter((s) => s.name !== "bigram_table");
  const counts = tensorCounts(be, model, specs);
  specs.forEach((spec, i) => {
    const nnz = counts[i].nnz;
    l0 += nnz;
    if (spec.cls !== "embed") l0NonEmbed += nnz;
    if (spec.cls !== "dense") out[`L0/${spec.name}`] = nnz;
    if (spec.cls === "block") out[`alive_neurons/${spec.name}`] = counts[i].alive;
  });
  return { L0: l0, L0_non_embed: l0NonEmbed, ...out };
}

/**
 * Nonzeros of each tensor, and for block matrices the neurons with one. On a GPU the counts are
 * written to the arena by the device forms and read in one download, not one wait each.
 */
function tensorCounts(
  be: ComputeBackend,
  model: Model,
  specs: ParamSpec[],
): { nnz: number; alive: number }[] {
  const axisOf = (spec: ParamSpec) => spec.axis === "col" ? "col" as const : "row" as const;
  const dev = be.forms;
  if (!dev) {
    return specs.map((spec) => ({
      nnz: countNonzero(be, { w: model.ptr(spec), n: spec.size }),
      alive: spec.cls === "block"
        ? aliveNeurons(be, {
          w: model.ptr(spec),
          rows: spec.shape[0],
          cols: spec.shape[1],
          axis: axisOf(spec),
        })
        : 0,
    }));
  }
  const arena = be.arena, mark = arena.mark();
  try {
    const out = arena.allocBytes(8 * specs.length, "tensor counts");
    specs.forEach((spec, i) => {
      const w = model.ptr(spec);
      dev.countNonzero({ w, n: spec.size, out: out + 8 * i });
      if (spec.cls === "block") {
        const [rows, cols] = spec.shape;
        dev.aliveNeurons({ w, rows, cols, axis: axisOf(spec), out: out + 8 * i + 4 });
      }
    });
    be.download([out, 8 * specs.length]);
    const u = arena.u32(out, 2 * specs.length);
    return specs.map((_, i) => ({ nnz: u[2 * i], alive: u[2 * i + 1] }));
  } finally {
    arena.reset(mark);
  }
}

function formatCount(n: number): string {
  return n >= 1e6 ? (n / 1e6).toFixed(2) + "M" : n >= 1e3 ? (n / 1e3).toFixed(1) + "k" : `${n}`;
}

/**
 * Records in config.json that the run now has `to` steps, and under `extended` the checkpoint step
 * the schedule changed at: the config alone then says how the weights came about.
 */
async function recordExtension(run: RunDir, atStep: number, from: number, to: number) {
  const j = await run.readJson(run.config) as Record<string, unknown>;
  j.train = { ...(j.train as Record<string, unknown>), steps: to };
  const before = Array.isArray(j.extended) ? j.extended : [];
  j.extended = [...before, { at_step: atStep, from_steps: from, to_steps: to, thinwire: VERSION }];
  await writeAtomic(run.config, JSON.stringify(j, null, 2) + "\n");
}

function lossPlot(rows: MetricsRow[], rc: RunConfig): string {
  const pick = (k: string): [number, number][] =>
    rows.filter((r) => k in r).map((r) => [r.step, r[k]]);
  return plotSvg(`thinwire ${rc.train.dense ? "dense" : "sparse"} training`, [
    {
      ylabel: "cross-entropy (nats/token)",
      series: [
        { name: "train", color: "#1f77b4", points: pick("train/xent") },
        { name: "val", color: "#d62728", points: pick("val/xent") },
      ],
    },
    {
      ylabel: "L0 (nonzero weights)",
      series: [{ name: "L0", color: "#2ca02c", points: pick("L0") }],
    },
  ]);
}

function modelTensors(model: Model): NamedTensor[] {
  return model.layout.specs.map((s) => ({ name: s.name, shape: s.shape, data: model.weights(s) }));
}

/** Writes model.safetensors (reference names and layouts); returns its bytes. */
export async function saveModel(run: RunDir, model: Model, rc: RunConfig): Promise<Uint8Array> {
  model.be.download([model.params, 4 * model.storedFloats]);
  const bytes = encodeModelFile(modelTensors(model), rc.model);
  await writeAtomic(run.model, bytes);
  return bytes;
}

/**
 * The config a checkpoint belongs to, as its metadata records it: the run's config without the
 * step count, which `--resume --steps` may extend.
 */
function checkpointConfig(rc: RunConfig): string {
  const { steps: _, ...train } = rc.train;
  return JSON.stringify(
    { model: rc.model, train },
    (_k, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : 1))
        : v,
  );
}

async function saveCheckpoint(
  run: RunDir,
  rc: RunConfig,
  model: Model,
  adamM: number,
  adamV: number,
  step: number,
  source: TokenSource,
): Promise<void> {
  const n = model.layout.total;
  const arena = model.be.arena;
  model.be.download([model.params, 4 * n], [adamM, 4 * n], [adamV, 4 * n]);
  const bytes = encodeSafetensors([
    { name: "params", shape: [n], data: arena.f32(model.params, n) },
    { name: "adam_m", shape: [n], data: arena.f32(adamM, n) },
    { name: "adam_v", shape: [n], data: arena.f32(adamV, n) },
  ], {
    step: String(step),
    data_state: JSON.stringify(source.state()),
    config: checkpointConfig(rc),
  });
  await writeAtomic(run.checkpoint, bytes);
}

/**
 * Copies a checkpoint's weights and Adam moments into a model's buffers and returns its step.
 * `where` names the file in errors. The data position is the caller's (loadCheckpoint restores it).
 */
export function restoreTrainingState(
  f: SafetensorsFile,
  where: string,
  model: Model,
  adamM: number,
  adamV: number,
): number {
  const n = model.layout.total;
  const arena = model.be.arena;
  for (
    const [name, ptr] of [["params", model.params], ["adam_m", adamM], ["adam_v", adamV]] as const
  ) {
    const t = f.tensors.get(name);
    if (!t || t.data.length !== n) {
      throw new UserError(`${where}: tensor ${name} missing or of the wrong size`);
    }
    arena.f32(ptr, n).set(t.data);
    model.be.upload(ptr, 4 * n);
    // On the host copy (a host kernel on a GPU too).
    const bad = model.be.run("count_nonfinite", [ptr, n], 0);
    if (bad > 0) {
      throw new UserError(`${where}: tensor ${name} has ${bad} NaN/Inf value(s): not resumable`);
    }
  }
  return checkpointStep(f, where);
}

/** The step a checkpoint was saved at (`where` names the file in errors). */
export function checkpointStep(f: SafetensorsFile, where: string): number {
  const step = Number(f.metadata.step);
  if (!Number.isInteger(step) || step < 0) throw new UserError(`${where}: bad step`);
  return step;
}

/** A run's checkpoint (state/checkpoint.safetensors), read and decoded. */
export async function readCheckpoint(run: RunDir): Promise<SafetensorsFile> {
  if (!(await fileExists(run.checkpoint))) {
    throw new UserError(`${run.checkpoint}: no checkpoint to resume from`);
  }
  return decodeSafetensors(await readRegularFile(run.checkpoint), run.checkpoint);
}

async function loadCheckpoint(
  run: RunDir,
  rc: RunConfig,
  model: Model,
  adamM: number,
  adamV: number,
  source: TokenSource,
): Promise<number> {
  const f = await readCheckpoint(run);
  // Checkpoints written before the config was recorded in them carry none to compare.
  const saved = f.metadata.config;
  if (saved !== undefined && saved !== checkpointConfig(rc)) {
    throw new UserError(
      `${run.checkpoint}: was saved by a run with another config than ${run.config} ` +
        `(files from different runs?): not resumable`,
    );
  }
  const step = restoreTrainingState(f, run.checkpoint, model, adamM, adamV);
  try {
    source.restore(JSON.parse(f.metadata.data_state));
  } catch (e) {
    throw new UserError(`${run.checkpoint}: bad data state (${(e as Error).message})`);
  }
  return step;
}
