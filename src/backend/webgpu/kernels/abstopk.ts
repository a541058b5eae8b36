/**
 * AbsTopK per token (asm/kernels/abstopk.ts): keep the k largest |x| of each token's C channels,
 * ties to the lower channel. A select, not a sort: one workgroup per token finds the k-th
 * largest key (the bits of |x|) by a 4-pass radix select over 8-bit digits (integer histograms
 * in workgroup memory), then the channel of the last tie it keeps; a second pass writes out and
 * the u8 mask, one invocation per 32-bit word of the mask so that no two invocations write the
 * same word (WGSL has no byte stores). Exact: the same selection as the WASM kernel and the twin.
 */
import { type GpuKernelSpec, GROUP_ID, groupGrid } from "../wgsl.ts";
import { elementwise } from "./elementwise.ts";

const WG = 64;

/**
 * Per-segment k-th largest key with ties to the lower position, for segments of `len` keys at
 * base + s·segStride + i·elemStride. Used by AbsTopK (segments = tokens) and by the top-k's
 * per-neuron protection (segments = rows or columns). Writes (threshold key, last kept
 * position) to out + 2s: position i is kept iff key > thr, or key == thr and i ≤ cut.
 */
export const SEGMENT_SELECT = /* wgsl */ `
var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> cnt: array<u32, ${WG}>;
var<workgroup> sel: array<u32, 4>;

fn seg_key(base: u32, i: u32, stride: u32) -> u32 { return abskey(mem[base + i * stride]); }

/** Keeps k of len keys at base (stride apart); results at out, out + 1. t: local index. */
fn segment_select(base: u32, stride: u32, len: u32, k: u32, out: u32, t: u32) {
  if (k >= len) {
    if (t == 0u) { mem[out] = 0u; mem[out + 1u] = 0xffffffffu; }
    return;
  }
  if (k == 0u) {
    if (t == 0u) { mem[out] = 0xffffffffu; mem[out + 1u] = 0u; }
    return;
  }
  var prefix = 0u;
  var want = k;
  for (var round = 0u; round < 4u; round++) {
    let shift = 24u - 8u * round;
    let hiMask = select(0xffffffffu << (shift + 8u), 0u, round == 0u);
    atomicStore(&hist[t], 0u);
    atomicStore(&hist[t + 64u], 0u);
    atomicStore(&hist[t + 128u], 0u);
    atomicStore(&hist[t + 192u], 0u);
    workgroupBarrier();
    for (var i = t; i < len; i += ${WG}u) {
      let key = seg_key(base, i, stride);
      if ((key & hiMask) == prefix) { atomicAdd(&hist[(key >> shift) & 255u], 1u); }
    }
    workgroupBarrier();
    if (t == 0u) {
      var above = 0u;
      var d = 255u;
      loop {
        let h = atomicLoad(&hist[d]);
        if (above + h >= want || d == 0u) { break; }
        above += h;
        d -= 1u;
      }
      sel[0] = prefix | (d << shift);
      sel[1] = want - above;
    }
    workgroupBarrier();
    prefix = sel[0];
    want = sel[1];
    workgroupBarrier();
  }
  // want = how many keys equal to the threshold are kept: the first ones in position order.
  let chunk = (len + ${WG - 1}u) / ${WG}u;
  let c0 = min(len, t * chunk);
  let c1 = min(len, c0 + chunk);
  var eq = 0u;
  for (var i = c0; i < c1; i++) { eq += select(0u, 1u, seg_key(base, i, stride) == prefix); }
  cnt[t] = eq;
  workgroupBarrier();
  if (t == 0u) {
    var before = 0u;
    var u = 0u;
    loop {
      if (before + cnt[u] >= want || u == ${WG - 1}u) { break; }
      before += cnt[u];
      u += 1u;
    }
    sel[2] = u;
    sel[3] = want - before;
  }
  workgroupBarrier();
  if (t == sel[2]) {
    var left = sel[3];
    var i = c0;
    loop {
      if (seg_key(base, i, stride) == prefix) {
        left -= 1u;
        if (left == 0u) { break; }
      }
      i += 1u;
    }
    mem[out] = prefix;
    mem[out + 1u] = i;
  }
}
`;

const forward: GpuKernelSpec = {
  name: "abstopk_forward",
  args: "out:p mask:b inp:p C:u N:u k:u scratch:p",
  derived: {
    decl: "words:u",
    values: (a) => [((a.mask + a.C * a.N + 3) >>> 2) - (a.mask >>> 2)],
  },
  code: `${SEGMENT_SELECT}
@compute @workgroup_size(${WG})
fn select_tokens(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) t: u32) {
  let n = ${GROUP_ID};
  if (n >= a.N) { return; }
  segment_select(a.inp + n, a.N, a.C, a.k, a.scratch + 2u * n, t);
}

@compute @workgroup_size(256)
fn apply(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let first = a.mask >> 2u;
  let end = a.mask + a.C * a.N;
  for (var w = gid.x; w < a.words; w += nwg.x * 256u) {
    let word = first + w;
    var bytes = mem[word];
    for (var j = 0u; j < 4u; j++) {
      let b = word * 4u + j;
      if (b < a.mask || b >= end) { continue; }
      let e = b - a.mask;
      let c = e / a.N;
      let n = e - c * a.N;
      let bits = mem[a.inp + e];
      let key = abskey(bits);
      let thr = mem[a.scratch + 2u * n];
      let keep = key > thr || (key == thr && c <= mem[a.scratch + 2u * n + 1u]);
      mem[a.out + e] = select(0u, bits, keep);
      bytes = (bytes & ~(0xffu << (8u * j))) | (select(0u, 1u, keep) << (8u * j));
    }
    mem[word] = bytes;
  }
}`,
  passes: [
    { entry: "select_tokens", grid: (a) => groupGrid(a.N) },
    { entry: "apply", grid: (a) => [Math.min(65535, Math.ceil(a.words / 256))] },
  ],
};

/** dinp = base + (dout where the mask byte is set, else +0); base: dinp, or 0 (write). */
function backward(name: string, write: boolean): GpuKernelSpec {
  return elementwise(
    name,
    "dinp:p dout:p mask:b n:u",
    `let d = select(0.0, ldf(a.dout + i), ldb(a.mask + i) != 0u);
    stf(a.dinp + i, ${write ? "0.0" : "ldf(a.dinp + i)"} + d);`,
  );
}

export const ABSTOPK: GpuKernelSpec[] = [
  // The wrapper lends per-thread scratch of this size: the GPU's (threshold, cut) per token.
  { name: "abstopk_scratch_bytes", args: "C:u N:u", code: "", passes: [], result: (a) => 8 * a.N },
  forward,
  backward("abstopk_backward", false),
  backward("abstopk_backward_write", true),
];
