/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, then the
 * raw little-endian data. Browser-safe (bytes in, bytes out). The reader validates everything a
 * truncated or hostile file could get wrong and names the problem.
 */
import { UserError } from "../errors.ts";

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, NamedTensor>;
  metadata: Record<string, string>;
}

/**
 * The header of a safetensors file of f32 tensors with these names and shapes, in this order:
 * its bytes (the 8-byte length, then the JSON padded with spaces to a multiple of 8, so the data
 * that follows is 8-byte aligned), and each tensor's data offset from the header's end, in bytes.
 */
export function safetensorsHeader(
  tensors: readonly { name: string; shape: readonly number[] }[],
  metadata: Record<string, string> = {},
): { bytes: Uint8Array; offsets: number[]; dataBytes: number } {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + bytes] };
    offsets.push(offset);
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const bytes = new Uint8Array(8 + padded).fill(0x20, 8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, 8);
  return { bytes, offsets, dataBytes: offset };
}

/** Serialises f32 tensors (in the given order) and string metadata. */
export function encodeSafetensors(
  tensors: readonly NamedTensor[],
  metadata: Record<string, string> = {},
): Uint8Array {
  for (const t of tensors) {
    if (t.data.length !== t.shape.reduce((a, b) => a * b, 1)) {
      throw new Error(`encodeSafetensors: ${t.name} has ${t.data.length} values for [${t.shape}]`);
    }
  }
  const h = safetensorsHeader(tensors, metadata);
  const out = new Uint8Array(h.bytes.length + h.dataBytes);
  out.set(h.bytes);
  tensors.forEach((t, i) => {
    // The platform is little-endian (WebAssembly and every target we run on).
    out.set(
      new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length * 4),
      h.bytes.length + h.offsets[i],
    );
  });
  return out;
}

/** Parses and validates a safetensors file; `file` names it in errors. Only F32 is accepted. */
export function decodeSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  const bad = (why: string): never => {
    throw new UserError(`${file}: not a valid safetensors file: ${why}`);
  };
  // Names come from the file: quote them so a hostile one cannot break the one-line message.
  const q = (name: string) => JSON.stringify(name.length > 80 ? name.slice(0, 80) + "…" : name);
  if (bytes.length < 8) bad(`only ${bytes.length} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = dv.getBigUint64(0, true);
  if (hlen > BigInt(bytes.length - 8)) {
    bad(`header length ${hlen} exceeds the file size ${bytes.length}`);
  }
  if (hlen > 100_000_000n) bad(`header length ${hlen} is implausibly large (over 100 MB)`);
  const h = Number(hlen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + h)));
  } catch {
    bad("header is not valid JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    bad("header is not a JSON object");
  }
  const dataStart = 8 + h;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, NamedTensor>();
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof info !== "object" || info === null) bad("__metadata__ is not an object");
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== "string") bad(`metadata ${q(k)} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t !== "object" || t === null) bad(`entry ${q(name)} is not an object`);
    if (t.dtype !== "F32") bad(`tensor ${q(name)} has dtype ${q(String(t.dtype))}, expected F32`);
    const shape = t.shape;
    if (
      !Array.isArray(shape) || shape.length > 8 ||
      shape.some((d) => !Number.isSafeInteger(d) || d < 0)
    ) bad(`tensor ${q(name)} has a bad shape`);
    const offs = t.data_offsets;
    if (
      !Array.isArray(offs) || offs.length !== 2 ||
      offs.some((o) => !Number.isSafeInteger(o) || o < 0)
    ) bad(`tensor ${q(name)} has bad data_offsets`);
    const [b, e] = offs as number[];
    const count = (shape as number[]).reduce((x, y) => x * y, 1);
    if (e < b || e > dataLen) {
      bad(`tensor ${q(name)} data [${b}, ${e}) lies past the end of the data (${dataLen} bytes)`);
    }
    if (e - b !== count * 4) {
      bad(`tensor ${q(name)} has ${e - b} bytes for shape [${(shape as number[]).join(", ")}]`);
    }
    // Float32Array views need 4-byte alignment in the underlying buffer, not just in the file:
    // unaligned data is copied out.
    const at = bytes.byteOffset + dataStart + b;
    const data = at % 4 === 0
      ? new Float32Array(bytes.buffer, at, count)
      : new Float32Array(bytes.slice(dataStart + b, dataStart + e).buffer);
    tensors.set(name, { name, shape: shape as number[], data });
  }
  return { tensors, metadata };
}
