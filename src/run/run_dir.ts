/**
 * The run folder on disk: the one module that reads and writes it. Layout and parsing live in
 * src/run/format.ts (pure, shared with the browser); this adds Deno's file system, always writing
 * atomically (temp file in the same folder, then rename), so a run killed at any moment leaves
 * every file either old or new, never half-written.
 */
import { Backend } from "../backend/backend.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { UserError } from "../errors.ts";
import { Model } from "../model/model.ts";
import type { NamedTensor } from "../model/safetensors.ts";
import type { RunConfig } from "../train/config.ts";
import { sha256Hex } from "../util/sha256.ts";
import { writeAtomic } from "../util/write_atomic.ts";
import { type Circuit, type CircuitSummary, parseCircuit, parseSummary } from "./circuit.ts";
import {
  circuitFile,
  configTokenizerName,
  encodeMeans,
  type MetricsRow,
  type NodeMeans,
  parseMeans,
  parseMetrics,
  parseModelFile,
  parseRunConfig,
  parseTokenizer,
  RUN_FILES,
} from "./format.ts";

export { writeAtomic };
export { FORMAT_VERSION, type MetricsRow, MODEL_FIELDS } from "./format.ts";

export class RunDir {
  constructor(readonly dir: string) {}

  #p(name: string): string {
    return `${this.dir}/${name}`;
  }
  get config(): string {
    return this.#p(RUN_FILES.config);
  }
  get model(): string {
    return this.#p(RUN_FILES.model);
  }
  get tokenizer(): string {
    return this.#p(RUN_FILES.tokenizer);
  }
  get metrics(): string {
    return this.#p(RUN_FILES.metrics);
  }
  get lossSvg(): string {
    return this.#p(RUN_FILES.lossSvg);
  }
  get stateDir(): string {
    return this.#p(RUN_FILES.stateDir);
  }
  get checkpoint(): string {
    return this.#p(RUN_FILES.checkpoint);
  }
  get means(): string {
    return this.#p(RUN_FILES.means);
  }
  get circuitsDir(): string {
    return this.#p(RUN_FILES.circuitsDir);
  }
  get summary(): string {
    return this.#p(RUN_FILES.summary);
  }
  circuit(task: string): string {
    return this.#p(circuitFile(task));
  }
  /** The run's name: the folder's last path component. */
  get name(): string {
    return this.dir.replace(/\/+$/, "").split("/").pop() || this.dir;
  }

  /** Creates the folder (and state/), failing with a one-line error if it cannot be written. */
  async create(): Promise<void> {
    try {
      await Deno.mkdir(this.stateDir, { recursive: true });
      const probe = `${this.dir}/.write-test-${Deno.pid}`;
      await Deno.writeFile(probe, new Uint8Array(0));
      await Deno.remove(probe);
    } catch (e) {
      throw new UserError(`cannot write to ${this.dir}: ${(e as Error).message.split("\n")[0]}`);
    }
  }

  /** True when the folder holds anything of a run. */
  async exists(): Promise<boolean> {
    for (const p of [this.config, this.checkpoint, this.model]) {
      if (await fileExists(p)) return true;
    }
    return false;
  }

  async readJson(path: string): Promise<unknown> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch {
      throw new UserError(`${path}: cannot be read`);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new UserError(`${path}: not valid JSON`);
    }
  }

  async readBytes(path: string): Promise<Uint8Array> {
    try {
      return await Deno.readFile(path);
    } catch (e) {
      throw new UserError(`${path}: cannot be read (${(e as Error).message.split("\n")[0]})`);
    }
  }
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads and validates config.json. */
export async function readRunConfig(run: RunDir): Promise<RunConfig> {
  return parseRunConfig(await run.readJson(run.config), run.config);
}

/** metrics.jsonl rows; a missing file gives none (metrics are informative). */
export async function readMetrics(run: RunDir): Promise<MetricsRow[]> {
  try {
    return parseMetrics(await Deno.readTextFile(run.metrics));
  } catch {
    return [];
  }
}

/**
 * Appends one row to metrics.jsonl as one line in one write: O(row) per logged step. A process
 * killed during the write leaves a torn last line, which readMetrics skips and a resume drops.
 */
export async function appendMetrics(run: RunDir, row: MetricsRow): Promise<void> {
  await Deno.writeTextFile(run.metrics, JSON.stringify(row) + "\n", { append: true });
}

/** Rewrites metrics.jsonl atomically with these rows (a new run; a resume dropping later rows). */
export async function writeMetrics(run: RunDir, rows: readonly MetricsRow[]): Promise<void> {
  await writeAtomic(run.metrics, rows.map((r) => JSON.stringify(r) + "\n").join(""));
}

/** The cached node means, or null when absent, damaged or computed with other weights. */
export async function readMeans(
  run: RunDir,
  nodes: number,
  weightsSha256: string,
): Promise<NodeMeans | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(run.means);
  } catch {
    return null;
  }
  return parseMeans(bytes, nodes, weightsSha256);
}

export async function writeMeans(run: RunDir, m: NodeMeans): Promise<void> {
  await writeAtomic(run.means, encodeMeans(m));
}

/** Reads and validates circuits/<task>.json; a missing one says which command makes it. */
export async function readCircuit(run: RunDir, task: string): Promise<Circuit> {
  const path = run.circuit(task);
  if (!(await fileExists(path))) {
    throw new UserError(
      `${path}: no circuit for ${task} yet (make it with: deno task prune --model ${run.dir} ` +
        `--task ${task})`,
    );
  }
  return parseCircuit(await run.readJson(path), path);
}

/**
 * Writes circuits/<task>.json, or <dir>/<task>.json when a folder is given (prune --out-dir:
 * circuits of other pruning seeds); returns the path.
 */
export async function writeCircuit(run: RunDir, c: Circuit, dir?: string): Promise<string> {
  const path = dir === undefined ? run.circuit(c.task) : `${dir}/${c.task}.json`;
  await Deno.mkdir(dir ?? run.circuitsDir, { recursive: true });
  await writeAtomic(path, JSON.stringify(c, null, 1) + "\n");
  return path;
}

export async function readSummary(run: RunDir): Promise<CircuitSummary> {
  return parseSummary(await run.readJson(run.summary), run.summary);
}

/** Writes circuits/summary.json, or <dir>/summary.json when a folder is given; returns the path. */
export async function writeSummary(run: RunDir, s: CircuitSummary, dir?: string): Promise<string> {
  const path = dir === undefined ? run.summary : `${dir}/summary.json`;
  await Deno.mkdir(dir ?? run.circuitsDir, { recursive: true });
  await writeAtomic(path, JSON.stringify(s, null, 1) + "\n");
  return path;
}

export interface LoadedRun {
  run: RunDir;
  rc: RunConfig;
  tokenizer: Tokenizer;
  be: Backend;
  /** The trained model, weights loaded and checked finite, sparse products chosen. */
  model: Model;
  /** SHA-256 of model.safetensors (hex): circuits and means name the weights they belong to. */
  weightsSha256: string;
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

/**
 * Opens a finished run folder for evaluation, pruning or viewing: config.json, tokenizer.json
 * and model.safetensors are read and cross-checked before any weight reaches the backend; every
 * problem a damaged or foreign folder can have is a one-line UserError that names the file.
 */
export async function loadRun(dir: string, opts: LoadOptions = {}): Promise<LoadedRun> {
  const run = new RunDir(dir.replace(/\/+$/, "") || "/");
  await checkFolder(run);
  const configJson = await run.readJson(run.config);
  const rc = parseRunConfig(configJson, run.config);
  const tokenizer = parseTokenizer(
    await run.readJson(run.tokenizer),
    rc,
    configTokenizerName(configJson),
    run.tokenizer,
  );
  const bytes = await run.readBytes(run.model);
  const tensors = parseModelFile(bytes, rc.model, run.model);
  const weightsSha256 = await sha256Hex(bytes);
  const metrics = await readMetrics(run);

  const be = opts.be ?? await Backend.create({ threads: opts.threads ?? 1 });
  try {
    const model = buildModel(be, rc, tensors, run.model);
    const close = () => {
      if (!opts.be) be.close();
    };
    return { run, rc, tokenizer, be, model, weightsSha256, metrics, close };
  } catch (e) {
    if (!opts.be) be.close();
    throw e;
  }
}

/**
 * The model of `rc` on `be` with the weights of a parsed model.safetensors (parseModelFile),
 * each tensor checked finite and the sparse products chosen. Pure over its inputs (the browser
 * viewer builds its model with it too); `where` names the file in errors.
 */
export function buildModel(
  be: Backend,
  rc: RunConfig,
  tensors: Map<string, NamedTensor>,
  where: string,
): Model {
  const model = new Model(be, rc.model);
  for (const spec of model.layout.specs) {
    model.view(spec).set(tensors.get(spec.name)!.data);
    const bad = be.run("count_nonfinite", [model.ptr(spec), spec.size], 0);
    if (bad > 0) {
      throw new UserError(
        `${where}: tensor ${spec.name} has ${bad} NaN/Inf value(s) of ${spec.size}`,
      );
    }
  }
  model.refresh(true);
  return model;
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
