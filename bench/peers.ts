/**
 * Other matrix multiplies to compare thinwire's GEMM with, all on the CPU through WebAssembly or
 * plain JS: TensorFlow.js's wasm backend (XNNPACK kernels), onnxruntime-web's wasm backend (MLAS
 * kernels) and a plain TypeScript loop. Where a peer cannot start, a string says why (the bench
 * prints it and goes on).
 *
 * Conventions as in src/backend/ops/gemm.ts: C[M,N] = op(A)[M,K] · op(B)[K,N], row-major f32;
 * transA means A is stored [K,M], transB means B is stored [N,K].
 */
import { benchData, why } from "./util.ts";

export interface MatMulPeer {
  readonly name: string;
  /** Prepares inputs of this shape and returns a function running one multiply. */
  prepare(
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
  ): Promise<{ run: () => Promise<void>; dispose: () => void }>;
  close(): Promise<void>;
}

// The peers are pinned in bench/bench.json, not deno.json, so that only the benchmark installs
// them: Deno installs them into bench/node_modules, beside that config.
const nodeModules = new URL("./node_modules/", import.meta.url);

/** TensorFlow.js with @tensorflow/tfjs-backend-wasm (XNNPACK), one thread, SIMD build. */
export async function startTfjs(): Promise<MatMulPeer | string> {
  try {
    const tf = await import("@tensorflow/tfjs-core");
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    wasm.setWasmPaths(new URL("@tensorflow/tfjs-backend-wasm/dist/", nodeModules).pathname);
    // Its threaded build expects a browser's cross-origin isolation and does not start here.
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    if (!(await tf.setBackend("wasm"))) return "tf.setBackend('wasm') returned false";
    return {
      name: "tfjs-backend-wasm",
      prepare(M, N, K, transA, transB) {
        const a = tf.tensor2d(benchData(M * K, 1), transA ? [K, M] : [M, K]);
        const b = tf.tensor2d(benchData(K * N, 2), transB ? [N, K] : [K, N]);
        return Promise.resolve({
          // The wasm backend computes synchronously inside matMul.
          run: () => {
            tf.matMul(a, b, transA, transB).dispose();
            return Promise.resolve();
          },
          dispose: () => {
            a.dispose();
            b.dispose();
          },
        });
      },
      close: () => Promise.resolve(),
    };
  } catch (e) {
    return why(e);
  }
}

/** A protobuf field: varint (wire type 0) or length-delimited bytes (wire type 2). */
function pbVarint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const pbInt = (field: number, v: number) => [...pbVarint(field * 8), ...pbVarint(v)];
const pbBytes = (field: number, ...parts: number[][]) => {
  const body = parts.flat();
  return [...pbVarint(field * 8 + 2), ...pbVarint(body.length), ...body];
};
const pbString = (field: number, s: string) => pbBytes(field, [...new TextEncoder().encode(s)]);

/**
 * An ONNX model (protobuf bytes) with one MatMul node C = A · B, A [M,K], B [K,N], float32.
 * Field numbers from onnx.proto: ModelProto{ir_version 1, graph 7, opset_import 8},
 * GraphProto{node 1, name 2, input 11, output 12}, NodeProto{input 1, output 2, op_type 4},
 * ValueInfoProto{name 1, type 2}, TypeProto{tensor_type 1}, Tensor{elem_type 1, shape 2},
 * TensorShapeProto{dim 1}, Dimension{dim_value 1}.
 */
export function onnxMatMulModel(M: number, N: number, K: number): Uint8Array {
  const FLOAT = 1;
  const value = (field: number, name: string, dims: number[]) =>
    pbBytes(
      field,
      pbString(1, name),
      pbBytes(
        2,
        pbBytes(
          1,
          pbInt(1, FLOAT),
          pbBytes(2, ...dims.map((d) => pbBytes(1, pbInt(1, d)))),
        ),
      ),
    );
  const node = pbBytes(
    1,
    pbString(1, "A"),
    pbString(1, "B"),
    pbString(2, "C"),
    pbString(4, "MatMul"),
  );
  const graph = pbBytes(
    7,
    node,
    pbString(2, "matmul"),
    value(11, "A", [M, K]),
    value(11, "B", [K, N]),
    value(12, "C", [M, N]),
  );
  return new Uint8Array([...pbInt(1, 8), ...graph, ...pbBytes(8, pbString(1, ""), pbInt(2, 13))]);
}

/**
 * onnxruntime-web's wasm backend (MLAS kernels) running one MatMul node C = A·B, A [M,K] and
 * B [K,N], with `threads` threads: GFLOP/s per shape (best of `reps` runs after one untimed run,
 * including ORT's copies of the inputs and output), or why it failed. Its wasm module takes its
 * thread count once per JS realm, so each call runs in a fresh worker (bench/ort_worker.ts);
 * ending the worker also stops ORT's thread pool.
 */
export async function timeOrtMatMul(
  threads: number,
  shapes: readonly (readonly [number, number, number])[],
  reps: number,
): Promise<(number | string)[] | string> {
  const worker = new Worker(new URL("./ort_worker.ts", import.meta.url), { type: "module" });
  try {
    return await new Promise((resolve) => {
      worker.onmessage = (e: MessageEvent<(number | string)[] | string>) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        resolve(e.message);
      };
      worker.postMessage({
        threads,
        shapes,
        reps,
        wasmPaths: new URL("onnxruntime-web/dist/", nodeModules).href,
      });
    });
  } finally {
    worker.terminate();
  }
}

/** C = A · B (A [M,K], B [K,N]) as a plain TypeScript i-k-j loop over Float32Arrays. */
export function plainMatMul(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  M: number,
  N: number,
  K: number,
): void {
  c.fill(0);
  for (let i = 0; i < M; i++) {
    const ci = i * N;
    for (let k = 0; k < K; k++) {
      const aik = a[i * K + k], bk = k * N;
      for (let j = 0; j < N; j++) c[ci + j] += aik * b[bk + j];
    }
  }
}

/** The plain loop as a peer (untransposed shapes only). */
export function plainPeer(): MatMulPeer {
  return {
    name: "plain TypeScript",
    prepare(M, N, K, transA, transB) {
      if (transA || transB) throw new Error("plain loop peer: plain shapes only");
      const a = benchData(M * K, 1), b = benchData(K * N, 2), c = new Float32Array(M * N);
      return Promise.resolve({
        run: () => {
          plainMatMul(a, b, c, M, N, K);
          return Promise.resolve();
        },
        dispose: () => {},
      });
    },
    close: () => Promise.resolve(),
  };
}
