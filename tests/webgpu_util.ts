/**
 * Helpers of the WebGPU tests: a device or the one-line reason there is none, and a case runner
 * that runs one op three ways (the scalar twin, the CPU path's WASM kernel, the WebGPU kernel,
 * twice) and checks the GPU against the twin at a stated tolerance and against itself bit for bit.
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import { type GpuDevice, requestGpu } from "../src/backend/webgpu/device.ts";
import { UserError } from "../src/errors.ts";
import { GpuBackend } from "../src/backend/webgpu/gpu_backend.ts";
import { WebGpuBackend } from "../src/backend/webgpu/webgpu_backend.ts";
import type { ComputeBackend } from "../src/backend/backend.ts";

export type HostData = Float32Array | Int32Array | Uint8Array | Float64Array;
/** A twin's argument object: host arrays and numbers by name (each twin takes its own shape). */
// deno-lint-ignore no-explicit-any
export type Host = any;

/**
 * How close the GPU must be to the twin, per element: within `ulp` f32 ulps, or within
 * abs + rel·max(1, |twin|). Integer and byte outputs must be equal.
 */
export interface Tolerance {
  ulp?: number;
  rel?: number;
  abs?: number;
}

export interface KernelCase {
  /** What the report calls it (usually the op and the WASM kernel). */
  name: string;
  /** Buffers, by the names the op and the twin take. Uint8Array data lands at an odd offset. */
  data: Record<string, HostData>;
  /** Numbers passed to both as they are. */
  scalars?: Record<string, number>;
  /** The buffers compared afterwards. */
  outputs: string[];
  /** Runs the op on a backend with arena pointers (and the scalars). */
  op: (be: Backend, a: Record<string, number>) => void;
  /** The scalar twin on host copies (and the scalars); it changes its outputs in place. */
  twin: (h: Host) => void;
  tol: Tolerance;
}

export interface CaseReport {
  name: string;
  /** Largest distance from the twin: f32 ulps, and |Δ| / max(1, |twin|). */
  ulpTwin: number;
  relTwin: number;
  /** Largest f32 ulp distance from the CPU path's WASM kernel. */
  ulpCpu: number;
  /** Two GPU runs gave the same bits. */
  deterministic: boolean;
}

const SHARED = Symbol.for("thinwire.test.gpu");

/**
 * The one device every WebGPU test in this process uses (`deno test` runs the files in one
 * process): acquired once, never destroyed, so the suite creates no device after the first and
 * destroys none while the driver may still be tearing another down.
 */
export function sharedGpu(): Promise<GpuDevice> {
  const g = globalThis as unknown as Record<symbol, Promise<GpuDevice>>;
  g[SHARED] ??= requestGpu();
  return g[SHARED];
}

/**
 * Registers one Deno test that runs fn with a shared GpuBackend (all kernels compiled) and a
 * one-thread CPU backend; where no adapter exists, an ignored test whose name gives the reason.
 */
export async function gpuTest(
  name: string,
  fn: (t: Deno.TestContext, g: GpuBackend, cpu: Backend) => Promise<void>,
): Promise<void> {
  const why = await gpuUnavailableHere();
  if (why) {
    Deno.test({ name: `${name}: skipped, ${why}`, ignore: true, fn() {} });
    return;
  }
  Deno.test({
    name,
    // The device's worker threads and the CPU backend outlive single steps on purpose.
    sanitizeResources: false,
    sanitizeOps: false,
    async fn(t) {
      const g = await GpuBackend.create({ gpu: await sharedGpu() });
      const cpu = await Backend.create({ threads: 1 });
      try {
        await g.compile();
        await fn(t, g, cpu);
      } finally {
        // Nothing may still run on the device when it is destroyed (Deno's WebGPU has crashed
        // on that).
        await g.sync().catch(() => {});
        g.close();
        cpu.close();
      }
    },
  });
}

/**
 * The in-thread GpuBackend where the ops wrappers take a ComputeBackend: it records as one does,
 * but its download is asynchronous (these tests await it), so it is not one (the commands use
 * WebGpuBackend, which is).
 */
export function asBackend(g: GpuBackend): Backend {
  return g as unknown as Backend;
}

const SHARED_WEBGPU = Symbol.for("thinwire.test.webgpu");

/**
 * The one WebGpuBackend (device thread and all) the tests of this process share, never closed:
 * as sharedGpu, no device is destroyed while the suite runs. Each test allocates above an arena
 * mark and restores it (webgpuTest does).
 */
export function sharedWebGpu(): Promise<WebGpuBackend> {
  const g = globalThis as unknown as Record<symbol, Promise<WebGpuBackend>>;
  g[SHARED_WEBGPU] ??= WebGpuBackend.create();
  return g[SHARED_WEBGPU];
}

/**
 * Registers one Deno test that runs fn on the shared WebGpuBackend (what the commands compute
 * with), its arena restored afterwards; where no adapter exists, an ignored test whose name
 * gives the reason.
 */
export async function webgpuTest(
  name: string,
  fn: (t: Deno.TestContext, be: ComputeBackend & WebGpuBackend) => Promise<void>,
): Promise<void> {
  const why = await gpuUnavailableHere();
  if (why) {
    Deno.test({ name: `${name}: skipped, ${why}`, ignore: true, fn() {} });
    return;
  }
  Deno.test({
    name,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn(t) {
      const be = await sharedWebGpu();
      const mark = be.arena.mark();
      try {
        await fn(t, be);
      } finally {
        be.arena.restore(mark);
      }
    },
  });
}

/** Why no WebGPU test can run here (one line), or null. */
export async function gpuUnavailableHere(): Promise<string | null> {
  return await sharedGpu().then(
    () => null,
    (e) => (e instanceof UserError ? e.message : Promise.reject(e)),
  );
}

const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);

/** f32 bits as a signed position on the number line (+0 and −0 both 0). */
function ordinal(x: number): number {
  f32[0] = x;
  const b = u32[0];
  return b & 0x80000000 ? -(b & 0x7fffffff) : b;
}

/** Distance in f32 ulps (0 for equal values, NaN = NaN; Infinity for NaN against a number). */
export function ulpDistance(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  return Math.abs(ordinal(a) - ordinal(b));
}

function byteOffset(d: HostData): number {
  return d instanceof Uint8Array ? 1 : 0;
}

/** Allocates and fills each buffer in be's arena; returns pointers. */
function place(be: Backend | GpuBackend, data: Record<string, HostData>): Record<string, number> {
  const ptrs: Record<string, number> = {};
  for (const [name, d] of Object.entries(data)) {
    const off = byteOffset(d);
    const words = Math.ceil((d.byteLength + off) / 4) + 1;
    const t = be.arena.tensor([words], `test ${name}`);
    new Uint8Array(be.memory.buffer, t.ptr + off, d.byteLength).set(
      new Uint8Array(d.buffer, d.byteOffset, d.byteLength),
    );
    if (be instanceof GpuBackend) be.upload(t.ptr, 4 * words);
    ptrs[name] = t.ptr + off;
  }
  return ptrs;
}

function readBack(be: Backend | GpuBackend, ptr: number, like: HostData): HostData {
  const C = like.constructor as new (b: ArrayBuffer, o: number, n: number) => HostData;
  const view = new C(be.memory.buffer as ArrayBuffer, ptr, like.length);
  return view.slice();
}

function clone(data: Record<string, HostData>): Record<string, HostData> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.slice()]));
}

async function runGpu(g: GpuBackend, c: KernelCase): Promise<Record<string, HostData>> {
  const mark = g.arena.mark();
  try {
    const p = place(g, c.data);
    c.op(asBackend(g), { ...c.scalars, ...p });
    await g.download(...c.outputs.map((o) => [p[o], c.data[o].byteLength] as [number, number]));
    return Object.fromEntries(c.outputs.map((o) => [o, readBack(g, p[o], c.data[o])]));
  } finally {
    g.arena.reset(mark);
  }
}

function runCpu(cpu: Backend, c: KernelCase): Record<string, HostData> {
  const mark = cpu.arena.mark();
  try {
    const p = place(cpu, c.data);
    c.op(cpu, { ...c.scalars, ...p });
    return Object.fromEntries(c.outputs.map((o) => [o, readBack(cpu, p[o], c.data[o])]));
  } finally {
    cpu.arena.reset(mark);
  }
}

/** Largest distances of got from want: [ulp, rel]. Exact types must match exactly. */
function distance(got: HostData, want: HostData): [number, number] {
  if (!(got instanceof Float32Array)) {
    for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) return [Infinity, Infinity];
    return [0, 0];
  }
  let ulp = 0, rel = 0;
  for (let i = 0; i < got.length; i++) {
    ulp = Math.max(ulp, ulpDistance(got[i], want[i]));
    const d = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    rel = Math.max(rel, Number.isNaN(d) ? (ulpDistance(got[i], want[i]) ? Infinity : 0) : d);
  }
  return [ulp, rel];
}

function within(got: HostData, want: HostData, tol: Tolerance): number {
  for (let i = 0; i < got.length; i++) {
    const a = got[i], b = want[i];
    if (!(got instanceof Float32Array)) {
      if (a !== b) return i;
      continue;
    }
    if (ulpDistance(a, b) <= (tol.ulp ?? 0)) continue;
    if (Math.abs(a - b) <= (tol.abs ?? 0) + (tol.rel ?? 0) * Math.max(1, Math.abs(b))) continue;
    return i;
  }
  return -1;
}

function sameBits(a: HostData, b: HostData): boolean {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Runs a case: asserts GPU ≈ twin within c.tol and GPU run 1 ≡ run 2; returns the distances. */
export async function checkCase(g: GpuBackend, cpu: Backend, c: KernelCase): Promise<CaseReport> {
  const host = clone(c.data);
  c.twin({ ...c.scalars, ...host });
  const fromCpu = runCpu(cpu, c);
  const first = await runGpu(g, c);
  const second = await runGpu(g, c);
  let ulpTwin = 0, relTwin = 0, ulpCpu = 0, deterministic = true;
  for (const o of c.outputs) {
    const bad = within(first[o], host[o], c.tol);
    if (bad >= 0) {
      assert.fail(
        `${c.name}: ${o}[${bad}] = ${first[o][bad]} on the GPU, twin ${host[o][bad]} ` +
          `(tolerance ${JSON.stringify(c.tol)})`,
      );
    }
    const [u, r] = distance(first[o], host[o]);
    ulpTwin = Math.max(ulpTwin, u);
    relTwin = Math.max(relTwin, r);
    ulpCpu = Math.max(ulpCpu, distance(first[o], fromCpu[o])[0]);
    deterministic &&= sameBits(first[o], second[o]);
  }
  assert.ok(deterministic, `${c.name}: two GPU runs on the same inputs differ`);
  return { name: c.name, ulpTwin, relTwin, ulpCpu, deterministic };
}

/** Prints the distances when WEBGPU_REPORT is set (docs/webgpu.md's table comes from here). */
export function report(rows: CaseReport[]): void {
  let want = false;
  try {
    want = !!Deno.env.get("WEBGPU_REPORT");
  } catch {
    want = false;
  }
  if (!want) return;
  for (const r of rows) {
    const rel = r.relTwin === 0 ? "0" : r.relTwin.toExponential(1);
    console.log(
      `| ${r.name} | ${r.ulpTwin} | ${rel} | ${r.ulpCpu} | ${r.deterministic ? "yes" : "no"} |`,
    );
  }
}
