/**
 * Sparse weight × dense activation products (asm/kernels/sparse.ts) and, GPU only, the rebuild
 * of a weight's CSR and CSC forms from its dense copy (the GPU form of SparseMatrix.update in
 * src/backend/webgpu/ops.ts): counts per row and per column, an exclusive scan, then each row
 * (column) writes its entries in increasing column (row) order. The products sum a row's
 * entries in CSR order, an entry's tokens in order, as the CPU does: the dense GEMM's order
 * with zero weights skipped. Sources may be packed in column tiles (spmm_pack_f32's layout).
 * The entry loops read the entry count from rowPtr[R] on the device: the host does not know it.
 */
import type { GpuKernelSpec } from "../wgsl.ts";
import { elementwise } from "./elementwise.ts";

/** The source element (row r, token n) of a [S, N] source, plain or in tiles of width a.T. */
const SOURCE = /* wgsl */ `
fn src_at(src: u32, S: u32, r: u32, n: u32) -> f32 {
  if (a.packed == 0u) { return ldf(src + r * a.N + n); }
  let t0 = (n / a.T) * a.T;
  let tw = min(a.T, a.N - t0);
  return ldf(src + t0 * S + r * tw + (n - t0));
}
`;

/** The row of CSR entry e: the last r with rowPtr[r] ≤ e. */
const ROW_OF = /* wgsl */ `
fn row_of(e: u32) -> u32 {
  var lo = 0u;
  var hi = a.R;
  while (lo < hi) {
    let mid = (lo + hi + 1u) / 2u;
    if (mem[a.rowPtr + mid] <= e) { lo = mid; } else { hi = mid - 1u; }
  }
  return lo;
}
`;

const NONZERO = "(mem[a.w + {i}] & 0x7fffffffu) != 0u";

/** Entry loops: a fixed grid over at most R·K entries, the real count read on the device. */
function entryGrid(a: Record<string, number>): number[] {
  return [Math.max(1, Math.min(1024, Math.ceil((a.R * a.K) / 256)))];
}

export const SPARSE: GpuKernelSpec[] = [
  elementwise(
    "sparse_row_counts",
    "w:p rows:u cols:u rowPtr:p",
    `var c = 0u;
    for (var j = 0u; j < a.cols; j++) { c += select(0u, 1u, ${
      NONZERO.replace("{i}", "i * a.cols + j")
    }); }
    mem[a.rowPtr + i] = c;`,
    { count: "rows" },
  ),
  elementwise(
    "sparse_col_counts",
    "w:p rows:u cols:u colPtr:p",
    `var c = 0u;
    for (var r = 0u; r < a.rows; r++) { c += select(0u, 1u, ${
      NONZERO.replace("{i}", "r * a.cols + i")
    }); }
    mem[a.colPtr + i] = c;`,
    { count: "cols" },
  ),
  {
    // p[0..n) counts → exclusive prefix sums, the total at p[n]. One workgroup: contiguous
    // chunks, their totals scanned in order by one invocation.
    name: "scan_u32",
    args: "p:p n:u",
    code: `
var<workgroup> part: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  let chunk = (a.n + 255u) / 256u;
  let s0 = min(a.n, t * chunk);
  let s1 = min(a.n, s0 + chunk);
  var s = 0u;
  for (var i = s0; i < s1; i++) { s += mem[a.p + i]; }
  part[t] = s;
  workgroupBarrier();
  if (t == 0u) {
    var run = 0u;
    for (var u = 0u; u < 256u; u++) { let c = part[u]; part[u] = run; run += c; }
    mem[a.p + a.n] = run;
  }
  workgroupBarrier();
  var run = part[t];
  for (var i = s0; i < s1; i++) { let c = mem[a.p + i]; mem[a.p + i] = run; run += c; }
}`,
    passes: [{ entry: "main", grid: () => [1] }],
  },
  elementwise(
    "sparse_fill_rows",
    "w:p rows:u cols:u rowPtr:p rowIdx:p rowVal:p",
    `var e = mem[a.rowPtr + i];
    for (var j = 0u; j < a.cols; j++) {
      let bits = mem[a.w + i * a.cols + j];
      if ((bits & 0x7fffffffu) != 0u) { mem[a.rowIdx + e] = j; mem[a.rowVal + e] = bits; e += 1u; }
    }`,
    { count: "rows" },
  ),
  elementwise(
    "sparse_fill_cols",
    "w:p rows:u cols:u colPtr:p colIdx:p colVal:p",
    `var e = mem[a.colPtr + i];
    for (var r = 0u; r < a.rows; r++) {
      let bits = mem[a.w + r * a.cols + i];
      if ((bits & 0x7fffffffu) != 0u) { mem[a.colIdx + e] = r; mem[a.colVal + e] = bits; e += 1u; }
    }`,
    { count: "cols" },
  ),
  elementwise(
    "spmm_pack_f32",
    "src:p S:u N:u T:u dst:p",
    `let r = i / a.N;
    let n = i - r * a.N;
    let t0 = (n / a.T) * a.T;
    let tw = min(a.T, a.N - t0);
    stf(a.dst + t0 * a.S + r * tw + (n - t0), ldf(a.src + i));`,
    { count: "SN", derived: { decl: "SN:u", values: (a) => [a.S * a.N] } },
  ),
  elementwise(
    "spmm_forward_f32",
    "rowPtr:p idx:p val:p x:p T:u packed:u y:p bias:p R:u K:u N:u",
    `let r = i / a.N;
    let n = i - r * a.N;
    var acc = 0.0;
    if (a.bias != 0u) { acc = ldf(a.bias + r); }
    for (var e = mem[a.rowPtr + r]; e < mem[a.rowPtr + r + 1u]; e++) {
      acc = acc + ldf(a.val + e) * src_at(a.x, a.K, mem[a.idx + e], n);
    }
    stf(a.y + i, acc);`,
    { count: "RN", derived: { decl: "RN:u", values: (a) => [a.R * a.N] }, extra: SOURCE },
  ),
  elementwise(
    "spmm_backward_input_f32",
    "colPtr:p idx:p val:p dy:p T:u packed:u dx:p accumulate:u R:u K:u N:u",
    `let c = i / a.N;
    let n = i - c * a.N;
    var acc = 0.0;
    if (a.accumulate != 0u) { acc = ldf(a.dx + i); }
    for (var e = mem[a.colPtr + c]; e < mem[a.colPtr + c + 1u]; e++) {
      acc = acc + ldf(a.val + e) * src_at(a.dy, a.R, mem[a.idx + e], n);
    }
    stf(a.dx + i, acc);`,
    { count: "KN", derived: { decl: "KN:u", values: (a) => [a.K * a.N] }, extra: SOURCE },
  ),
  {
    name: "sddmm_f32",
    args: "rowPtr:p idx:p R:u dy:p x:p tile:x N:u out:p",
    code: `${ROW_OF}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let nnz = mem[a.rowPtr + a.R];
  for (var e = gid.x; e < nnz; e += nwg.x * 256u) {
    let r = row_of(e);
    let c = mem[a.idx + e];
    var acc = 0.0;
    for (var n = 0u; n < a.N; n++) { acc = acc + ldf(a.dy + r * a.N + n) * ldf(a.x + c * a.N + n); }
    stf(a.out + e, acc);
  }
}`,
    // The capacity bounds the entries: a GpuSparseMatrix's nnz is rows·cols on the host.
    passes: [{
      entry: "main",
      grid: (a) => [Math.max(1, Math.min(1024, Math.ceil(a.R * 64 / 256)))],
    }],
  },
  {
    name: "csr_gather_f32",
    args: "rowPtr:p idx:p R:u K:u dense:p out:p",
    code: `${ROW_OF}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let nnz = mem[a.rowPtr + a.R];
  for (var e = gid.x; e < nnz; e += nwg.x * 256u) {
    stf(a.out + e, ldf(a.dense + row_of(e) * a.K + mem[a.idx + e]));
  }
}`,
    passes: [{ entry: "main", grid: entryGrid }],
  },
];
