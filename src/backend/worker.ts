/**
 * A compute thread: instantiates the kernels over the shared memory, then waits on the control
 * block for work. Protocol (see Backend.run in backend.ts): ctrl[GEN] is bumped per job, ctrl[FN]
 * names the export, args live in a Float64Array; when done the worker increments ctrl[DONE] and
 * notifies.
 */
import { CTRL, instantiateKernels } from "./wasm.ts";

interface Init {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: SharedArrayBuffer;
  names: string[];
  tid: number;
  nth: number;
}

self.onmessage = async (e: MessageEvent<Init>) => {
  const { module, memory, ctrl, names, tid, nth } = e.data;
  const exports = await instantiateKernels(module, memory);
  const fns = names.map((n) => exports[n] as (...a: number[]) => number);
  const c = new Int32Array(ctrl, 0, CTRL.INTS);
  const args = new Float64Array(ctrl, CTRL.INTS * 4, CTRL.MAX_ARGS);
  // Read the generation before saying ready: the first job can only come after "ready".
  let seen = Atomics.load(c, CTRL.GEN);
  (self as unknown as Worker).postMessage("ready");
  // Let the event loop deliver "ready" before this thread blocks in Atomics.wait.
  await new Promise((r) => setTimeout(r, 0));
  for (;;) {
    // Spin briefly before sleeping: kernels come in quick succession during a training step.
    for (let spin = 0; spin < 20000 && Atomics.load(c, CTRL.GEN) === seen; spin++);
    Atomics.wait(c, CTRL.GEN, seen);
    seen = Atomics.load(c, CTRL.GEN);
    const fn = c[CTRL.FN];
    if (fn < 0) break;
    const n = c[CTRL.NARGS];
    const a = new Array<number>(n + 2);
    for (let i = 0; i < n; i++) a[i] = args[i];
    a[n] = tid;
    a[n + 1] = nth;
    try {
      fns[fn](...a);
    } catch (err) {
      c[CTRL.ERR] = 1;
      console.error(`worker ${tid}: ${names[fn]}: ${err}`);
    }
    Atomics.add(c, CTRL.DONE, 1);
    Atomics.notify(c, CTRL.DONE);
  }
  self.close();
};
