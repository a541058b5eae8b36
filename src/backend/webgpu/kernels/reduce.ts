/**
 * GPU-only reductions behind the GPU forms of ops (src/backend/webgpu/ops.ts), which keep their
 * results on the device instead of returning them: Σx² in fixed blocks of 8192 floats (the CPU's
 * blocking), each summed as 256 contiguous runs of 32 in order and then a fixed tree, the block
 * partials summed by one workgroup in a fixed tree; f32 throughout where the CPU sums in f64
 * (relative error ≲ 1e-6 of the total). Counts (nonzeros, alive neurons) are integer trees.
 */
import { type GpuKernelSpec, GROUP_ID, groupGrid } from "../wgsl.ts";
import { elementwise } from "./elementwise.ts";

export const SUMSQ_BLOCK = 8192;

const TREE = /* wgsl */ `
var<workgroup> part: array<f32, 256>;
fn tree_sum(t: u32, v: f32) -> f32 {
  part[t] = v;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (t < w) { part[t] = part[t] + part[t + w]; }
    workgroupBarrier();
  }
  return part[0];
}
// Σ of the nb f32 partials at a.partials: each invocation's strided runs in order, then the tree.
fn sum_partials(t: u32) -> f32 {
  var s = 0.0;
  for (var b = t; b < a.nb; b += 256u) { s = s + ldf(a.partials + b); }
  return tree_sum(t, s);
}
`;

const UTREE = /* wgsl */ `
var<workgroup> upart: array<u32, 256>;
fn tree_count(t: u32, v: u32) -> u32 {
  upart[t] = v;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (t < w) { upart[t] += upart[t + w]; }
    workgroupBarrier();
  }
  return upart[0];
}
`;

export const REDUCE: GpuKernelSpec[] = [
  {
    name: "sumsq_partials",
    args: "x:p n:u partials:p",
    derived: { decl: "nb:u", values: (a) => [Math.ceil(a.n / SUMSQ_BLOCK)] },
    code: `${TREE}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let blk = ${GROUP_ID};
  if (blk >= a.nb) { return; }
  let s0 = min(a.n, blk * ${SUMSQ_BLOCK}u + t * 32u);
  let s1 = min(a.n, s0 + 32u);
  var s = 0.0;
  for (var i = s0; i < s1; i++) { let x = ldf(a.x + i); s = s + x * x; }
  let total = tree_sum(t, s);
  if (t == 0u) { stf(a.partials + blk, total); }
}`,
    passes: [{ entry: "main", grid: (a) => groupGrid(a.nb) }],
    skip: (a) => a.n === 0,
  },
  {
    // out[0] = rms = sqrt(Σ partials / count), out[1] = 1/(rms + 1e-5): what the scale pass reads.
    name: "rms_finish",
    args: "partials:p nb:u count:u out:p",
    code: `${TREE}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  let total = sum_partials(t);
  if (t == 0u) {
    let rms = sqrt(total / f32(a.count));
    stf(a.out, rms);
    stf(a.out + 1u, 1.0 / (rms + 1e-5));
  }
}`,
    passes: [{ entry: "main", grid: () => [1] }],
  },
  {
    // rms_finish with a count the host does not know: count + the u32 words whose word indices
    // the nw u32 at `words` list (the sparse-gradient mode's pattern sizes, rowPtr[rows]).
    name: "rms_finish_words",
    args: "partials:p nb:u count:u words:p nw:u out:p",
    code: `${TREE}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  let total = sum_partials(t);
  if (t == 0u) {
    var count = a.count;
    for (var i = 0u; i < a.nw; i++) { count += mem[mem[a.words + i]]; }
    let rms = sqrt(total / f32(count));
    stf(a.out, rms);
    stf(a.out + 1u, 1.0 / (rms + 1e-5));
  }
}`,
    passes: [{ entry: "main", grid: () => [1] }],
  },
  {
    // out[0] = Σ partials, out[1] = its square root (a norm), out[2] = clip / norm when the norm
    // exceeds clip, else 1: pruning's gradient clipping without a host decision.
    name: "norm_finish",
    args: "partials:p nb:u clip:f out:p",
    code: `${TREE}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  let total = sum_partials(t);
  if (t == 0u) {
    let norm = sqrt(total);
    stf(a.out, total);
    stf(a.out + 1u, norm);
    stf(a.out + 2u, select(1.0, a.clip / norm, norm > a.clip));
  }
}`,
    passes: [{ entry: "main", grid: () => [1] }],
  },
  elementwise("scale_by_word", "x:p n:u at:p", "stf(a.x + i, ldf(a.x + i) * ldf(a.at));"),
  {
    name: "count_nonzero_to",
    args: "w:p n:u out:p",
    code: `${UTREE}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  var c = 0u;
  for (var i = t; i < a.n; i += 256u) { c += select(0u, 1u, (mem[a.w + i] & 0x7fffffffu) != 0u); }
  let total = tree_count(t, c);
  if (t == 0u) { mem[a.out] = total; }
}`,
    passes: [{ entry: "main", grid: () => [1] }],
  },
  {
    // axis 1: rows with a nonzero; 2: columns with a nonzero.
    name: "alive_neurons_to",
    args: "w:p rows:u cols:u axis:u out:p",
    code: `${UTREE}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  let neurons = select(a.cols, a.rows, a.axis == 1u);
  let len = select(a.rows, a.cols, a.axis == 1u);
  let step = select(a.cols, 1u, a.axis == 1u);
  let stride = select(1u, a.cols, a.axis == 1u);
  var c = 0u;
  for (var u = t; u < neurons; u += 256u) {
    var any = false;
    for (var i = 0u; i < len && !any; i++) {
      any = (mem[a.w + u * stride + i * step] & 0x7fffffffu) != 0u;
    }
    c += select(0u, 1u, any);
  }
  let total = tree_count(t, c);
  if (t == 0u) { mem[a.out] = total; }
}`,
    passes: [{ entry: "main", grid: () => [1] }],
  },
];
