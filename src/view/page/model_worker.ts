/// <reference lib="webworker" />
/**
 * The page's model worker: holds the Engine (the model on the WASM kernels) off the page's main
 * thread, where Atomics.wait is not allowed, and answers the page's calls one at a time.
 */
import { UserError } from "../../errors.ts";
import { Cancelled, Engine } from "../engine.ts";
import type { Answer, Call, InitArgs, InitInfo } from "./protocol.ts";

let engine: Engine | null = null;

async function init(a: InitArgs): Promise<InitInfo> {
  engine?.close();
  engine = null;
  const e = await Engine.open(a.files, {
    wasm: a.wasm,
    threads: a.threads,
    shared: a.shared,
    workerUrl: a.workerUrl ?? undefined,
  });
  e.setCancelFlag(a.cancel ? new Int32Array(a.cancel) : null);
  engine = e;
  const d = e.model.d;
  return {
    threads: e.be.threads,
    shared: a.shared,
    weightsSha256: e.weightsSha256,
    nodes: e.model.nodes.total,
    dims: { L: d.L, C: d.C, M: d.M, H: d.H, D: d.D, V: d.V },
    nCtx: e.rc.model.nCtx,
    means: e.nodeMeans !== null,
  };
}

const METHODS = new Set([
  "setCircuit",
  "evaluate",
  "evaluateFull",
  "nodeOnTask",
  "nodeSnippets",
  "attention",
  "prompt",
  "evalTask",
  "edgesAmong",
  "nodeMeanOf",
]);

const post = (a: Answer) => (self as unknown as Worker).postMessage(a);

self.onmessage = async (ev: MessageEvent<Call>) => {
  const { id, method, args } = ev.data;
  let answer: Answer;
  try {
    let result: unknown;
    if (method === "init") result = await init(args[0] as InitArgs);
    else if (method === "subgraph") {
      if (!engine) throw new Error("the model is not loaded");
      const [ids, which] = args as [string[], string];
      result = engine.subgraph(ids, which, (phase, done, total) => {
        post({ id, progress: { phase, done, total } });
      });
    } else {
      if (!engine) throw new Error("the model is not loaded");
      if (!METHODS.has(method)) throw new Error(`no method ${method}`);
      const fn = (engine as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
      result = await fn.apply(engine, args);
    }
    answer = { id, ok: true, result };
  } catch (e) {
    const user = e instanceof UserError, cancelled = e instanceof Cancelled;
    const msg = e instanceof Error
      ? (user || cancelled ? e.message : `${e.name}: ${e.message}`)
      : String(e);
    if (!user && !cancelled) console.error(e);
    answer = { id, ok: false, error: msg, user, cancelled };
  }
  post(answer);
};
