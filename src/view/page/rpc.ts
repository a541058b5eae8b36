/// <reference lib="dom" />
/**
 * The page's side of the model worker: typed calls that resolve with the worker's answer.
 * Calls are answered in order (the worker runs one at a time).
 */
import type { Circuit } from "../../run/circuit.ts";
import type { Engine } from "../engine.ts";
import type { Answer, InitArgs, InitInfo } from "./protocol.ts";

/** An error the worker reported: `user` marks the one-line messages a user can act on. */
export class WorkerError extends Error {
  constructor(message: string, readonly user: boolean, readonly cancelled = false) {
    super(message);
  }
}

/** Progress of a long call: phase name, units done, units in the phase (0: unknown). */
export type Progress = (phase: string, done: number, total: number) => void;

type Methods = Pick<
  Engine,
  | "setCircuit"
  | "evaluate"
  | "evaluateFull"
  | "nodeOnTask"
  | "nodeSnippets"
  | "attention"
  | "prompt"
  | "evalTask"
  | "edgesAmong"
  | "nodeMeanOf"
>;

export class ModelClient {
  #next = 1;
  #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; progress?: Progress }
  >();

  constructor(readonly worker: Worker) {
    worker.onmessage = (ev: MessageEvent<Answer>) => {
      const a = ev.data;
      const p = this.#pending.get(a.id);
      if (!p) return;
      if ("progress" in a) {
        p.progress?.(a.progress.phase, a.progress.done, a.progress.total);
        return;
      }
      this.#pending.delete(a.id);
      if (a.ok) p.resolve(a.result);
      else p.reject(new WorkerError(a.error, a.user, a.cancelled));
    };
    worker.onerror = (ev) => {
      ev.preventDefault();
      const err = new WorkerError(
        `the model worker failed: ${ev.message || "unknown error"}`,
        false,
      );
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    };
  }

  #call<T>(
    method: string,
    args: unknown[],
    transfer: Transferable[] = [],
    progress?: Progress,
  ): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, progress });
      this.worker.postMessage({ id, method, args }, transfer);
    });
  }

  init(a: InitArgs): Promise<InitInfo> {
    const t: Transferable[] = [a.files.model.buffer as ArrayBuffer];
    if (a.files.means) t.push(a.files.means.buffer as ArrayBuffer);
    return this.#call("init", [a], t);
  }

  /** Engine.subgraph, with its progress. */
  subgraph(ids: string[], which: string, progress: Progress): Promise<Circuit> {
    return this.#call("subgraph", [ids, which], [], progress);
  }

  call<K extends keyof Methods>(
    method: K,
    ...args: Parameters<Methods[K]>
  ): Promise<ReturnType<Methods[K]>> {
    return this.#call(method, args);
  }
}
