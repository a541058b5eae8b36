/**
 * Writes what `torch.save(state_dict, path)` writes, from TypeScript: a stored (uncompressed) zip
 * whose records sit under one folder `<archive>/`:
 *
 *   <archive>/data.pkl      pickle (protocol 2) of an OrderedDict name → tensor
 *   <archive>/byteorder     "little"
 *   <archive>/data/<k>      the raw little-endian float32 bytes of storage k, 64-byte aligned
 *   <archive>/version       "3\n" (the zip serialization format torch reads since 1.6)
 *
 * Each tensor pickles as torch's own reduction does: `torch._utils._rebuild_tensor_v2(storage,
 * offset, size, stride, requires_grad, backward_hooks)`, the storage being a persistent id
 * ("storage", torch.FloatStorage, key, "cpu", numel) that the loader resolves to `data/<key>`.
 * Only names that `torch.load(..., weights_only=True)` allows appear in the pickle, so the file
 * loads under the safe unpickler. One storage per tensor, contiguous row-major strides.
 *
 * Browser-safe: bytes out, no file system.
 */

/** A float32 tensor in row-major (C) order. */
export interface TorchTensor {
  name: string;
  shape: readonly number[];
  data: Float32Array;
}

/** Serialises `tensors` (in this order) as a torch.save state dict; `archive` names the folder. */
export function encodeTorchStateDict(
  tensors: readonly TorchTensor[],
  archive = "archive",
): Uint8Array {
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) {
      throw new Error(
        `${t.name}: shape [${t.shape.join(", ")}] needs ${n} floats, has ${t.data.length}`,
      );
    }
  }
  const zip = new ZipWriter();
  zip.add(`${archive}/data.pkl`, pickleStateDict(tensors));
  zip.add(`${archive}/byteorder`, new TextEncoder().encode("little"));
  tensors.forEach((t, k) => {
    zip.add(
      `${archive}/data/${k}`,
      new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length * 4),
    );
  });
  zip.add(`${archive}/version`, new TextEncoder().encode("3\n"));
  return zip.finish();
}

/** Pickle opcodes the writer emits (Python's Lib/pickletools.py names; the reader adds more). */
export const OP = {
  PROTO: 0x80,
  STOP: 0x2e,
  MARK: 0x28,
  GLOBAL: 0x63,
  REDUCE: 0x52,
  EMPTY_TUPLE: 0x29,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  SETITEMS: 0x75,
  BINPERSID: 0x51,
  BINUNICODE: 0x58,
  BININT: 0x4a,
  LONG1: 0x8a,
  NEWFALSE: 0x89,
} as const;

/** A byte sink with the few pickle encodings a state dict needs. */
class Pickler {
  #parts: number[] = [];

  op(code: number): this {
    this.#parts.push(code);
    return this;
  }
  /** GLOBAL "module\nname\n". */
  global(module: string, name: string): this {
    this.op(OP.GLOBAL);
    for (const b of new TextEncoder().encode(`${module}\n${name}\n`)) this.#parts.push(b);
    return this;
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    this.op(OP.BINUNICODE).u32(b.length);
    for (const x of b) this.#parts.push(x);
    return this;
  }
  /** A non-negative integer: BININT below 2³¹, else LONG1 (little-endian two's complement). */
  int(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`pickle int: ${n}`);
    if (n < 2 ** 31) return this.op(OP.BININT).u32(n);
    const bytes: number[] = [];
    for (let v = BigInt(n); v > 0n; v >>= 8n) bytes.push(Number(v & 0xffn));
    if (bytes[bytes.length - 1] & 0x80) bytes.push(0);
    this.op(OP.LONG1).op(bytes.length);
    for (const b of bytes) this.#parts.push(b);
    return this;
  }
  /** A tuple of non-negative integers. */
  intTuple(xs: readonly number[]): this {
    if (xs.length === 0) return this.op(OP.EMPTY_TUPLE);
    this.op(OP.MARK);
    for (const x of xs) this.int(x);
    return this.op(OP.TUPLE);
  }
  /** collections.OrderedDict() */
  emptyOrderedDict(): this {
    return this.global("collections", "OrderedDict").op(OP.EMPTY_TUPLE).op(OP.REDUCE);
  }
  u32(n: number): this {
    this.#parts.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
    return this;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

function pickleStateDict(tensors: readonly TorchTensor[]): Uint8Array {
  const p = new Pickler();
  p.op(OP.PROTO).op(2);
  p.emptyOrderedDict();
  if (tensors.length > 0) {
    p.op(OP.MARK);
    tensors.forEach((t, k) => {
      p.str(t.name);
      p.global("torch._utils", "_rebuild_tensor_v2");
      p.op(OP.MARK);
      // The storage: a persistent id tuple the loader maps to data/<k>.
      p.op(OP.MARK).str("storage").global("torch", "FloatStorage").str(String(k)).str("cpu");
      p.int(t.data.length).op(OP.TUPLE).op(OP.BINPERSID);
      p.int(0);
      p.intTuple(t.shape);
      const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
      p.intTuple(stride);
      p.op(OP.NEWFALSE);
      p.emptyOrderedDict();
      p.op(OP.TUPLE).op(OP.REDUCE);
    });
    p.op(OP.SETITEMS);
  }
  p.op(OP.STOP);
  return p.bytes();
}

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, as zip uses). */
export function crc32(b: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = crcTable[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** torch aligns every record's data to 64 bytes, padding the local header's extra field. */
const ALIGN = 64;
/** The extra-field id torch's writer pads with ("FB"), then filler bytes "Z". */
const PAD_ID = 0x4246;
/** 1980-01-01 00:00, zip's epoch: fixed so the same weights give the same bytes. */
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

/** A minimal stored-only zip writer (no compression, no zip64: every size below 4 GiB). */
class ZipWriter {
  #chunks: Uint8Array[] = [];
  #offset = 0;
  #central: Uint8Array[] = [];
  #count = 0;

  add(name: string, data: Uint8Array): void {
    const nameBytes = new TextEncoder().encode(name);
    const crc = crc32(data);
    const headerEnd = this.#offset + 30 + nameBytes.length;
    let pad = (ALIGN - ((headerEnd + 4) % ALIGN)) % ALIGN;
    const extraLen = 4 + pad;
    if (this.#offset + 30 + nameBytes.length + extraLen + data.length >= 2 ** 32) {
      throw new Error("torch export: over 4 GiB needs zip64, which this writer does not do");
    }
    const local = new Uint8Array(30 + nameBytes.length + extraLen);
    const dv = new DataView(local.buffer);
    dv.setUint32(0, 0x04034b50, true);
    dv.setUint16(4, 20, true);
    dv.setUint16(6, 0, true);
    dv.setUint16(8, 0, true);
    dv.setUint16(10, 0, true);
    dv.setUint16(12, DOS_DATE, true);
    dv.setUint32(14, crc, true);
    dv.setUint32(18, data.length, true);
    dv.setUint32(22, data.length, true);
    dv.setUint16(26, nameBytes.length, true);
    dv.setUint16(28, extraLen, true);
    local.set(nameBytes, 30);
    const ex = 30 + nameBytes.length;
    dv.setUint16(ex, PAD_ID, true);
    dv.setUint16(ex + 2, pad, true);
    for (; pad > 0; pad--) local[ex + 4 + pad - 1] = 0x5a;

    const cen = new Uint8Array(46 + nameBytes.length);
    const cv = new DataView(cen.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, 0, true);
    cv.setUint16(10, 0, true);
    cv.setUint16(12, 0, true);
    cv.setUint16(14, DOS_DATE, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    // extra length, comment length, disk number, internal and external attributes: all 0
    cv.setUint32(42, this.#offset, true);
    cen.set(nameBytes, 46);

    this.#chunks.push(local, data);
    this.#central.push(cen);
    this.#offset += local.length + data.length;
    this.#count++;
  }

  finish(): Uint8Array {
    if (this.#count > 0xffff) throw new Error("torch export: over 65535 records needs zip64");
    const cdSize = this.#central.reduce((a, c) => a + c.length, 0);
    const end = new Uint8Array(22);
    const ev = new DataView(end.buffer);
    ev.setUint32(0, 0x06054b50, true);
    ev.setUint16(8, this.#count, true);
    ev.setUint16(10, this.#count, true);
    ev.setUint32(12, cdSize, true);
    ev.setUint32(16, this.#offset, true);
    const out = new Uint8Array(this.#offset + cdSize + end.length);
    let at = 0;
    for (const c of [...this.#chunks, ...this.#central, end]) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
