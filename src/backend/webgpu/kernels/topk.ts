/**
 * GPU-only kernels of the per-tensor magnitude top-k (the GPU form of ops.magnitudeTopK in
 * src/backend/webgpu/ops.ts; rule of src/backend/ops/topk.ts). A radix select over the keys
 * |w| (their IEEE bits): four rounds of 8-bit digits, each a histogram per workgroup of 4096
 * entries (integer counts in workgroup memory) and one workgroup that adds them in group order
 * and picks the digit holding the wanted entry; then the position of the last tie kept (ties go
 * to the lower flat index) and one pass that zeroes the rest. The j largest of every neuron are
 * protected first (a per-neuron select, the AbsTopK kernel's) and skipped by the selection. No
 * float is summed, so the result is exact and does not depend on the schedule. State, histograms
 * and the protected thresholds live in scratch the op lends; nothing is read back.
 */
import { type GpuKernelSpec, GROUP_ID, groupGrid } from "../wgsl.ts";
import { SEGMENT_SELECT } from "./abstopk.ts";

/** Entries per histogram workgroup. */
export const TOPK_CHUNK = 4096;

const SHAPE = "w:p n:u rows:u cols:u axis:u j:u prot:p state:p";

/** Whether flat entry e is one of its neuron's protected j (axis 1: rows, 2: columns). */
const PROTECTED = /* wgsl */ `
fn is_protected(e: u32, key: u32) -> bool {
  if (a.j == 0u) { return false; }
  var u = e / a.cols;
  var p = e - u * a.cols;
  if (a.axis == 2u) { let c = p; p = u; u = c; }
  let thr = mem[a.prot + 2u * u];
  return key > thr || (key == thr && p <= mem[a.prot + 2u * u + 1u]);
}
`;

export const TOPK: GpuKernelSpec[] = [
  {
    name: "topk_protect",
    args: "w:p rows:u cols:u axis:u j:u prot:p",
    derived: {
      decl: "neurons:u len:u base:u elem:u",
      values: (a) => a.axis === 1 ? [a.rows, a.cols, a.cols, 1] : [a.cols, a.rows, 1, a.cols],
    },
    code: `${SEGMENT_SELECT}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let u = ${GROUP_ID};
  if (u >= a.neurons) { return; }
  segment_select(a.w + u * a.base, a.elem, a.len, a.j, a.prot + 2u * u, t);
}`,
    passes: [{ entry: "main", grid: (a) => groupGrid(a.neurons) }],
  },
  {
    name: "topk_hist",
    args: `${SHAPE} partials:p round:u`,
    derived: { decl: "groups:u", values: (a) => [Math.ceil(a.n / TOPK_CHUNK)] },
    code: `${PROTECTED}
var<workgroup> hist: array<atomic<u32>, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let g = ${GROUP_ID};
  if (g >= a.groups) { return; }
  atomicStore(&hist[t], 0u);
  workgroupBarrier();
  let shift = 24u - 8u * a.round;
  let hiMask = select(0xffffffffu << (shift + 8u), 0u, a.round == 0u);
  let prefix = select(mem[a.state], 0u, a.round == 0u);
  let end = min(a.n, (g + 1u) * ${TOPK_CHUNK}u);
  for (var e = g * ${TOPK_CHUNK}u + t; e < end; e += 256u) {
    let key = abskey(mem[a.w + e]);
    if ((key & hiMask) == prefix && !is_protected(e, key)) {
      atomicAdd(&hist[(key >> shift) & 255u], 1u);
    }
  }
  workgroupBarrier();
  mem[a.partials + g * 256u + t] = atomicLoad(&hist[t]);
}`,
    passes: [{ entry: "main", grid: (a) => groupGrid(a.groups) }],
  },
  {
    // state[0] = the key prefix so far, state[1] = the rank wanted among keys with that prefix.
    name: "topk_scan",
    args: "partials:p groups:u state:p need:u round:u",
    code: `
var<workgroup> tot: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  var s = 0u;
  for (var g = 0u; g < a.groups; g++) { s += mem[a.partials + g * 256u + t]; }
  tot[t] = s;
  workgroupBarrier();
  if (t == 0u) {
    let shift = 24u - 8u * a.round;
    let want = select(mem[a.state + 1u], a.need, a.round == 0u);
    let prefix = select(mem[a.state], 0u, a.round == 0u);
    var above = 0u;
    var d = 255u;
    loop {
      if (above + tot[d] >= want || d == 0u) { break; }
      above += tot[d];
      d -= 1u;
    }
    mem[a.state] = prefix | (d << shift);
    mem[a.state + 1u] = want - above;
  }
}`,
    passes: [{ entry: "main", grid: () => [1] }],
  },
  {
    name: "topk_tie_count",
    args: `${SHAPE} counts:p`,
    derived: { decl: "groups:u", values: (a) => [Math.ceil(a.n / TOPK_CHUNK)] },
    code: `${PROTECTED}
var<workgroup> part: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let g = ${GROUP_ID};
  if (g >= a.groups) { return; }
  let thr = mem[a.state];
  let end = min(a.n, (g + 1u) * ${TOPK_CHUNK}u);
  var c = 0u;
  for (var e = g * ${TOPK_CHUNK}u + t; e < end; e += 256u) {
    let key = abskey(mem[a.w + e]);
    c += select(0u, 1u, key == thr && !is_protected(e, key));
  }
  part[t] = c;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (t < w) { part[t] += part[t + w]; }
    workgroupBarrier();
  }
  if (t == 0u) { mem[a.counts + g] = part[0]; }
}`,
    passes: [{ entry: "main", grid: (a) => groupGrid(a.groups) }],
  },
  {
    // state[2] = the flat index of the last unprotected entry equal to the threshold that stays.
    name: "topk_tie_find",
    args: `${SHAPE} counts:p`,
    derived: { decl: "groups:u", values: (a) => [Math.ceil(a.n / TOPK_CHUNK)] },
    code: `${PROTECTED}
var<workgroup> part: array<u32, 256>;
var<workgroup> pick: array<u32, 2>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  let thr = mem[a.state];
  if (t == 0u) {
    var left = mem[a.state + 1u];
    var g = 0u;
    loop {
      let c = mem[a.counts + g];
      if (left <= c || g + 1u >= a.groups) { break; }
      left -= c;
      g += 1u;
    }
    pick[0] = g;
    pick[1] = left;
  }
  workgroupBarrier();
  let g = pick[0];
  let start = g * ${TOPK_CHUNK}u;
  let end = min(a.n, start + ${TOPK_CHUNK}u);
  let e0 = min(end, start + t * ${TOPK_CHUNK / 256}u);
  let e1 = min(end, e0 + ${TOPK_CHUNK / 256}u);
  var c = 0u;
  for (var e = e0; e < e1; e++) {
    let key = abskey(mem[a.w + e]);
    c += select(0u, 1u, key == thr && !is_protected(e, key));
  }
  part[t] = c;
  workgroupBarrier();
  if (t == 0u) {
    var left = pick[1];
    var u = 0u;
    loop {
      if (left <= part[u] || u == 255u) { break; }
      left -= part[u];
      u += 1u;
    }
    pick[0] = u;
    pick[1] = left;
  }
  workgroupBarrier();
  if (t == pick[0]) {
    var left = pick[1];
    var e = e0;
    loop {
      let key = abskey(mem[a.w + e]);
      if (key == thr && !is_protected(e, key)) {
        left -= 1u;
        if (left == 0u || e + 1u >= e1) { break; }
      }
      e += 1u;
    }
    mem[a.state + 2u] = e;
  }
}`,
    passes: [{ entry: "main", grid: () => [1] }],
  },
  {
    // none = 1: no unprotected entry stays (k equals the protected count). guard (a byte
    // offset, 0 for none): W stays as it is unless the u32 there exceeds k, the CPU caller's
    // "prune only past k nonzeros" decided on the device (src/train/kept_grads.ts); the passes
    // before this one only write scratch, so skipping here skips the whole top-k.
    name: "topk_apply",
    args: `${SHAPE} none:u k:u guard:u`,
    code: `${PROTECTED}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  if (a.guard != 0u && mem[a.guard >> 2u] <= a.k) { return; }
  let thr = select(mem[a.state], 0xffffffffu, a.none != 0u);
  let cut = mem[a.state + 2u];
  for (var e = gid.x; e < a.n; e += nwg.x * 256u) {
    let key = abskey(mem[a.w + e]);
    let keep = is_protected(e, key) || key > thr || (key == thr && e <= cut);
    if (!keep) { mem[a.w + e] = 0u; }
  }
}`,
    passes: [{ entry: "main", grid: (a) => [Math.min(65535, Math.ceil(a.n / 256))] }],
  },
];
