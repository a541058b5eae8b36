/**
 * Messages between the page and its model worker: a call names an Engine method with its
 * arguments; the answer carries the result or an error message (user errors are the one-line
 * messages the CLI prints too).
 */
import type { ViewFiles } from "../engine.ts";

export interface InitArgs {
  files: ViewFiles;
  wasm: Uint8Array;
  threads: number;
  shared: boolean;
  /** Script URL of the backend's compute threads (threads > 1). */
  workerUrl: string | null;
  /**
   * One Int32 the page bumps on every toggle (shared memory, where the page is isolated): an
   * evaluation asked for with an older generation stops between batches. Null: never stops.
   */
  cancel: SharedArrayBuffer | null;
}

export interface InitInfo {
  threads: number;
  shared: boolean;
  weightsSha256: string;
  nodes: number;
  dims: { L: number; C: number; M: number; H: number; D: number; V: number };
  nCtx: number;
  /** True when means.safetensors was present and matched the weights. */
  means: boolean;
}

export interface Call {
  id: number;
  method: string;
  args: unknown[];
}

export type Answer =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string; user: boolean; cancelled: boolean }
  | { id: number; progress: { phase: string; done: number; total: number } };
