/**
 * Worker for bench/peers.ts timeOrtMatMul: starts onnxruntime-web's wasm backend with the
 * requested thread count (fixed once per realm, hence a worker per count), times a one-node
 * MatMul model at each shape and posts back GFLOP/s per shape, or an error string.
 */
/// <reference lib="deno.worker" />
import { onnxMatMulModel } from "./peers.ts";
import { benchData, why } from "./util.ts";

interface Request {
  threads: number;
  shapes: [number, number, number][];
  reps: number;
  wasmPaths: string;
}

self.onmessage = async (e: MessageEvent<Request>) => {
  const { threads, shapes, reps, wasmPaths } = e.data;
  const post = (msg: unknown) => self.postMessage(msg);
  let ort: typeof import("onnxruntime-web");
  try {
    ort = await import("onnxruntime-web");
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.wasmPaths = wasmPaths;
  } catch (err) {
    post(why(err));
    return;
  }
  const results: (number | string)[] = [];
  for (const [M, N, K] of shapes) {
    try {
      const session = await ort.InferenceSession.create(onnxMatMulModel(M, N, K), {
        executionProviders: ["wasm"],
        intraOpNumThreads: threads,
      });
      const feeds = {
        A: new ort.Tensor("float32", benchData(M * K, 1), [M, K]),
        B: new ort.Tensor("float32", benchData(K * N, 2), [K, N]),
      };
      let best = 0;
      for (let r = 0; r <= reps; r++) {
        const t0 = performance.now();
        const out = await session.run(feeds);
        const ms = performance.now() - t0;
        out.C.dispose();
        if (r > 0) best = Math.max(best, (2 * M * N * K) / ms / 1e6);
      }
      await session.release();
      results.push(best);
    } catch (err) {
      results.push(why(err));
    }
  }
  post(results);
};
