/**
 * Test helper: reads a torch.save zip (stored records) and interprets its data.pkl far enough to
 * list a state dict: for each key the storage key, offset, shape, stride and the float32 data.
 * Written from the zip spec and Python's pickle opcodes, independently of src/export; strict about
 * what it does not know (unknown opcode or global → throws), and checks every record's CRC-32.
 */
import { crc32 } from "../src/export/torch_pickle.ts";

export interface ZipRecord {
  name: string;
  data: Uint8Array;
  /** Offset of the data in the file. */
  dataOffset: number;
}

/** Reads the central directory and each record's local header; checks sizes and CRCs. */
export function readZip(b: Uint8Array): ZipRecord[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let eocd = -1;
  for (let i = b.length - 22; i >= 0; i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("no end of central directory");
  const count = dv.getUint16(eocd + 10, true);
  let at = dv.getUint32(eocd + 16, true);
  const out: ZipRecord[] = [];
  const dec = new TextDecoder();
  for (let r = 0; r < count; r++) {
    if (dv.getUint32(at, true) !== 0x02014b50) throw new Error(`bad central header ${r}`);
    if (dv.getUint16(at + 10, true) !== 0) throw new Error("compressed record");
    const crc = dv.getUint32(at + 16, true);
    const size = dv.getUint32(at + 24, true);
    const nlen = dv.getUint16(at + 28, true);
    const xlen = dv.getUint16(at + 30, true);
    const clen = dv.getUint16(at + 32, true);
    const local = dv.getUint32(at + 42, true);
    const name = dec.decode(b.subarray(at + 46, at + 46 + nlen));
    at += 46 + nlen + xlen + clen;
    if (dv.getUint32(local, true) !== 0x04034b50) throw new Error(`bad local header ${name}`);
    const lname = dec.decode(b.subarray(local + 30, local + 30 + dv.getUint16(local + 26, true)));
    if (lname !== name) throw new Error(`local name ${lname} != ${name}`);
    const dataOffset = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    const data = b.subarray(dataOffset, dataOffset + size);
    if (data.length !== size) throw new Error(`${name}: truncated`);
    if (crc32(data) !== crc) throw new Error(`${name}: CRC mismatch`);
    out.push({ name, data, dataOffset });
  }
  return out;
}

export interface PickledTensor {
  storageKey: string;
  storageType: string;
  location: string;
  numel: number;
  offset: number;
  shape: number[];
  stride: number[];
  requiresGrad: boolean;
}

type PV = unknown;
const MARK = Symbol("mark");

/** Interprets a state-dict pickle: returns the keys in order with their tensor descriptions. */
export function unpickleStateDict(
  p: Uint8Array,
): { globals: string[]; entries: [string, PickledTensor][] } {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const dec = new TextDecoder("utf-8", { fatal: true });
  const stack: PV[] = [];
  const globals: string[] = [];
  const memo = new Map<number, PV>();
  let i = 0;
  const line = () => {
    const j = p.indexOf(0x0a, i);
    const s = dec.decode(p.subarray(i, j));
    i = j + 1;
    return s;
  };
  const popMark = () => {
    const k = stack.lastIndexOf(MARK);
    if (k < 0) throw new Error("no mark");
    const items = stack.splice(k);
    items.shift();
    return items;
  };
  const call = (fn: PV, args: PV[]): PV => {
    if (fn === "collections.OrderedDict" && args.length === 0) return new Map<string, PV>();
    if (fn === "torch._utils._rebuild_tensor_v2") {
      const [storage, offset, shape, stride, requiresGrad, hooks] = args as [
        PV[],
        number,
        number[],
        number[],
        boolean,
        Map<string, PV>,
      ];
      if (!(hooks instanceof Map) || hooks.size !== 0) throw new Error("backward hooks");
      const [kind, storageType, storageKey, location, numel] = storage as [
        string,
        string,
        string,
        string,
        number,
      ];
      if (kind !== "storage") throw new Error(`persistent id ${kind}`);
      return { storageKey, storageType, location, numel, offset, shape, stride, requiresGrad };
    }
    throw new Error(`call of ${String(fn)}`);
  };
  for (;;) {
    const op = p[i++];
    switch (op) {
      case 0x80: // PROTO
        i++;
        break;
      case 0x63: { // GLOBAL
        const g = `${line()}.${line()}`;
        globals.push(g);
        stack.push(g);
        break;
      }
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85:
      case 0x86:
      case 0x87: { // TUPLE1..3
        const n = op - 0x84;
        stack.push(stack.splice(stack.length - n));
        break;
      }
      case 0x52: { // REDUCE
        const args = stack.pop() as PV[];
        const fn = stack.pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x51: // BINPERSID: the id stays as the tuple itself
        break;
      case 0x58: { // BINUNICODE
        const n = dv.getUint32(i, true);
        stack.push(dec.decode(p.subarray(i + 4, i + 4 + n)));
        i += 4 + n;
        break;
      }
      case 0x4a: // BININT
        stack.push(dv.getInt32(i, true));
        i += 4;
        break;
      case 0x4b: // BININT1
        stack.push(p[i++]);
        break;
      case 0x4d: // BININT2
        stack.push(dv.getUint16(i, true));
        i += 2;
        break;
      case 0x8a: { // LONG1
        const n = p[i++];
        let v = 0n;
        for (let k = n - 1; k >= 0; k--) v = (v << 8n) | BigInt(p[i + k]);
        if (n > 0 && p[i + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        i += n;
        break;
      }
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x71: // BINPUT
        memo.set(p[i++], stack[stack.length - 1]);
        break;
      case 0x68: // BINGET
        stack.push(memo.get(p[i++]));
        break;
      case 0x75: { // SETITEMS
        const items = popMark();
        const d = stack[stack.length - 1] as Map<string, PV>;
        for (let k = 0; k < items.length; k += 2) d.set(items[k] as string, items[k + 1]);
        break;
      }
      case 0x2e: { // STOP
        if (stack.length !== 1 || !(stack[0] instanceof Map)) throw new Error("not a dict");
        return { globals, entries: [...(stack[0] as Map<string, PickledTensor>).entries()] };
      }
      default:
        throw new Error(`opcode 0x${op?.toString(16)} at ${i - 1}`);
    }
  }
}

/** A torch.save state dict as {name: {shape, data}} plus the raw structure, for assertions. */
export function readTorchStateDict(bytes: Uint8Array) {
  const records = readZip(bytes);
  const prefix = records[0].name.split("/")[0];
  const byName = new Map(records.map((r) => [r.name, r]));
  const pkl = byName.get(`${prefix}/data.pkl`);
  if (!pkl) throw new Error("no data.pkl");
  const { globals, entries } = unpickleStateDict(pkl.data);
  const tensors = new Map<string, { shape: number[]; data: Float32Array; t: PickledTensor }>();
  for (const [name, t] of entries) {
    const rec = byName.get(`${prefix}/data/${t.storageKey}`);
    if (!rec) throw new Error(`${name}: no storage ${t.storageKey}`);
    if (rec.data.length !== t.numel * 4) throw new Error(`${name}: storage size`);
    const data = new Float32Array(
      rec.data.slice().buffer,
      t.offset * 4,
      t.shape.reduce((a, b) => a * b, 1),
    );
    tensors.set(name, { shape: t.shape, data, t });
  }
  return { prefix, records, globals, tensors };
}
