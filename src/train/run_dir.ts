/**
 * The run folder: the one module that knows its layout and writes it, always atomically
 * (temp file in the same folder, then rename), so a run killed at any moment leaves every file
 * either old or new, never half-written.
 *
 *   <run>/config.json          model + training config, tokenizer name, seed, versions
 *   <run>/model.safetensors    weights, reference names and [out,in] layouts
 *   <run>/tokenizer.json       the BPE tokenizer
 *   <run>/metrics.jsonl        one line per logged step
 *   <run>/loss.svg             training curves
 *   <run>/state/checkpoint.safetensors  params + Adam moments + step/data/RNG state, for --resume
 */
import { UserError } from "../errors.ts";
import type { ModelConfig } from "../model/config.ts";
import { type RunConfig, validateRunConfig } from "./config.ts";

export const FORMAT_VERSION = 1;

export class RunDir {
  constructor(readonly dir: string) {}

  get config(): string {
    return `${this.dir}/config.json`;
  }
  get model(): string {
    return `${this.dir}/model.safetensors`;
  }
  get tokenizer(): string {
    return `${this.dir}/tokenizer.json`;
  }
  get metrics(): string {
    return `${this.dir}/metrics.jsonl`;
  }
  get lossSvg(): string {
    return `${this.dir}/loss.svg`;
  }
  get stateDir(): string {
    return `${this.dir}/state`;
  }
  get checkpoint(): string {
    return `${this.dir}/state/checkpoint.safetensors`;
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
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

export { writeAtomic } from "../util/write_atomic.ts";

/** One row of metrics.jsonl: step plus whatever the trainer logged (train/xent, val/xent, L0…). */
export type MetricsRow = Record<string, number>;

export const MODEL_FIELDS: Record<keyof ModelConfig, "number" | "boolean"> = {
  vocabSize: "number",
  nLayer: "number",
  baseDModel: "number",
  baseDMlp: "number",
  ef: "number",
  dHead: "number",
  nCtx: "number",
  afrac: "number",
  sink: "boolean",
  bigram: "boolean",
  dPosEmb: "number",
};

/** Reads and validates config.json (format version, field types, value ranges). */
export async function readRunConfig(run: RunDir): Promise<RunConfig> {
  const j = await run.readJson(run.config) as Record<string, unknown> | null;
  const bad = (why: string): never => {
    throw new UserError(`${run.config}: ${why}`);
  };
  if (typeof j !== "object" || j === null || Array.isArray(j)) bad("not a JSON object");
  const cfg = j as Record<string, unknown>;
  if (cfg.format_version !== FORMAT_VERSION) {
    bad(
      `run folder format ${JSON.stringify(cfg.format_version ?? "unknown")} is not supported ` +
        `(this thinwire reads format ${FORMAT_VERSION})`,
    );
  }
  const model = cfg.model as Record<string, unknown> | undefined;
  const train = cfg.train as Record<string, unknown> | undefined;
  if (typeof model !== "object" || model === null) bad("missing the model section");
  if (typeof train !== "object" || train === null) bad("missing the train section");
  for (const [k, type] of Object.entries(MODEL_FIELDS)) {
    const actual = typeof model![k];
    if (actual !== type) {
      bad(`model.${k} must be a ${type}, got ${JSON.stringify(model![k])}`);
    }
  }
  // Run folders written before the sparse-gradient mode trained with the method's dense gradients.
  if (train!.denseGradEvery === undefined) train!.denseGradEvery = 1;
  const rc = { model, train } as unknown as RunConfig;
  try {
    validateRunConfig(rc);
  } catch (e) {
    if (e instanceof UserError) bad(e.message);
    throw e;
  }
  return rc;
}

/** metrics.jsonl rows; a missing file or a damaged line is skipped (metrics are informative). */
export async function readMetrics(run: RunDir): Promise<MetricsRow[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(run.metrics);
  } catch {
    return [];
  }
  const rows: MetricsRow[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line);
      if (typeof r === "object" && r !== null && typeof r.step === "number") rows.push(r);
    } catch {
      // A line cut by a crash: the rows before it are still good.
    }
  }
  return rows;
}
