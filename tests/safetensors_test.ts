/** The safetensors reader: round trip, and a one-line UserError for every kind of broken file. */
import assert from "node:assert/strict";
import { UserError } from "../src/errors.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type NamedTensor,
} from "../src/model/safetensors.ts";
import { randArray } from "./util.ts";

const TENSORS: NamedTensor[] = [
  { name: "a.weight", shape: [3, 5], data: randArray(15, 1) },
  { name: "b", shape: [7], data: randArray(7, 2) },
  { name: "empty", shape: [0, 4], data: new Float32Array(0) },
  { name: "scalar", shape: [], data: new Float32Array([42.5]) },
];

/** A file with a hand-written header (padded to 8 bytes) followed by `data`. */
function rawFile(header: unknown, data: Uint8Array, headerLen?: bigint): Uint8Array {
  let json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  json = padded;
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => decodeSafetensors(bytes, "x/model.safetensors"), (e: unknown) => {
    assert.ok(e instanceof UserError, `expected UserError, got ${e}`);
    assert.equal(e.exitCode, 2);
    assert.ok(!e.message.includes("\n"), `message is not one line: ${e.message}`);
    assert.match(e.message, /^x\/model\.safetensors: not a valid safetensors file: /);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("safetensors round trip keeps names, shapes, bits and metadata", () => {
  const bytes = encodeSafetensors(TENSORS, { format: "pt", note: "ünïcode" });
  const f = decodeSafetensors(bytes, "t");
  assert.deepEqual([...f.tensors.keys()], TENSORS.map((t) => t.name));
  for (const t of TENSORS) {
    const got = f.tensors.get(t.name)!;
    assert.deepEqual(got.shape, t.shape);
    assert.deepEqual(
      new Uint32Array(got.data.slice().buffer),
      new Uint32Array(t.data.slice().buffer),
    );
  }
  assert.deepEqual(f.metadata, { format: "pt", note: "ünïcode" });
  // Header padded so the data is 8-byte aligned, as the format recommends.
  assert.equal(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8, 0);
});

Deno.test("safetensors reads from a buffer at an unaligned offset", () => {
  const bytes = encodeSafetensors(TENSORS);
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  const f = decodeSafetensors(shifted.subarray(1), "t");
  assert.deepEqual(Array.from(f.tensors.get("b")!.data), Array.from(TENSORS[1].data));
});

Deno.test("safetensors rejects hostile files with one line naming the problem", async (t) => {
  const good = encodeSafetensors(TENSORS);
  const f32 = (n: number) => new Uint8Array(n * 4);
  await t.step(
    "shorter than the length prefix",
    () => rejects(good.subarray(0, 5), /only 5 bytes/),
  );
  await t.step("empty file", () => rejects(new Uint8Array(0), /only 0 bytes/));
  await t.step("truncated in the data", () => {
    rejects(good.subarray(0, good.length - 3), /lies past the end of the data/);
  });
  await t.step("truncated in the header", () => rejects(good.subarray(0, 20), /header length/));
  await t.step("header length past the end", () => {
    rejects(rawFile({}, f32(1), 1n << 40n), /header length 1099511627776 exceeds the file size/);
  });
  await t.step("header length 2^64-1", () => {
    rejects(rawFile({}, f32(0), (1n << 64n) - 1n), /header length \d+ exceeds/);
  });
  await t.step("header not JSON", () => rejects(rawFile("{not json", f32(0)), /not valid JSON/));
  await t.step("header not UTF-8", () => {
    const b = rawFile("{}", f32(0));
    b[8] = 0xFF;
    rejects(b, /not valid JSON/);
  });
  await t.step("header is an array", () => rejects(rawFile([1, 2], f32(0)), /not a JSON object/));
  await t.step("entry not an object", () => rejects(rawFile({ w: 3 }, f32(0)), /entry "w"/));
  await t.step("wrong dtype", () => {
    const h = { w: { dtype: "F16", shape: [2], data_offsets: [0, 4] } };
    rejects(rawFile(h, f32(1)), /tensor "w" has dtype "F16", expected F32/);
  });
  await t.step("shape not integers", () => {
    const h = { w: { dtype: "F32", shape: [2.5], data_offsets: [0, 8] } };
    rejects(rawFile(h, f32(2)), /tensor "w" has a bad shape/);
  });
  await t.step("negative shape", () => {
    const h = { w: { dtype: "F32", shape: [-1], data_offsets: [0, 0] } };
    rejects(rawFile(h, f32(0)), /bad shape/);
  });
  await t.step("shape disagrees with the byte count", () => {
    const h = { w: { dtype: "F32", shape: [3, 3], data_offsets: [0, 32] } };
    rejects(rawFile(h, f32(8)), /tensor "w" has 32 bytes for shape \[3, 3\]/);
  });
  await t.step("offsets past the end", () => {
    const h = { w: { dtype: "F32", shape: [4], data_offsets: [16, 32] } };
    rejects(rawFile(h, f32(4)), /data \[16, 32\) lies past the end of the data \(16 bytes\)/);
  });
  await t.step("offsets reversed", () => {
    const h = { w: { dtype: "F32", shape: [1], data_offsets: [8, 4] } };
    rejects(rawFile(h, f32(4)), /lies past the end|bytes for shape/);
  });
  await t.step("offsets malformed", () => {
    const h = { w: { dtype: "F32", shape: [1], data_offsets: [0] } };
    rejects(rawFile(h, f32(1)), /bad data_offsets/);
  });
  await t.step("metadata value not a string", () => {
    rejects(rawFile({ __metadata__: { step: 3 } }, f32(0)), /metadata "step" is not a string/);
  });
  await t.step("a name with a newline stays on one line", () => {
    const h = { "evil\nname": { dtype: "I64", shape: [1], data_offsets: [0, 8] } };
    rejects(rawFile(h, f32(2)), /tensor "evil\\nname" has dtype "I64"/);
  });
});
