/**
 * Reads what `torch.save(state_dict, f)` writes, in TypeScript: the reader beside
 * src/export/torch_pickle.ts's writer (which it shares the opcode table and CRC-32 with).
 *
 * The container is a zip of stored (uncompressed) records under one top-level folder, whatever
 * torch named it ("archive" for a file object, the file's stem for a path in older torch):
 *
 *   <prefix>/data.pkl        the pickle: a dict name → tensor
 *   <prefix>/data/<key>      each storage's raw little-endian bytes
 *   <prefix>/version         the serialization format version (also under .data/ in newer torch)
 *   <prefix>/byteorder       "little" (absent before torch 2.0: little)
 *
 * Streamed saves (a blob store) put the sizes in data descriptors and the central directory, and
 * files over 4 GiB use zip64 records: both are read. Every record's CRC-32 is checked.
 *
 * The pickle runs on a small VM that knows only what a state dict needs: dicts and OrderedDicts,
 * tuples, lists, strings, ints, floats, bools, None, the memo, persistent ids (storages) and
 * REDUCE/BUILD of exactly these callables: `collections.OrderedDict`,
 * `torch._utils._rebuild_tensor_v2` and `torch._utils._rebuild_parameter`; `torch.<Type>Storage`
 * names appear only as storage types. Any other opcode or global is refused with one line, so a
 * hostile pickle can do nothing but fail. Storages of float32, float16 and bfloat16 are read (the
 * halves widened to float32 exactly), with any offset and strides.
 *
 * Browser-safe: bytes in, no file system.
 */
import { UserError } from "../errors.ts";
import { crc32, OP } from "../export/torch_pickle.ts";

/** One record of the zip: its full name, its bytes (a view into the file) and where they start. */
export interface ZipRecord {
  name: string;
  data: Uint8Array;
  dataOffset: number;
}

/** The storage dtypes a tensor can be read from, by torch's storage class name. */
const STORAGE_DTYPES: Record<string, { dtype: TorchDtype; size: number }> = {
  FloatStorage: { dtype: "float32", size: 4 },
  HalfStorage: { dtype: "float16", size: 2 },
  BFloat16Storage: { dtype: "bfloat16", size: 2 },
};

/** torch's other storage classes: known, so a tensor of one is refused by its dtype, by name. */
const OTHER_STORAGES: Record<string, string> = {
  DoubleStorage: "float64",
  LongStorage: "int64",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
  ComplexFloatStorage: "complex64",
  ComplexDoubleStorage: "complex128",
  QInt8Storage: "qint8",
  QUInt8Storage: "quint8",
  QInt32Storage: "qint32",
  UntypedStorage: "untyped",
};

export type TorchDtype = "float32" | "float16" | "bfloat16";

/** Elements of one tensor at most (2 GiB of float32, thinwire's whole memory). */
const MAX_ELEMENTS = 2 ** 29;

/** One tensor of the state dict, as the pickle describes it; `read()` gives its values. */
export interface TorchEntry {
  name: string;
  shape: number[];
  /** The storage's dtype (the values are widened to float32 by read()). */
  dtype: TorchDtype;
  storageType: string;
  storageKey: string;
  location: string;
  /** Elements of the storage. */
  numel: number;
  offset: number;
  stride: number[];
  requiresGrad: boolean;
  /** The tensor's values in row-major order, as float32 (a new array each call). */
  read(): Float32Array;
}

export interface TorchStateDict {
  /** The records' top-level folder. */
  prefix: string;
  records: ZipRecord[];
  /** Every global the pickle named, as "module.name", in order. */
  globals: string[];
  /** The state dict, in the pickle's order. */
  tensors: Map<string, TorchEntry>;
}

/** Name for errors: quoted and cut, so a hostile name cannot break the one-line message. */
function q(s: string): string {
  return JSON.stringify(s.length > 80 ? s.slice(0, 80) + "…" : s);
}

const SIG = { local: 0x04034b50, central: 0x02014b50, eocd: 0x06054b50 } as const;
const ZIP64 = { eocd: 0x06064b50, locator: 0x07064b50, extra: 0x0001 } as const;

/** Reads every record of a stored zip (zip64 and data descriptors too); checks CRCs. */
export function readZip(b: Uint8Array, where: string): ZipRecord[] {
  const bad = (why: string): never => {
    throw new UserError(`${where}: ${why}`);
  };
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u16 = (at: number) => dv.getUint16(at, true);
  const u32 = (at: number) => dv.getUint32(at, true);
  const u64 = (at: number) => {
    const v = dv.getBigUint64(at, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? bad("a zip64 size beyond 2^53") : Number(v);
  };
  const inFile = (at: number, len: number, what: string) => {
    if (at < 0 || len < 0 || at + len > b.length) bad(`truncated or damaged zip (${what})`);
  };
  // The end record sits in the last 22 bytes plus a comment of at most 65535.
  let eocd = -1;
  for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 0xffff); i--) {
    if (u32(i) === SIG.eocd) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    // torch.save before 1.6 wrote a bare pickle stream (it starts with PROTO).
    if (b[0] === OP.PROTO) {
      bad("not a zip: a legacy torch.save file (torch < 1.6); re-save it with a newer torch");
    }
    bad("not a zip file (torch.save writes a zip)");
  }
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (eocd >= 20 && u32(eocd - 20) === ZIP64.locator) {
    const z = u64(eocd - 20 + 8);
    inFile(z, 56, "zip64 end record");
    if (u32(z) !== ZIP64.eocd) bad("damaged zip64 end record");
    count = u64(z + 32);
    cdSize = u64(z + 40);
    cdOffset = u64(z + 48);
  }
  inFile(cdOffset, cdSize, "central directory");
  const dec = new TextDecoder("utf-8", { fatal: true });
  const text = (at: number, len: number) => {
    try {
      return dec.decode(b.subarray(at, at + len));
    } catch {
      return bad("a record name is not UTF-8");
    }
  };
  const out: ZipRecord[] = [];
  let at = cdOffset;
  for (let r = 0; r < count; r++) {
    inFile(at, 46, "central directory");
    if (u32(at) !== SIG.central) bad(`damaged central directory (record ${r})`);
    const flags = u16(at + 8), method = u16(at + 10), crc = u32(at + 16);
    let csize = u32(at + 20), usize = u32(at + 24), local = u32(at + 42);
    const nlen = u16(at + 28), xlen = u16(at + 30), clen = u16(at + 32);
    inFile(at + 46, nlen + xlen + clen, "central directory");
    const name = text(at + 46, nlen);
    if (usize === 0xffffffff || csize === 0xffffffff || local === 0xffffffff) {
      // zip64: the extra field holds, in this order, those of the three that overflowed.
      let x = at + 46 + nlen;
      const xend = x + xlen;
      while (x + 4 <= xend && u16(x) !== ZIP64.extra) x += 4 + u16(x + 2);
      if (x + 4 > xend) bad(`record ${q(name)}: zip64 sizes without their extra field`);
      let v = x + 4;
      if (usize === 0xffffffff) usize = u64(v), v += 8;
      if (csize === 0xffffffff) csize = u64(v), v += 8;
      if (local === 0xffffffff) local = u64(v), v += 8;
      if (v > x + 4 + u16(x + 2)) bad(`record ${q(name)}: zip64 extra field too short`);
    }
    at += 46 + nlen + xlen + clen;
    if (flags & 1) bad(`record ${q(name)} is encrypted`);
    if (method !== 0) {
      bad(`record ${q(name)} is compressed (method ${method}); torch.save writes stored records`);
    }
    if (csize !== usize) bad(`record ${q(name)}: stored sizes differ`);
    inFile(local, 30, `local header of ${q(name)}`);
    if (u32(local) !== SIG.local) bad(`damaged local header of ${q(name)}`);
    const dataOffset = local + 30 + u16(local + 26) + u16(local + 28);
    if (text(local + 30, u16(local + 26)) !== name) bad(`local header of ${q(name)} names another`);
    inFile(dataOffset, usize, `data of ${q(name)}`);
    const data = b.subarray(dataOffset, dataOffset + usize);
    if (crc32(data) !== crc) bad(`record ${q(name)} fails its CRC-32 check (damaged file)`);
    out.push({ name, data, dataOffset });
  }
  return out;
}

/** Opcodes the reader knows beyond the ones the writer emits (Python's Lib/pickletools.py). */
const OPR = {
  ...OP,
  FRAME: 0x95,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  NONE: 0x4e,
  NEWTRUE: 0x88,
  BININT1: 0x4b,
  BININT2: 0x4d,
  LONG4: 0x8b,
  BINFLOAT: 0x47,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  EMPTY_DICT: 0x7d,
  EMPTY_LIST: 0x5d,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  SETITEM: 0x73,
  APPEND: 0x61,
  APPENDS: 0x65,
  BUILD: 0x62,
  STACK_GLOBAL: 0x93,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  MEMOIZE: 0x94,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
} as const;

/** Python values the VM builds. */
type PV =
  | null
  | boolean
  | number
  | string
  | PyTuple
  | PV[]
  | Map<PV, PV>
  | Global
  | Storage
  | Tensor;
class PyTuple {
  constructor(readonly items: PV[]) {}
}
class Global {
  constructor(readonly module: string, readonly name: string) {}
  get full(): string {
    return `${this.module}.${this.name}`;
  }
}
class Storage {
  constructor(
    readonly type: string,
    readonly key: string,
    readonly location: string,
    readonly numel: number,
  ) {}
}
class Tensor {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly requiresGrad: boolean,
  ) {}
}
const MARK = Symbol("mark");

/** What a value is, in Python's words, for errors. */
function kind(v: PV | typeof MARK | undefined): string {
  if (v === null) return "None";
  if (v instanceof Map) return "dict";
  if (v instanceof PyTuple) return "tuple";
  if (Array.isArray(v)) return "list";
  if (v instanceof Tensor) return "tensor";
  if (v instanceof Storage) return "storage";
  if (v instanceof Global) return v.full;
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "string") return "str";
  return "nothing";
}

/** The callables REDUCE may call: a state dict needs no others. */
const CALLABLES = new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
]);

/** Runs a state-dict pickle; returns the top-level value and every global named. */
function unpickle(p: Uint8Array, where: string): { value: PV; globals: string[] } {
  const bad = (why: string): never => {
    throw new UserError(`${where}: data.pkl ${why}`);
  };
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const dec = new TextDecoder("utf-8", { fatal: true });
  const stack: (PV | typeof MARK)[] = [];
  const memo = new Map<number, PV>();
  const globals: string[] = [];
  let i = 0;
  const need = (n: number) => {
    if (i + n > p.length) bad("is truncated");
  };
  const str = (n: number): string => {
    need(n);
    try {
      return dec.decode(p.subarray(i, i += n));
    } catch {
      return bad("holds a string that is not UTF-8");
    }
  };
  const line = (): string => {
    const j = p.indexOf(0x0a, i);
    if (j < 0) bad("is truncated");
    return str(j - i + 1).slice(0, -1);
  };
  const pop = (): PV => {
    const v = stack.pop();
    if (v === undefined || v === MARK) bad("is malformed (pop from an empty stack)");
    return v as PV;
  };
  const top = (): PV => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) bad("is malformed (empty stack)");
    return v as PV;
  };
  const popMark = (): PV[] => {
    const k = stack.lastIndexOf(MARK);
    if (k < 0) bad("is malformed (no mark)");
    const items = stack.splice(k + 1) as PV[];
    stack.pop();
    return items;
  };
  const int = (v: bigint): number => {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      bad("holds an integer beyond 2^53");
    }
    return Number(v);
  };
  const long = (n: number): number => {
    need(n);
    let v = 0n;
    for (let k = n - 1; k >= 0; k--) v = (v << 8n) | BigInt(p[i + k]);
    if (n > 0 && p[i + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    i += n;
    return int(v);
  };
  const global = (module: string, name: string): Global => {
    const g = new Global(module, name);
    globals.push(g.full);
    const storage = module === "torch" &&
      (Object.hasOwn(STORAGE_DTYPES, name) || Object.hasOwn(OTHER_STORAGES, name));
    if (!storage && !CALLABLES.has(g.full)) {
      bad(`names ${q(g.full)}, which a state dict does not need (refused: only tensors are read)`);
    }
    return g;
  };
  const setItems = (d: PV, items: PV[]) => {
    if (!(d instanceof Map)) bad(`sets items on a ${kind(d)}`);
    for (let k = 0; k < items.length; k += 2) (d as Map<PV, PV>).set(items[k], items[k + 1]);
  };
  const call = (fn: PV, args: PV): PV => {
    if (!(fn instanceof Global) || !CALLABLES.has(fn.full)) bad(`calls ${kind(fn)}`);
    if (!(args instanceof PyTuple)) bad(`calls ${(fn as Global).full} without an argument tuple`);
    const a = (args as PyTuple).items;
    switch ((fn as Global).full) {
      case "collections.OrderedDict":
        if (a.length !== 0) bad("builds an OrderedDict from arguments");
        return new Map<PV, PV>();
      case "torch._utils._rebuild_parameter": {
        // (data, requires_grad, backward_hooks): a Parameter is its data here.
        if (a.length < 1 || !(a[0] instanceof Tensor)) bad("rebuilds a parameter from no tensor");
        return a[0];
      }
      default: {
        // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
        // [, metadata])
        const [storage, offset, size, stride, requiresGrad, hooks] = a;
        const ints = (v: PV) =>
          v instanceof PyTuple && v.items.every((x) => typeof x === "number" && Number.isInteger(x))
            ? v.items as number[]
            : null;
        const shape = ints(size), strides = ints(stride);
        if (
          a.length < 6 || !(storage instanceof Storage) || typeof offset !== "number" ||
          shape === null || strides === null || shape.length !== strides.length ||
          typeof requiresGrad !== "boolean"
        ) {
          bad("rebuilds a tensor from malformed arguments");
        }
        if (!(hooks instanceof Map) || hooks.size > 0) bad("rebuilds a tensor with backward hooks");
        return new Tensor(
          storage as Storage,
          offset as number,
          shape!,
          strides!,
          requiresGrad as boolean,
        );
      }
    }
  };
  for (;;) {
    need(1);
    const op = p[i++];
    switch (op) {
      case OPR.PROTO: {
        need(1);
        const v = p[i++];
        if (v > 5) bad(`uses pickle protocol ${v} (at most 5 is known)`);
        break;
      }
      case OPR.FRAME:
        need(8);
        i += 8;
        break;
      case OPR.STOP: {
        const value = pop();
        return { value, globals };
      }
      case OPR.MARK:
        stack.push(MARK);
        break;
      case OPR.POP:
        pop();
        break;
      case OPR.POP_MARK:
        popMark();
        break;
      case OPR.DUP:
        stack.push(top());
        break;
      case OPR.NONE:
        stack.push(null);
        break;
      case OPR.NEWTRUE:
        stack.push(true);
        break;
      case OPR.NEWFALSE:
        stack.push(false);
        break;
      case OPR.BININT1:
        need(1);
        stack.push(p[i++]);
        break;
      case OPR.BININT2:
        need(2);
        stack.push(dv.getUint16(i, true));
        i += 2;
        break;
      case OPR.BININT:
        need(4);
        stack.push(dv.getInt32(i, true));
        i += 4;
        break;
      case OPR.LONG1:
        need(1);
        stack.push(long(p[i++]));
        break;
      case OPR.LONG4: {
        need(4);
        const n = dv.getInt32(i, true);
        i += 4;
        if (n < 0 || n > 8) bad("holds an integer beyond 2^53");
        stack.push(long(n));
        break;
      }
      case OPR.BINFLOAT:
        need(8);
        stack.push(dv.getFloat64(i, false));
        i += 8;
        break;
      case OPR.SHORT_BINUNICODE:
        need(1);
        stack.push(str(p[i++]));
        break;
      case OPR.BINUNICODE: {
        need(4);
        const n = dv.getUint32(i, true);
        i += 4;
        stack.push(str(n));
        break;
      }
      case OPR.BINUNICODE8: {
        need(8);
        const n = int(dv.getBigUint64(i, true));
        i += 8;
        stack.push(str(n));
        break;
      }
      case OPR.EMPTY_DICT:
        stack.push(new Map<PV, PV>());
        break;
      case OPR.EMPTY_LIST:
        stack.push([]);
        break;
      case OPR.EMPTY_TUPLE:
        stack.push(new PyTuple([]));
        break;
      case OPR.TUPLE:
        stack.push(new PyTuple(popMark()));
        break;
      case OPR.TUPLE1:
      case OPR.TUPLE2:
      case OPR.TUPLE3: {
        const n = op - OPR.TUPLE1 + 1;
        const items: PV[] = [];
        for (let k = 0; k < n; k++) items.unshift(pop());
        stack.push(new PyTuple(items));
        break;
      }
      case OPR.SETITEM: {
        const v = pop(), k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case OPR.SETITEMS: {
        const items = popMark();
        if (items.length % 2) bad("is malformed (odd SETITEMS)");
        setItems(top(), items);
        break;
      }
      case OPR.APPEND: {
        const v = pop(), l = top();
        if (!Array.isArray(l)) bad(`appends to a ${kind(l)}`);
        (l as PV[]).push(v);
        break;
      }
      case OPR.APPENDS: {
        const items = popMark(), l = top();
        if (!Array.isArray(l)) bad(`appends to a ${kind(l)}`);
        (l as PV[]).push(...items);
        break;
      }
      case OPR.GLOBAL:
        stack.push(global(line(), line()));
        break;
      case OPR.STACK_GLOBAL: {
        const name = pop(), module = pop();
        if (typeof name !== "string" || typeof module !== "string") bad("has a malformed global");
        stack.push(global(module as string, name as string));
        break;
      }
      case OPR.REDUCE: {
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case OPR.BUILD: {
        // A state dict carries `_metadata` (module versions) as instance state: not needed.
        const state = pop();
        const obj = top();
        if (!(obj instanceof Map) || !(state instanceof Map)) {
          bad(`sets the state of a ${kind(obj)}`);
        }
        break;
      }
      case OPR.BINPERSID: {
        // ('storage', torch.<Type>Storage, key, location, numel) → data/<key>
        const pid = pop();
        const t = pid instanceof PyTuple ? pid.items : [];
        const [tag, type, key, location, numel] = t;
        if (
          t.length !== 5 || tag !== "storage" || !(type instanceof Global) ||
          typeof key !== "string" || typeof location !== "string" ||
          typeof numel !== "number" || !Number.isInteger(numel) || numel < 0
        ) {
          bad("has a persistent id that is not a torch storage");
        }
        stack.push(
          new Storage((type as Global).name, key as string, location as string, numel as number),
        );
        break;
      }
      case OPR.BINPUT:
        need(1);
        memo.set(p[i++], top());
        break;
      case OPR.LONG_BINPUT:
        need(4);
        memo.set(dv.getUint32(i, true), top());
        i += 4;
        break;
      case OPR.MEMOIZE:
        memo.set(memo.size, top());
        break;
      case OPR.BINGET:
      case OPR.LONG_BINGET: {
        let k: number;
        if (op === OPR.BINGET) need(1), k = p[i++];
        else need(4), k = dv.getUint32(i, true), i += 4;
        if (!memo.has(k)) bad("is malformed (memo)");
        stack.push(memo.get(k)!);
        break;
      }
      default:
        bad(
          `uses pickle opcode 0x${op.toString(16).padStart(2, "0")} at byte ${i - 1}, which a ` +
            `state dict does not need (refused)`,
        );
    }
  }
}

/** f16 bits → f32 (exact: every half is a float). */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** A tensor's values from its storage bytes: row-major, any offset and strides, as float32. */
function gather(t: Tensor, bytes: Uint8Array): Float32Array {
  const { dtype } = STORAGE_DTYPES[t.storage.type];
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (n === 0) return out;
  const contiguous = t.stride.every((s, k) =>
    t.shape[k] === 1 || s === t.shape.slice(k + 1).reduce((a, b) => a * b, 1)
  );
  if (dtype === "float32" && contiguous) {
    const at = bytes.byteOffset + 4 * t.offset;
    // torch aligns storages to 64 bytes: a view, no copy; else a copy to align.
    out.set(
      at % 4 === 0
        ? new Float32Array(bytes.buffer, at, n)
        : new Float32Array(bytes.slice(4 * t.offset, 4 * (t.offset + n)).buffer),
    );
    return out;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // bfloat16 is the top half of a float32.
  const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
  const get = dtype === "float32"
    ? (e: number) => dv.getFloat32(4 * e, true)
    : dtype === "float16"
    ? (e: number) => halfToFloat(dv.getUint16(2 * e, true))
    : (e: number) => (u32[0] = dv.getUint16(2 * e, true) << 16, f32[0]);
  // An odometer over the shape, row-major.
  const rank = t.shape.length;
  const idx = new Array(rank).fill(0);
  let e = t.offset;
  for (let k = 0; k < n; k++) {
    out[k] = get(e);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      e += t.stride[d];
      if (idx[d] < t.shape[d]) break;
      e -= t.stride[d] * t.shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Parses a torch.save state dict: the zip, its pickle, and each tensor's place in its storage
 * (checked to lie inside it). `where` names the file in errors. Tensor values are read on demand.
 */
export function loadTorchStateDict(bytes: Uint8Array, where: string): TorchStateDict {
  const bad = (why: string): never => {
    throw new UserError(`${where}: ${why}`);
  };
  const records = readZip(bytes, where);
  if (records.length === 0) bad("an empty zip (no torch.save records)");
  const prefix = records[0].name.split("/")[0];
  const byName = new Map<string, ZipRecord>();
  for (const r of records) {
    if (r.name.split("/")[0] !== prefix) {
      bad(`records under two folders (${q(prefix)}, ${q(r.name)})`);
    }
    byName.set(r.name.slice(prefix.length + 1), r);
  }
  if (byName.has("constants.pkl") || [...byName.keys()].some((k) => k.startsWith("code/"))) {
    bad("a TorchScript archive (torch.jit.save), not a torch.save state dict");
  }
  const pkl = byName.get("data.pkl");
  if (!pkl) bad(`a zip without ${prefix}/data.pkl: not written by torch.save`);
  const version = byName.get("version") ?? byName.get(".data/version");
  if (version && !/^\s*\d+\s*$/.test(new TextDecoder().decode(version.data))) {
    bad("a torch.save version record that is not a number");
  }
  const order = byName.get("byteorder");
  if (order) {
    const o = new TextDecoder().decode(order.data);
    if (o !== "little") bad(`storages in ${q(o)} byte order (only little-endian is read)`);
  }
  const { value, globals } = unpickle(pkl!.data, where);
  if (!(value instanceof Map)) bad(`not a state dict: data.pkl holds a ${kind(value)}, not a dict`);
  const tensors = new Map<string, TorchEntry>();
  for (const [k, v] of value as Map<PV, PV>) {
    if (typeof k !== "string") bad(`not a state dict: a key is a ${kind(k)}, not a name`);
    const name = k as string;
    if (!(v instanceof Tensor)) {
      const hint = v instanceof Map
        ? " (a training checkpoint? save model.state_dict() itself)"
        : "";
      bad(`not a state dict: ${q(name)} holds a ${kind(v)}, not a tensor${hint}`);
    }
    const t = v as Tensor, s = t.storage;
    if (!Object.hasOwn(STORAGE_DTYPES, s.type)) {
      bad(
        `tensor ${q(name)} is ${OTHER_STORAGES[s.type] ?? s.type}; thinwire reads float32, ` +
          `float16 and bfloat16`,
      );
    }
    const st = STORAGE_DTYPES[s.type];
    const rec = byName.get(`data/${s.key}`);
    if (!rec) bad(`tensor ${q(name)}: its storage ${prefix}/data/${s.key} is missing`);
    if (rec!.data.length !== s.numel * st.size) {
      bad(
        `tensor ${q(name)}: storage ${s.key} has ${rec!.data.length} bytes, ${s.numel} ` +
          `${st.dtype} need ${s.numel * st.size}`,
      );
    }
    if (t.shape.some((d) => d < 0) || t.stride.some((d) => d < 0) || t.offset < 0) {
      bad(`tensor ${q(name)}: negative size, stride or offset`);
    }
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n > MAX_ELEMENTS) {
      bad(`tensor ${q(name)} [${t.shape.join(", ")}] has more elements than thinwire can hold`);
    }
    const last = t.offset + t.shape.reduce((a, d, j) => a + (d - 1) * t.stride[j], 0);
    if (n > 0 && last >= s.numel) {
      bad(
        `tensor ${q(name)} [${t.shape.join(", ")}] reaches past its storage's ${s.numel} elements`,
      );
    }
    tensors.set(name, {
      name,
      shape: t.shape,
      dtype: st.dtype,
      storageType: `torch.${s.type}`,
      storageKey: s.key,
      location: s.location,
      numel: s.numel,
      offset: t.offset,
      stride: t.stride,
      requiresGrad: t.requiresGrad,
      read: () => gather(t, rec!.data),
    });
  }
  return { prefix, records, globals, tensors };
}
