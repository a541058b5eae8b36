/**
 * How a WGSL kernel is described (one spec per WASM kernel it stands in for) and the shader text
 * every kernel shares.
 *
 * Memory model: the whole arena is one storage buffer bound as `mem: array<u32>`, addressed with
 * the CPU arena's byte offsets. f32 and i32 pointer arguments reach the shader as word indices
 * (ptr / 4), u8 pointers (AbsTopK masks) as byte offsets; `ldf/stf/ldi/ldb` read and write
 * through bitcasts. Scalars travel in a small uniform block per dispatch (`a.<name>`).
 */

/**
 * Argument kinds: p = 4-byte-aligned pointer (word index in WGSL), b = byte pointer (u8 data),
 * u = u32, i = i32, f = f32 (JS numbers are rounded to f32), x = ignored (the WASM kernels'
 * per-thread scratch pointers, which the GPU does not need).
 */
export type ArgKind = "p" | "b" | "u" | "i" | "f" | "x";

/** Arguments by name, as the caller of Backend.run passed them (pointers in bytes). */
export type KernelArgs = Record<string, number>;

/** One compute dispatch of a kernel: its entry point and workgroup counts. */
export interface KernelPass {
  entry: string;
  grid: (a: KernelArgs) => readonly number[];
}

/** A GPU kernel that stands behind one WASM kernel name of Backend.run. */
export interface GpuKernelSpec {
  /** The WASM export it replaces. */
  name: string;
  /** Its arguments in Backend.run's order: "name:kind" separated by spaces. */
  args: string;
  /** Extra uniforms computed on the host ("name:kind …" and their values), e.g. Adam's bias corrections. */
  derived?: { decl: string; values: (a: KernelArgs) => number[] };
  /** Bytes of arena scratch the backend lends the call; its word index is `a.scr`. */
  scratch?: (a: KernelArgs) => number;
  /** WGSL: helpers and the entry points the passes name (the shared prelude is added). */
  code: string;
  /** Dispatches, in order; none for a query kernel that only returns `result`. */
  passes: KernelPass[];
  /** run()'s return value, computed on the host (scratch sizes); 0 when absent. */
  result?: (a: KernelArgs) => number;
  /** Skip the call when this returns true (empty shapes). */
  skip?: (a: KernelArgs) => boolean;
}

/** A parsed argument list. */
export interface ArgLayout {
  names: string[];
  kinds: ArgKind[];
}

export function parseArgs(decl: string): ArgLayout {
  const names: string[] = [], kinds: ArgKind[] = [];
  for (const part of decl.trim().split(/\s+/).filter((s) => s)) {
    const [name, kind] = part.split(":");
    if (!name || !"pbuifx".includes(kind) || kind.length !== 1) {
      throw new Error(`bad kernel argument "${part}" in "${decl}"`);
    }
    names.push(name);
    kinds.push(kind as ArgKind);
  }
  return { names, kinds };
}

const WGSL_TYPE: Record<ArgKind, string> = {
  p: "u32",
  b: "u32",
  u: "u32",
  i: "i32",
  f: "f32",
  x: "",
};

/** The uniform struct of a kernel: its non-ignored arguments, derived values, then `scr`. */
export function argsStruct(args: ArgLayout, derived: ArgLayout | null, scratch: boolean): string {
  const fields: string[] = [];
  const add = (l: ArgLayout) =>
    l.names.forEach((n, i) => {
      if (l.kinds[i] !== "x") fields.push(`  ${n}: ${WGSL_TYPE[l.kinds[i]]},`);
    });
  add(args);
  if (derived) add(derived);
  if (scratch) fields.push("  scr: u32,");
  if (fields.length === 0) fields.push("  unused: u32,");
  return `struct Args {\n${fields.join("\n")}\n}`;
}

/** Bindings and memory helpers every kernel starts with. */
export const PRELUDE = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> mem: array<u32>;
@group(0) @binding(1) var<uniform> a: Args;

fn ldf(i: u32) -> f32 { return bitcast<f32>(mem[i]); }
fn stf(i: u32, v: f32) { mem[i] = bitcast<u32>(v); }
fn ldi(i: u32) -> i32 { return bitcast<i32>(mem[i]); }
fn sti(i: u32, v: i32) { mem[i] = bitcast<u32>(v); }
/** The u8 at byte offset b. */
fn ldb(b: u32) -> u32 { return (mem[b >> 2u] >> ((b & 3u) << 3u)) & 0xffu; }
/** |x| as an integer key that orders like |x| (NaN above +inf). */
fn abskey(bits: u32) -> u32 { return bits & 0x7fffffffu; }
`;

/**
 * e^x in f32 by the Cephes scheme of asm/kernels/vmath.ts (exp_f32x4): the same constants and
 * polynomial, ≤ ~1.5 ulp from e^x. The CPU rounds x·log2(e) to an integer by adding and
 * subtracting 1.5·2^23; a GPU compiler may fold that pair away (Vulkan lets drivers reassociate
 * float ops; Mesa does), so round() does it here, with the same ties-to-even result.
 * exp_hilo takes the argument as hi + lo (|lo| small), as exp_hilo_f32x4 does.
 */
export const EXP = /* wgsl */ `
const EXP_HI: f32 = 88.72283935546875;
const EXP_LO: f32 = -88.0;
const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;

fn exp_reduced(n: f32, r: f32) -> f32 {
  var p: f32 = 1.9875691500e-4;
  p = p * r + 1.3981999507e-3;
  p = p * r + 8.3334519073e-3;
  p = p * r + 4.1665795894e-2;
  p = p * r + 1.6666665459e-1;
  p = p * r + 5.0000001201e-1;
  p = ((p * r) * r + r) + 1.0;
  // 2^n from the exponent bits: n = -127 gives +0 (flush), 128 gives +inf, as on the CPU.
  return p * bitcast<f32>((i32(n) + 127) << 23u);
}

fn exp_cephes(x0: f32) -> f32 {
  let x = max(min(x0, EXP_HI), EXP_LO);
  let n = round(x * LOG2E);
  var r = x - n * LN2_HI;
  r = r - n * LN2_LO;
  return exp_reduced(n, r);
}

fn exp_hilo(hi: f32, lo: f32) -> f32 {
  let x = max(min(hi + lo, EXP_HI), EXP_LO);
  let n = round(x * LOG2E);
  var r = (hi - n * LN2_HI) + lo;
  r = r - n * LN2_LO;
  return exp_reduced(n, r);
}
`;

/** The largest workgroup count per grid dimension every WebGPU device allows. */
export const MAX_GROUPS = 65535;

/** Workgroups for a grid-stride loop over n items with wg invocations per group. */
export function strideGrid(n: number, wg: number): number[] {
  return [Math.max(1, Math.min(MAX_GROUPS, Math.ceil(n / wg)))];
}

/** Workgroups for `count` independent groups (one per token, row, …) as a 2-D grid. */
export function groupGrid(count: number): number[] {
  const x = Math.max(1, Math.min(MAX_GROUPS, count));
  return [x, Math.max(1, Math.ceil(count / x))];
}

/** WGSL for the linear id of a workgroup in a groupGrid grid (wid, nwg: builtins). */
export const GROUP_ID = "(wid.x + wid.y * nwg.x)";
