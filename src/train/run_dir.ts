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

/** Writes a file atomically: temp file beside it, fsync, rename. */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const tmp = `${path}.${Deno.pid}.tmp`;
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    let off = 0;
    while (off < bytes.length) off += await f.write(bytes.subarray(off));
    await f.sync();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, path);
}
