/**
 * Opening a finished run folder (layout in src/train/run_dir.ts) for evaluation, pruning or
 * viewing: config.json, tokenizer.json and model.safetensors are read and cross-checked before
 * any weight reaches the backend, and every problem a damaged or foreign folder can have is a
 * one-line UserError that names the file.
 */
import { Backend } from "../backend/backend.ts";
import { Tokenizer } from "../data/tokenizer.ts";
import { UserError } from "../errors.ts";
import type { ModelConfig } from "../model/config.ts";
import { Model } from "../model/model.ts";
import { paramLayout } from "../model/params.ts";
import { decodeSafetensors, type NamedTensor } from "../model/safetensors.ts";
import type { RunConfig } from "../train/config.ts";
import {
  fileExists,
  type MetricsRow,
  MODEL_FIELDS,
  readMetrics,
  readRunConfig,
  RunDir,
} from "../train/run_dir.ts";
export type { MetricsRow } from "../train/run_dir.ts";

export interface LoadedRun {
  run: RunDir;
  rc: RunConfig;
  tokenizer: Tokenizer;
  be: Backend;
  /** The trained model, weights loaded and checked finite, sparse products chosen. */
  model: Model;
  /** metrics.jsonl rows in order ([] when the file is absent or unreadable). */
  metrics: MetricsRow[];
  /** Stops the backend's threads if loadRun created the backend. */
  close(): void;
}

export interface LoadOptions {
  /** Compute threads for a backend created here (default 1). */
  threads?: number;
  /** Use this backend instead of creating one (the caller closes it). */
  be?: Backend;
}

/** Opens a run folder; throws UserError (exit 2) naming the file for anything wrong with it. */
export async function loadRun(dir: string, opts: LoadOptions = {}): Promise<LoadedRun> {
  const run = new RunDir(dir.replace(/\/+$/, "") || "/");
  await checkFolder(run);
  const rc = await readRunConfig(run);
  const tokenizer = await readTokenizer(run, rc);
  const tensors = await readWeights(run, rc.model);
  const metrics = await readMetrics(run);

  const be = opts.be ?? await Backend.create({ threads: opts.threads ?? 1 });
  try {
    const model = new Model(be, rc.model);
    for (const spec of model.layout.specs) {
      model.view(spec).set(tensors.get(spec.name)!.data);
      const bad = be.run("count_nonfinite", [model.ptr(spec), spec.size], 0);
      if (bad > 0) {
        throw new UserError(
          `${run.model}: tensor ${spec.name} has ${bad} NaN/Inf value(s) of ${spec.size}`,
        );
      }
    }
    model.refresh(true);
    const close = () => {
      if (!opts.be) be.close();
    };
    return { run, rc, tokenizer, be, model, metrics, close };
  } catch (e) {
    if (!opts.be) be.close();
    throw e;
  }
}

async function checkFolder(run: RunDir): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(run.dir);
  } catch {
    throw new UserError(`${run.dir}: no such run folder`);
  }
  if (!info.isDirectory) throw new UserError(`${run.dir}: not a folder (give a run folder)`);
  const missing: string[] = [];
  for (const p of [run.config, run.tokenizer, run.model]) {
    if (!(await fileExists(p))) missing.push(p.slice(run.dir.length + 1));
  }
  if (missing.length === 0) return;
  let why = `not a finished run folder (missing ${missing.join(", ")})`;
  if (
    missing.length === 1 && missing[0] === "model.safetensors" && await fileExists(run.checkpoint)
  ) {
    why += "; training stopped before the end: finish it with `train --resume`";
  }
  throw new UserError(`${run.dir}: ${why}`);
}

async function readTokenizer(run: RunDir, rc: RunConfig): Promise<Tokenizer> {
  const json = await run.readJson(run.tokenizer);
  let tok: Tokenizer;
  try {
    tok = Tokenizer.fromJSON(json);
  } catch (e) {
    if (e instanceof UserError) {
      throw new UserError(`${run.tokenizer}: ${e.message.replace(/^tokenizer file: /, "")}`);
    }
    throw e;
  }
  if (tok.vocabSize !== rc.model.vocabSize) {
    throw new UserError(
      `${run.tokenizer}: has ${tok.vocabSize} tokens but config.json's model expects ` +
        `${rc.model.vocabSize}`,
    );
  }
  const named = (await run.readJson(run.config) as { tokenizer?: unknown }).tokenizer;
  if (typeof named === "string" && named !== tok.name) {
    throw new UserError(
      `${run.tokenizer}: is ${tok.name} but the model was trained with ${named}`,
    );
  }
  return tok;
}

/**
 * Reads model.safetensors and checks it holds exactly the tensors the config implies, each of the
 * right shape, and that its embedded config (if any) agrees with config.json.
 */
async function readWeights(run: RunDir, cfg: ModelConfig): Promise<Map<string, NamedTensor>> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(run.model);
  } catch (e) {
    throw new UserError(`${run.model}: cannot be read (${(e as Error).message.split("\n")[0]})`);
  }
  const f = decodeSafetensors(bytes, run.model);
  const bad = (why: string): never => {
    throw new UserError(`${run.model}: ${why}`);
  };
  const embedded = f.metadata.thinwire_config;
  if (embedded !== undefined) {
    let saved: Record<string, unknown> | null = null;
    try {
      saved = JSON.parse(embedded);
    } catch {
      bad("metadata thinwire_config is not valid JSON");
    }
    for (const k of Object.keys(MODEL_FIELDS) as (keyof ModelConfig)[]) {
      if (saved?.[k] !== cfg[k]) {
        bad(
          `saved with model.${k} = ${JSON.stringify(saved?.[k])} but config.json says ` +
            `${JSON.stringify(cfg[k])} (files from different runs?)`,
        );
      }
    }
  }
  const layout = paramLayout(cfg);
  const expected = new Set(layout.specs.map((s) => s.name));
  for (const spec of layout.specs) {
    const t = f.tensors.get(spec.name);
    if (!t) bad(`tensor ${spec.name} is missing (config.json implies it)`);
    if (t!.shape.length !== spec.shape.length || t!.shape.some((d, i) => d !== spec.shape[i])) {
      bad(
        `tensor ${spec.name} has shape [${t!.shape.join(", ")}], config.json implies ` +
          `[${spec.shape.join(", ")}]`,
      );
    }
  }
  const extra = [...f.tensors.keys()].filter((n) => !expected.has(n));
  if (extra.length > 0) {
    const names = extra.slice(0, 3).map((n) => JSON.stringify(n.slice(0, 80))).join(", ");
    bad(
      `unexpected tensor(s) ${names}${extra.length > 3 ? ` and ${extra.length - 3} more` : ""} ` +
        `that config.json does not imply`,
    );
  }
  return f.tensors;
}
