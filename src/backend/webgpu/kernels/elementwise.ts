/**
 * Elementwise kernels on flat buffers (asm/kernels/residual.ts, common.ts): fills, adds, scaling,
 * copies, exp, and the deferred finite check. One invocation per element in a grid-stride loop;
 * each element is computed exactly as the WASM kernel computes it (exp: the Cephes scheme, see
 * wgsl.ts, where the WASM kernel returns musl's expf bits).
 */
import { EXP, type GpuKernelSpec, strideGrid } from "../wgsl.ts";

const WG = 256;

export interface ElementwiseOptions {
  /** The uniform holding the index count (default "n"); it may be a derived one. */
  count?: string;
  /** Derived uniforms ("name:kind …" and their values from the arguments). */
  derived?: GpuKernelSpec["derived"];
  /** WGSL placed before the entry point (helpers). */
  extra?: string;
}

/** A kernel whose body runs once per index i < a.<count>, in a grid-stride loop. */
export function elementwise(
  name: string,
  args: string,
  body: string,
  opts: ElementwiseOptions = {},
): GpuKernelSpec {
  const count = opts.count ?? "n";
  return {
    name,
    args,
    derived: opts.derived,
    code: `${opts.extra ?? ""}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * ${WG}u;
  for (var i = gid.x; i < a.${count}; i += stride) {
    ${body}
  }
}`,
    passes: [{ entry: "main", grid: (a) => strideGrid(a[count], WG) }],
    skip: (a) => a[count] === 0,
  };
}

export const ELEMENTWISE: GpuKernelSpec[] = [
  elementwise("fill_f32", "x:p n:u value:f", "stf(a.x + i, a.value);"),
  elementwise("add_f32", "out:p x:p y:p n:u", "stf(a.out + i, ldf(a.x + i) + ldf(a.y + i));"),
  elementwise("add_inplace_f32", "x:p y:p n:u", "stf(a.x + i, ldf(a.x + i) + ldf(a.y + i));"),
  elementwise("scale_f32", "x:p n:u factor:f", "stf(a.x + i, ldf(a.x + i) * a.factor);"),
  elementwise("copy_f32", "dst:p src:p n:u", "stf(a.dst + i, ldf(a.src + i));"),
  elementwise("exp_f32", "out:p inp:p n:u", "stf(a.out + i, exp_cephes(ldf(a.inp + i)));", {
    extra: EXP,
  }),
  {
    // GPU only (GpuBackend.checkFinite): status word += the count of NaN/Inf among n floats.
    // One workgroup, an integer tree: no atomics, the same count whatever the schedule.
    name: "count_nonfinite_status",
    args: "x:p n:u word:p",
    code: `
var<workgroup> part: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) t: u32) {
  var c = 0u;
  for (var i = t; i < a.n; i += ${WG}u) {
    c += select(0u, 1u, (mem[a.x + i] & 0x7f800000u) == 0x7f800000u);
  }
  part[t] = c;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (t < s) { part[t] += part[t + s]; }
    workgroupBarrier();
  }
  if (t == 0u) { mem[a.word] += part[0]; }
}`,
    passes: [{ entry: "main", grid: () => [1] }],
    skip: (a) => a.n === 0,
  },
];
