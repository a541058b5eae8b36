/**
 * A run opened from its files' bytes: config, tokenizer and weights parsed and cross-checked
 * (src/run/format.ts), the model built on a backend, the weights' SHA-256. No file system: the
 * CLI reads a folder into RunFiles (src/run/run_dir.ts `loadRun`), the browser viewer fetches
 * them (src/view/engine.ts), and an importer can convert another program's checkpoint into them.
 */
import { ARENA_BASE } from "../backend/arena.ts";
import { Backend, type BackendOptions, type ComputeBackend } from "../backend/backend.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { UserError } from "../errors.ts";
import {
  ARENA_BYTES,
  formatBytes,
  inferenceBytes,
  openedWeightBytes,
  rowsPerPass,
} from "../model/memory.ts";
import type { ModelConfig } from "../model/config.ts";
import { SPARSE_DENSITY } from "../model/linear.ts";
import { Model } from "../model/model.ts";
import { linearWeights, paramLayout, type ParamSpec } from "../model/params.ts";
import type { NamedTensor } from "../model/safetensors.ts";
import { sha256Hex } from "../util/sha256.ts";
import { parseRunConfig, type RunConfig } from "./config.ts";
import { configTokenizerName, parseModelFile, parseTokenizer, RUN_FILES } from "./format.ts";

/** The files a run is opened from. */
export interface RunFiles {
  /** The run folder as messages name it (`runs/small-s1`); its last component is the name. */
  run: string;
  /** config.json, parsed. */
  config: unknown;
  /** tokenizer.json, parsed. */
  tokenizer: unknown;
  /** model.safetensors. */
  model: Uint8Array;
}

/** A run ready to compute with. */
export interface OpenRun {
  /** The run's name: the folder's last path component (circuit files record it). */
  name: string;
  /** The folder as messages name it. */
  path: string;
  rc: RunConfig;
  tokenizer: Tokenizer;
  be: ComputeBackend;
  /** The trained model, weights loaded and checked finite, sparse products chosen. */
  model: Model;
  /** SHA-256 of model.safetensors (hex): circuits and means name the weights they belong to. */
  weightsSha256: string;
  /** Releases the backend (its threads, its device) if the opener created it. */
  close(): void;
}

/**
 * Tokens one forward pass of the run's model takes (rows of n_ctx): the batch it was trained
 * with, or fewer where the WebAssembly memory left after the model holds fewer (src/model/memory.ts).
 * `withRaw`: passes under an ablation that keeps copies for a mask gradient (pruning).
 */
export function passTokens(r: OpenRun, withRaw: boolean): number {
  const T = r.rc.model.nCtx;
  return rowsPerPass(r.model, T, r.rc.train.batchSize, withRaw) * T;
}

/** The name of a run folder: its last path component. */
export function runName(path: string): string {
  return path.replace(/\/+$/, "").split("/").pop() || path;
}

/**
 * Opens a run from its files: config.json, tokenizer.json and model.safetensors are checked
 * against each other before any weight reaches the backend; every problem is a one-line
 * UserError naming the file. `backend`: one to use (the caller closes it), or the options of
 * one to create (closed by the result's close()).
 */
export async function openRun(
  files: RunFiles,
  backend: ComputeBackend | BackendOptions = {},
): Promise<OpenRun> {
  const { rc, tokenizer, tensors } = parseRunFiles(files);
  const given = typeof (backend as ComputeBackend).run === "function";
  // Backend.create makes the CPU's, which has sparse products.
  const sparse = given ? (backend as ComputeBackend).sparseProducts : true;
  const packed = packedNonzeros(sparse, rc.model, tensors);
  const need = inferenceBytes(rc.model, 1, openedWeightBytes(rc.model, packed));
  if (need > ARENA_BYTES) {
    throw new UserError(
      `${files.run}: this model needs ${formatBytes(need)} of WebAssembly memory to run one ` +
        `sequence of ${rc.model.nCtx} tokens, which holds ${formatBytes(ARENA_BYTES)}`,
    );
  }
  const where = (f: string) => `${files.run}/${f}`;
  const weightsSha256 = await sha256Hex(files.model);
  const owned = !given;
  const be = given ? backend as ComputeBackend : await Backend.create(backend as BackendOptions);
  try {
    checkDeviceFits(be, need, files.run, rc.model.nCtx);
    const model = buildModel(be, rc, tensors, where(RUN_FILES.model), packed);
    return {
      name: runName(files.run),
      path: files.run,
      rc,
      tokenizer,
      be,
      model,
      weightsSha256,
      close: () => {
        if (owned) be.close();
      },
    };
  } catch (e) {
    if (owned) be.close();
    throw e;
  }
}

/**
 * A GPU's arena is capped by what the device binds at once (docs/webgpu.md): a model that needs
 * more is refused in one line naming the limit, before any weight is uploaded.
 */
export function checkDeviceFits(be: ComputeBackend, need: number, run: string, T: number): void {
  const room = be.arena.maxBytes - ARENA_BASE;
  if (be.kind === "cpu" || need <= room) return;
  throw new UserError(
    `${run}: this model needs ${formatBytes(need)} of GPU memory to run one sequence of ${T} ` +
      `tokens, and this WebGPU device binds ${formatBytes(room)} at once ` +
      `(maxStorageBufferBindingSize): use --backend cpu`,
  );
}

/** The files parsed and checked against each other (what openRun does before any computing). */
export function parseRunFiles(
  files: RunFiles,
): { rc: RunConfig; tokenizer: Tokenizer; tensors: Map<string, NamedTensor> } {
  const where = (f: string) => `${files.run}/${f}`;
  const rc = parseRunConfig(files.config, where(RUN_FILES.config));
  const tokenizer = parseTokenizer(
    files.tokenizer,
    rc,
    configTokenizerName(files.config),
    where(RUN_FILES.tokenizer),
  );
  const tensors = parseModelFile(files.model, rc.model, where(RUN_FILES.model));
  return { rc, tokenizer, tensors };
}

/**
 * The model of `rc` on `be` with the weights of a parsed model.safetensors (parseModelFile),
 * each tensor checked finite and the sparse products chosen; `where` names the file in errors.
 */
export function buildModel(
  be: ComputeBackend,
  rc: RunConfig,
  tensors: Map<string, NamedTensor>,
  where: string,
  nonzeros = packedNonzeros(be.sparseProducts, rc.model, tensors),
): Model {
  if (nonzeros.size > 0 && !be.sparseProducts) {
    throw new Error("buildModel: packed weights need a backend with sparse products");
  }
  const model = new Model(be, rc.model, { training: false, packed: new Set(nonzeros.keys()) });
  // On the host copy, where the weights were just written (a host kernel on a GPU too).
  const check = (spec: ParamSpec) => (ptr: number) => {
    const bad = be.run("count_nonfinite", [ptr, spec.size], 0);
    if (bad > 0) {
      throw new UserError(
        `${where}: tensor ${spec.name} has ${bad} NaN/Inf value(s) of ${spec.size}`,
      );
    }
  };
  for (const spec of model.layout.specs) {
    const data = tensors.get(spec.name)!.data, nnz = nonzeros.get(spec.name);
    if (nnz !== undefined) {
      model.pack(spec, data, nnz, check(spec));
    } else {
      model.view(spec).set(data);
      check(spec)(model.ptr(spec));
    }
  }
  be.upload(model.params, 4 * model.storedFloats);
  model.refresh(true);
  return model;
}

/**
 * The linear weights an opened model keeps packed, with their nonzero counts: those its products
 * would take sparse anyway (Linear.refresh: fewer than SPARSE_DENSITY of the entries nonzero, on
 * a backend with sparse products, the CPU's), whose compressed forms then are the whole weight.
 */
export function packedNonzeros(
  sparseProducts: boolean,
  cfg: ModelConfig,
  tensors: Map<string, NamedTensor>,
): Map<string, number> {
  const out = new Map<string, number>();
  if (!sparseProducts) return out;
  for (const spec of linearWeights(paramLayout(cfg))) {
    const data = tensors.get(spec.name)!.data;
    let nnz = 0;
    for (let i = 0; i < data.length; i++) if (data[i] !== 0) nnz++;
    if (nnz < SPARSE_DENSITY * spec.size) out.set(spec.name, nnz);
  }
  return out;
}
