/**
 * The run folder on disk: the one module that reads and writes it. Layout and parsing live in
 * src/run/format.ts (pure, shared with the browser); this adds Deno's file system, always writing
 * atomically (temp file in the same folder, then rename), so a run killed at any moment leaves
 * every file either old or new, never half-written.
 */
import type { ComputeBackend } from "../backend/backend.ts";
import { type ComputeOptions, createBackend, isBackend } from "../backend/create.ts";
import { UserError } from "../errors.ts";
import { writeAtomic } from "../util/write_atomic.ts";
import type { ModelConfig } from "../model/config.ts";
import {
  checkCircuitFits,
  type Circuit,
  type CircuitSummary,
  parseCircuit,
  parseSummary,
} from "./circuit.ts";
import { parseRunConfig, type RunConfig } from "./config.ts";
import {
  circuitFile,
  encodeMeans,
  type MetricsRow,
  type NodeMeans,
  parseMeans,
  parseMetrics,
  RUN_FILES,
} from "./format.ts";
import { type OpenRun, openRun, type RunFiles, runName } from "./open.ts";

export { writeAtomic };
export type { MetricsRow };

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
    return runName(this.dir);
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

  /**
   * Takes the folder's lock (the file `.lock` in it, which the folder must hold or be able to
   * take): one process trains or resumes a run at a time. The lock goes with the process, killed
   * or not; `release()` drops it sooner. A run locked by another process is a one-line UserError.
   */
  async lock(): Promise<{ release(): void }> {
    const path = `${this.dir}/.lock`;
    let f: Deno.FsFile;
    try {
      f = await Deno.open(path, { read: true, write: true, create: true });
    } catch (e) {
      throw new UserError(`cannot write to ${this.dir}: ${(e as Error).message.split("\n")[0]}`);
    }
    if (!(await f.tryLock(true))) {
      f.close();
      throw new UserError(`${this.dir}: another process is training this run (${path} is locked)`);
    }
    return {
      release: () => {
        try {
          f.close();
        } catch {
          // Already closed.
        }
      },
    };
  }

  /** True when the folder holds anything of a run. */
  async exists(): Promise<boolean> {
    for (const p of [this.config, this.checkpoint, this.model]) {
      if (await fileExists(p)) return true;
    }
    return false;
  }

  async readJson(path: string): Promise<unknown> {
    const text = new TextDecoder().decode(await this.readBytes(path));
    try {
      return JSON.parse(text);
    } catch {
      throw new UserError(`${path}: not valid JSON`);
    }
  }

  async readBytes(path: string): Promise<Uint8Array> {
    return await readRegularFile(path);
  }
}

/**
 * A regular file's bytes. Anything else (a folder, a FIFO that would block the read forever, a
 * device) is a one-line UserError, as is a file that cannot be read.
 */
export async function readRegularFile(path: string): Promise<Uint8Array> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new UserError(`${path}: cannot be read (${(e as Error).message.split("\n")[0]})`);
  }
  if (!info.isFile) {
    throw new UserError(
      `${path}: not a regular file (${info.isDirectory ? "a folder" : "a device or pipe"})`,
    );
  }
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new UserError(`${path}: cannot be read (${(e as Error).message.split("\n")[0]})`);
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

/**
 * Reads and validates circuits/<task>.json against the run's model config; a missing one says
 * which command makes it.
 */
export async function readCircuit(run: RunDir, task: string, cfg: ModelConfig): Promise<Circuit> {
  const path = run.circuit(task);
  if (!(await fileExists(path))) {
    throw new UserError(
      `${path}: no circuit for ${task} yet (make it with: deno task prune --model ${run.dir} ` +
        `--task ${task})`,
    );
  }
  const c = parseCircuit(await run.readJson(path), path);
  checkCircuitFits(c, cfg, task, path);
  return c;
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

/** A run opened from its folder: OpenRun plus the folder and its training metrics. */
export interface LoadedRun extends OpenRun {
  dir: RunDir;
  /** metrics.jsonl rows in order ([] when the file is absent or unreadable). */
  metrics: MetricsRow[];
}

/**
 * Opens a finished run folder for evaluation, pruning or viewing (src/run/open.ts on the folder's
 * files); every problem a damaged or foreign folder can have is a one-line UserError that names
 * the file. `backend`: one to use (the caller closes it), or the options of one to create
 * (`backend: "webgpu"` for the GPU; default: a new one-thread CPU backend), closed by the
 * result's close().
 */
export async function loadRun(
  dir: string,
  backend: ComputeBackend | ComputeOptions = {},
): Promise<LoadedRun> {
  const run = new RunDir(dir.replace(/\/+$/, "") || "/");
  await checkFolder(run);
  const files: RunFiles = {
    run: run.dir,
    config: await run.readJson(run.config),
    tokenizer: await run.readJson(run.tokenizer),
    model: await run.readBytes(run.model),
  };
  const metrics = await readMetrics(run);
  // The files are read before a device is acquired.
  const be = isBackend(backend) ? backend : await createBackend(backend);
  try {
    const r = await openRun(files, be);
    const close = () => {
      if (!isBackend(backend)) be.close();
    };
    return { ...r, close, dir: run, metrics };
  } catch (e) {
    if (!isBackend(backend)) be.close();
    throw e;
  }
}

/** The run folder exists and is a folder (one line otherwise). */
export async function checkIsFolder(run: RunDir): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(run.dir);
  } catch {
    throw new UserError(`${run.dir}: no such run folder`);
  }
  if (!info.isDirectory) throw new UserError(`${run.dir}: not a folder (give a run folder)`);
}

async function checkFolder(run: RunDir): Promise<void> {
  await checkIsFolder(run);
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
