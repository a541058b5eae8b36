/**
 * `import --format reference`: a circuit_sparsity model folder becomes a run folder computing the
 * same function. Round trips through `export --format reference` give back the same
 * model.safetensors, byte for byte; files torch itself wrote (tests/torch_saved/, made by its
 * make.py) are read exactly, and a model the reference wrote imports with the reference's logits;
 * every bad input is one line, exit 2, and nothing under --out. The comparison with the
 * reference's code running live is tests/reference_import_test.ts (needs Python with torch).
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { assertUserError, makeRandomRun } from "./run_fixture.ts";
import { exportCommand } from "../src/export/cli_export.ts";
import { crc32, encodeTorchStateDict, type TorchTensor } from "../src/export/torch_pickle.ts";
import { evalCommand } from "../src/eval/cli_eval.ts";
import { importCommand } from "../src/import/cli_import.ts";
import { loadTorchStateDict, type ZipRecord } from "../src/import/torch_load.ts";
import { UserError } from "../src/errors.ts";
import { decodeSafetensors } from "../src/model/safetensors.ts";
import { loadRun } from "../src/run/run_dir.ts";
import { PRESETS } from "../src/train/presets.ts";
import type { RunConfig } from "../src/run/config.ts";
import { train } from "../src/train/trainer.ts";
import { sha256Hex } from "../src/util/sha256.ts";

const SAVED = new URL("./torch_saved", import.meta.url).pathname;

const RC: RunConfig = {
  model: { ...PRESETS.tiny.model, nLayer: 2, baseDModel: 32, baseDMlp: 64, nCtx: 16 },
  train: { ...PRESETS.tiny.train },
};

const dirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const d of dirs) Deno.removeSync(d, { recursive: true });
});

async function tempDir(): Promise<string> {
  const d = await Deno.makeTempDir({ prefix: "thinwire-import-" });
  dirs.push(d);
  return d;
}

/** A random-init run (as the trainer lays it out), exported with `export --format reference`. */
async function exported(model: Partial<RunConfig["model"]> = {}): Promise<[string, string]> {
  const run = await makeRandomRun(
    { model: { ...RC.model, ...model }, train: RC.train },
    "thinwire-import-",
    5,
  );
  dirs.push(run);
  const ref = `${await tempDir()}/ref`;
  assert.equal(await exportCommand(["--model", run, "--format", "reference", "--out", ref]), 0);
  return [run, ref];
}

function importArgs(from: string, out: string, ...more: string[]): string[] {
  return ["--format", "reference", "--from", from, "--out", out, ...more];
}

/** The logits [V, T] of `ids` under a run folder's model. */
async function logits(dir: string, ids: number[]): Promise<Float32Array> {
  const r = await loadRun(dir, { threads: 1 });
  try {
    r.model.forward(Int32Array.from(ids), null, 1, ids.length);
    return r.be.arena.f32(r.model.acts.logits, r.rc.model.vocabSize * ids.length).slice();
  } finally {
    r.close();
  }
}

const sha = async (path: string) => await sha256Hex(await Deno.readFile(path));

const PROMPT = [2047, 87, 12, 400, 5, 1999, 64, 3];

for (
  const [label, model] of [
    ["no positions, AbsTopK everywhere", {}],
    ["d_pos_emb 8, no sink, no bigram", { dPosEmb: 8, sink: false, bigram: false }],
    ["AbsTopK at 3 places, added positions", {
      afracLoctypes: ["attn_q", "attn_out", "mlp_neuron"],
      addPosEmb: true,
    }],
  ] as [string, Partial<RunConfig["model"]>][]
) {
  Deno.test(`import: export → import gives the same model.safetensors (${label})`, async () => {
    const [run, ref] = await exported(model);
    const back = `${await tempDir()}/runs/back`;
    assert.equal(await importCommand(importArgs(ref, back)), 0);
    assert.equal(await sha(`${back}/model.safetensors`), await sha(`${run}/model.safetensors`));
    const cfg = JSON.parse(await Deno.readTextFile(`${back}/config.json`));
    assert.deepEqual(cfg.model, { ...RC.model, ...model });
    assert.equal(cfg.imported.format, "reference");
    assert.equal(cfg.imported.from, resolve(ref));
    assert.equal(cfg.imported.tokenizer.source, "built-in");
    assert.deepEqual(await logits(back, PROMPT), await logits(run, PROMPT));
    assert.equal((await Deno.stat(back)).mode! & 0o777, 0o755);
  });
}

Deno.test("import: a trained tiny run round-trips bit for bit, and eval works on it", async () => {
  const dir = await tempDir();
  const rc: RunConfig = {
    model: PRESETS.tiny.model,
    train: { ...PRESETS.tiny.train, steps: 6, evalEvery: 6, saveEvery: 6 },
  };
  await train({ out: `${dir}/run`, rc, threads: 1, resume: false, quiet: true });
  assert.equal(
    await exportCommand(["--model", `${dir}/run`, "--format", "reference", "--out", `${dir}/ref`]),
    0,
  );
  assert.equal(await importCommand(importArgs(`${dir}/ref`, `${dir}/back`)), 0);
  assert.equal(
    await sha(`${dir}/back/model.safetensors`),
    await sha(`${dir}/run/model.safetensors`),
  );
  const json = `${dir}/eval.json`;
  const args = [
    "--model",
    `${dir}/back`,
    "--pairs",
    "2",
    "--task",
    "single_double_quote",
    "--json",
  ];
  assert.equal(await evalCommand([...args, json, "--threads", "1"]), 0);
  const a = JSON.parse(await Deno.readTextFile(json));
  assert.equal(await evalCommand(["--model", `${dir}/run`, ...args.slice(2), `${json}2`]), 0);
  const b = JSON.parse(await Deno.readTextFile(`${json}2`));
  assert.deepEqual(a.tasks, b.tasks);
});

Deno.test("torch reader: what torch.save wrote (protocols 2 and 4), value for value", () => {
  const expected = JSON.parse(Deno.readTextFileSync(`${SAVED}/assorted.json`));
  for (const file of ["assorted.pt", "assorted_p4.pt"]) {
    const sd = loadTorchStateDict(Deno.readFileSync(`${SAVED}/${file}`), file);
    assert.deepEqual([...sd.tensors.keys()], Object.keys(expected), file);
    for (const [name, e] of Object.entries(expected) as [string, Record<string, unknown>][]) {
      const t = sd.tensors.get(name)!;
      assert.equal(t.dtype, e.dtype, name);
      assert.deepEqual(t.shape, e.shape, name);
      const got = [...t.read()];
      (e.values as number[]).forEach((x, i) =>
        assert.ok(Object.is(got[i], x), `${file} ${name}[${i}]: ${got[i]} vs ${x}`)
      );
    }
    // A strided view at an offset, and two tensors of one storage.
    assert.deepEqual(sd.tensors.get("view")!.stride, [1, 12]);
    assert.equal(sd.tensors.get("view")!.offset, 1);
    assert.equal(sd.tensors.get("view")!.storageKey, sd.tensors.get("shared")!.storageKey);
  }
});

Deno.test("torch reader: a damaged pickle is one line or a state dict, never a crash", () => {
  // Every single-byte change of a real data.pkl, CRCs fixed up, through the whole reader.
  const file = Deno.readFileSync(`${SAVED}/assorted_p4.pt`);
  const records = loadTorchStateDict(file, "f").records;
  const k = records.findIndex((r) => r.name.endsWith("/data.pkl"));
  const pkl = records[k].data;
  let refused = 0, read = 0;
  for (let i = 0; i < pkl.length; i++) {
    for (const x of [0x00, 0x29, 0x4a, 0x58, 0x71, 0x8c, 0xff, pkl[i] ^ 0x01]) {
      const bad = pkl.slice();
      bad[i] = x;
      const zip = rezip(records.map((r, j) => j === k ? { ...r, data: bad } : r), {
        descriptor: false,
        zip64: false,
      });
      try {
        const sd = loadTorchStateDict(zip, "f.pt");
        for (const t of sd.tensors.values()) t.read();
        read++;
      } catch (e) {
        if (!(e instanceof UserError) || e.message.includes("\n")) throw e;
        refused++;
      }
    }
  }
  assert.ok(refused > 0 && read > 0, `${refused} refused, ${read} read`);
});

/** A zip of these records the way a streamed (data descriptors) or zip64 writer lays them out. */
function rezip(records: ZipRecord[], how: { descriptor: boolean; zip64: boolean }): Uint8Array {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const put = (b: Uint8Array) => (chunks.push(b), size += b.length);
  const le = (n: number, v: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(v / 2 ** (8 * i)) & 0xff;
    put(b);
  };
  const u16 = (v: number) => le(2, v), u32 = (v: number) => le(4, v), u64 = (v: number) => le(8, v);
  const enc = new TextEncoder();
  const central: { name: Uint8Array; crc: number; size: number; at: number }[] = [];
  for (const r of records) {
    const name = enc.encode(r.name), crc = crc32(r.data), at = size;
    u32(0x04034b50), u16(45), u16(how.descriptor ? 8 : 0), u16(0), u32(0);
    if (how.descriptor) u32(0), u32(0), u32(0);
    else u32(crc), u32(r.data.length), u32(r.data.length);
    u16(name.length), u16(0), put(name), put(r.data);
    if (how.descriptor) u32(0x08074b50), u32(crc), u32(r.data.length), u32(r.data.length);
    central.push({ name, crc, size: r.data.length, at });
  }
  const cd = size;
  for (const c of central) {
    const big = how.zip64 ? 0xffffffff : null;
    u32(0x02014b50), u16(45), u16(45), u16(how.descriptor ? 8 : 0), u16(0), u32(0), u32(c.crc);
    u32(big ?? c.size), u32(big ?? c.size), u16(c.name.length), u16(how.zip64 ? 28 : 0);
    u16(0), u16(0), u16(0), u32(0), u32(big ?? c.at), put(c.name);
    if (how.zip64) u16(0x0001), u16(24), u64(c.size), u64(c.size), u64(c.at);
  }
  const cdEnd = size;
  if (how.zip64) {
    u32(0x06064b50), u64(44), u16(45), u16(45), u32(0), u32(0);
    u64(central.length), u64(central.length), u64(cdEnd - cd), u64(cd);
    u32(0x07064b50), u32(0), u64(cdEnd), u32(1);
  }
  u32(0x06054b50), u16(0), u16(0);
  u16(how.zip64 ? 0xffff : central.length), u16(how.zip64 ? 0xffff : central.length);
  u32(how.zip64 ? 0xffffffff : cdEnd - cd), u32(how.zip64 ? 0xffffffff : cd), u16(0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) out.set(c, at), at += c.length;
  return out;
}

Deno.test("torch reader: data descriptors and zip64 records read the same; a bad CRC is refused", async () => {
  const [run, ref] = await exported({ bigram: false });
  const file = await Deno.readFile(`${ref}/final_model.pt`);
  const plain = loadTorchStateDict(file, "plain");
  for (
    const how of [{ descriptor: true, zip64: false }, { descriptor: false, zip64: true }, {
      descriptor: true,
      zip64: true,
    }]
  ) {
    const other = loadTorchStateDict(rezip(plain.records, how), JSON.stringify(how));
    assert.deepEqual([...other.tensors.keys()], [...plain.tensors.keys()]);
    for (const [n, t] of other.tensors) assert.deepEqual(t.read(), plain.tensors.get(n)!.read(), n);
    // The import of such a folder is the same run.
    const dir = await tempDir();
    await Deno.copyFile(`${ref}/beeg_config.json`, `${dir}/beeg_config.json`);
    await Deno.writeFile(`${dir}/final_model.pt`, rezip(plain.records, how));
    assert.equal(await importCommand(importArgs(dir, `${dir}/back`)), 0);
    assert.equal(await sha(`${dir}/back/model.safetensors`), await sha(`${run}/model.safetensors`));
  }
  const damaged = file.slice();
  damaged[plain.records.find((r) => r.name.endsWith("/data/3"))!.dataOffset + 1] ^= 1;
  assert.throws(() => loadTorchStateDict(damaged, "f.pt"), /data\/3" fails its CRC-32 check/);
});

Deno.test("import: a model the reference wrote with torch gives the reference's logits", async () => {
  const prompts: number[][] = JSON.parse(Deno.readTextFileSync(`${SAVED}/gpt_tiny.prompts.json`));
  const want =
    decodeSafetensors(Deno.readFileSync(`${SAVED}/gpt_tiny.logits.safetensors`), "l").tensors;
  const dir = await tempDir();
  const names: string[] = [];
  for (const tok of ["tiny.tiktoken", "tiny.encoder.json"]) {
    const out = `${dir}/${tok}`;
    assert.equal(
      await importCommand(importArgs(`${SAVED}/gpt_tiny`, out, "--tokenizer", `${SAVED}/${tok}`)),
      0,
    );
    const cfg = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
    names.push(cfg.tokenizer);
    // GPTConfig's defaults for what beeg_config.json leaves out: AbsTopK at four places.
    assert.deepEqual(cfg.model.afracLoctypes, ["attn_in", "attn_out", "mlp_in", "mlp_out"]);
    assert.equal(cfg.model.addPosEmb, true);
    assert.equal(cfg.imported.tokenizer.tokenizer_name, "tinypython_2k");
    let worst = 0;
    for (const [j, ids] of prompts.entries()) {
      const ours = await logits(out, ids), theirs = want.get(`${j}.logits`)!.data;
      const V = 264, T = ids.length;
      for (let t = 0; t < T; t++) {
        for (let v = 0; v < V; v++) {
          worst = Math.max(worst, Math.abs(ours[v * T + t] - theirs[t * V + v]));
        }
      }
    }
    // float32 rounding of logits of size ~5 (1e-5 is 80 ulp there).
    assert.ok(worst < 1e-5, `logits differ by ${worst}`);
  }
  assert.equal(names[0], names[1]);
  // --n-ctx keeps the first positions: the same logits on prompts that fit.
  const cut = `${dir}/cut`;
  assert.equal(
    await importCommand(
      importArgs(`${SAVED}/gpt_tiny`, cut, "--tokenizer", `${SAVED}/tiny.tiktoken`, "--n-ctx", "8"),
    ),
    0,
  );
  assert.equal(JSON.parse(await Deno.readTextFile(`${cut}/config.json`)).model.nCtx, 8);
  assert.deepEqual(await logits(cut, prompts[0]), await logits(`${dir}/tiny.tiktoken`, prompts[0]));
});

Deno.test("import: the tasks cope with a foreign tokenizer (not measurable, said per task)", async () => {
  const dir = await tempDir();
  assert.equal(
    await importCommand(
      importArgs(`${SAVED}/gpt_tiny`, `${dir}/run`, "--tokenizer", `${SAVED}/tiny.tiktoken`),
    ),
    0,
  );
  const json = `${dir}/eval.json`;
  assert.equal(
    await evalCommand(["--model", `${dir}/run`, "--pairs", "2", "--json", json, "--threads", "1"]),
    0,
  );
  const tasks = JSON.parse(await Deno.readTextFile(json)).tasks as {
    measurable: boolean;
    note: string | null;
  }[];
  assert.equal(tasks.length, 20);
  for (const t of tasks) {
    assert.ok(
      t.measurable || /not measurable: '.*' is \d+ tokens/.test(t.note ?? ""),
      JSON.stringify(t),
    );
  }
});

/** A reference folder from `ref` with beeg_config.json edited and/or the state dict replaced. */
async function variant(
  ref: string,
  edit: {
    config?: (c: Record<string, unknown>) => void;
    tensors?: (t: TorchTensor[]) => TorchTensor[];
    pt?: Uint8Array | string;
  },
): Promise<string> {
  const dir = await tempDir();
  const cfg = JSON.parse(await Deno.readTextFile(`${ref}/beeg_config.json`));
  edit.config?.(cfg);
  await Deno.writeTextFile(`${dir}/beeg_config.json`, JSON.stringify(cfg));
  if (typeof edit.pt === "string") {
    await Deno.copyFile(edit.pt, `${dir}/final_model.pt`);
  } else if (edit.pt) {
    await Deno.writeFile(`${dir}/final_model.pt`, edit.pt);
  } else {
    const sd = loadTorchStateDict(await Deno.readFile(`${ref}/final_model.pt`), "ref");
    let ts: TorchTensor[] = [...sd.tensors.values()].map((t) => ({
      name: t.name,
      shape: t.shape,
      data: t.read(),
    }));
    if (edit.tensors) ts = edit.tensors(ts);
    await Deno.writeFile(`${dir}/final_model.pt`, encodeTorchStateDict(ts));
  }
  return dir;
}

/** The causal mask a flash=False model keeps as buffer `attn.bias` [1, 1, T, T] (ones on and below the diagonal). */
function causalMask(T: number, flip = false): Float32Array {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) m[i * T + j] = 1;
  if (flip) m[1] = 1;
  return m;
}

Deno.test("import: what load_model tolerates (tied, no biases, no final_logits_bias, mask buffers)", async () => {
  const [run, ref] = await exported({ bigram: false });
  const base = await logits(run, PROMPT);
  const only = (names: string[]) => (ts: TorchTensor[]) =>
    ts.filter((x) => !names.includes(x.name));
  // Tied: one tensor for wte and lm_head, saved under one name or both.
  const tied = await variant(ref, {
    config: (c) => void (c.tied_unembed = true),
    tensors: (ts) => {
      const wte = ts.find((x) => x.name === "transformer.wte.weight")!;
      return only(["lm_head.weight", "final_logits_bias"])(ts).concat([{
        ...wte,
        name: "lm_head.weight",
      }]);
    },
  });
  const out = `${await tempDir()}/tied`;
  assert.equal(await importCommand(importArgs(tied, out)), 0);
  const w = decodeSafetensors(await Deno.readFile(`${out}/model.safetensors`), "m").tensors;
  assert.deepEqual(w.get("lm_head.weight")!.data, w.get("transformer.wte.weight")!.data);
  const tiedOne = await variant(tied, { tensors: only(["lm_head.weight"]) });
  assert.equal(await importCommand(importArgs(tiedOne, `${out}1`)), 0);
  assert.equal(await sha(`${out}1/model.safetensors`), await sha(`${out}/model.safetensors`));
  // bias false: the file has no Linear biases; with zero biases the export's model is the same.
  const zeroBias = (ts: TorchTensor[]) =>
    ts.map((x) =>
      /\.(c_attn|c_proj|c_fc)\.bias$/.test(x.name)
        ? { ...x, data: new Float32Array(x.data.length) }
        : x
    );
  const noBias = await variant(ref, {
    config: (c) => void (c.bias = false),
    tensors: (ts) => ts.filter((x) => !/\.(c_attn|c_proj|c_fc)\.bias$/.test(x.name)),
  });
  const zeroed = await variant(ref, { tensors: zeroBias });
  assert.equal(await importCommand(importArgs(noBias, `${out}2`)), 0);
  assert.equal(await importCommand(importArgs(zeroed, `${out}3`)), 0);
  assert.equal(await sha(`${out}2/model.safetensors`), await sha(`${out}3/model.safetensors`));
  // A flash=False model's causal masks are ignored; anything else under that name is not.
  const masks = (flip: boolean) => (ts: TorchTensor[]) =>
    ts.concat(
      [0, 1].map((i) => ({
        name: `transformer.h.${i}.attn.bias`,
        shape: [1, 1, 16, 16],
        data: causalMask(16, flip && i === 1),
      })),
    );
  const withMasks = await variant(ref, { tensors: masks(false) });
  assert.equal(await importCommand(importArgs(withMasks, `${out}4`)), 0);
  assert.deepEqual(await logits(`${out}4`, PROMPT), base);
  await assertUserError(
    importCommand(importArgs(await variant(ref, { tensors: masks(true) }), `${out}5`)),
    /transformer\.h\.1\.attn\.bias is not the causal mask \(row 0\)/,
  );
});

Deno.test("import: bad input is one line, exit 2, and nothing under --out", async (t) => {
  // Without the bigram table (2048² floats) every variant below is quick to write.
  const [run, ref] = await exported({ bigram: false });
  const tinyTok = `${SAVED}/tiny.tiktoken`;
  const set = (k: string, v: unknown) => ({
    config: (c: Record<string, unknown>) => void (c[k] = v),
  });
  const drop = (k: string) => ({ config: (c: Record<string, unknown>) => void delete c[k] });
  const tensors = (f: (t: TorchTensor[]) => TorchTensor[]) => ({ tensors: f });
  // 403M parameters at block_size 1024 (its config; the state dict stays the small model's).
  const wide403M = () =>
    variant(ref, {
      config: (c) =>
        Object.assign(c, { d_model: 2048, n_head: 128, d_mlp: 8192, n_layer: 8, block_size: 1024 }),
    });
  const cases: [string, () => string[] | Promise<string[]>, RegExp][] = [
    [
      "no such folder",
      async () => ["--from", `${await tempDir()}/none`],
      /--from .*: no such folder/,
    ],
    ["--from a file", () => ["--from", `${ref}/beeg_config.json`], /is not a folder/],
    [
      "no beeg_config.json",
      async () => ["--from", await tempDir()],
      /beeg_config\.json: no such file/,
    ],
    ["no final_model.pt", async () => {
      const d = await tempDir();
      await Deno.copyFile(`${ref}/beeg_config.json`, `${d}/beeg_config.json`);
      return ["--from", d];
    }, /final_model\.pt: no such file/],
    ["beeg_config.json not JSON", async () => {
      const d = await variant(ref, {});
      await Deno.writeTextFile(`${d}/beeg_config.json`, "{nope");
      return ["--from", d];
    }, /beeg_config\.json: not valid JSON/],
    [
      "an unknown field",
      async () => ["--from", await variant(ref, set("n_embd", 32))],
      /"n_embd" is not a GPTConfig field/,
    ],
    [
      "a field named like an Object property",
      async () => ["--from", await variant(ref, set("constructor", 1))],
      /"constructor" is not a GPTConfig field/,
    ],
    [
      "LayerNorm (rms_norm left to its default)",
      async () => ["--from", await variant(ref, drop("rms_norm"))],
      /rms_norm false is not supported: .*RMSNorm/,
    ],
    [
      "relu neurons",
      async () => ["--from", await variant(ref, set("activation_type", "relu"))],
      /activation_type "relu" is not supported/,
    ],
    [
      "a relu residual",
      async () => ["--from", await variant(ref, set("residual_activation_type", "relu"))],
      /residual_activation_type "relu" is not supported/,
    ],
    [
      "AbsTopK on the residual stream",
      async () => ["--from", await variant(ref, set("afrac_loctypes", "attn_in,resid_post_mlp"))],
      /afrac_loctypes names "resid_post_mlp".*residual stream/,
    ],
    [
      "n_head·d_head ≠ d_model",
      async () => ["--from", await variant(ref, set("d_head", 8))],
      /n_head 2 · d_head 8 = 16 is not supported/,
    ],
    [
      "use_tied_aux_matrix",
      async () => ["--from", await variant(ref, set("use_tied_aux_matrix", true))],
      /use_tied_aux_matrix must be false/,
    ],
    [
      "a field of the wrong type",
      async () => ["--from", await variant(ref, set("bias", "yes"))],
      /bias must be true or false, got "yes"/,
    ],
    [
      "afrac that keeps no channel",
      async () => ["--from", await variant(ref, set("afrac", 0.01))],
      /afrac 0\.01 keeps int\(0\.01·\d+\) = 0 channels of attn_in/,
    ],
    [
      "a model too large to import (the 16x sweep's widths)",
      async () => [
        "--from",
        await variant(ref, {
          config: (c) => Object.assign(c, { d_model: 4096, n_head: 256, d_mlp: 16384, n_layer: 8 }),
        }),
      ],
      /the model has \d+M parameters: an import holds them as float32 on the host and takes at most 537M \(2 GiB of them\)/,
    ],
    [
      "a model whose one sequence does not fit (403M parameters at block_size 1024)",
      async () => [
        "--from",
        await wide403M(),
      ],
      /the model needs at least 7\.72 GiB of WebAssembly memory to open \(.*one sequence of 1024 tokens\), which holds 2\.00 GiB: --n-ctx \d+ or fewer keeps fewer positions/,
    ],
    [
      // The same with --n-ctx 64 passes the config (its sparse weights' nonzeros decide): the
      // state dict (the small model's) is what is refused.
      "the same at --n-ctx 64: the config passes",
      async () => [
        "--from",
        await wide403M(),
        "--n-ctx",
        "64",
      ],
      /final_model\.pt: tensor .* has shape \[/,
    ],
    [
      "a foreign final_model.pt",
      async () => [
        "--from",
        await variant(ref, { pt: await Deno.readFile(`${run}/model.safetensors`) }),
      ],
      /final_model\.pt: not a zip file/,
    ],
    [
      "the legacy torch format",
      async () => ["--from", await variant(ref, { pt: `${SAVED}/bad/legacy.pt` })],
      /legacy torch\.save file/,
    ],
    [
      "a pickle that is a list",
      async () => ["--from", await variant(ref, { pt: `${SAVED}/bad/list.pt` })],
      /not a state dict: data\.pkl holds a list/,
    ],
    [
      "a training checkpoint",
      async () => ["--from", await variant(ref, { pt: `${SAVED}/bad/checkpoint.pt` })],
      /"model" holds a dict, not a tensor \(a training checkpoint/,
    ],
    [
      "an int64 tensor",
      async () => ["--from", await variant(ref, { pt: `${SAVED}/bad/int64.pt` })],
      /tensor "w" is int64/,
    ],
    [
      "a pickle naming os.system",
      async () => ["--from", await variant(ref, { pt: `${SAVED}/bad/global.pt` })],
      /data\.pkl names "(posix|os)\.system", which a state dict does not need/,
    ],
    [
      "a missing tensor",
      async () => [
        "--from",
        await variant(
          ref,
          tensors((ts) => ts.filter((x) => x.name !== "transformer.h.1.mlp.c_fc.weight")),
        ),
      ],
      /tensor transformer\.h\.1\.mlp\.c_fc\.weight is missing/,
    ],
    [
      "an extra tensor",
      async () => [
        "--from",
        await variant(
          ref,
          tensors((ts) => [...ts, { name: "extra.w", shape: [1], data: Float32Array.of(1) }]),
        ),
      ],
      /unexpected tensor\(s\) "extra\.w"/,
    ],
    [
      "a misshapen tensor",
      async () => [
        "--from",
        await variant(
          ref,
          tensors((ts) =>
            ts.map((x) => x.name === "lm_head.weight" ? { ...x, shape: [32, 2048] } : x)
          ),
        ),
      ],
      /lm_head\.weight has shape \[32, 2048\], beeg_config\.json implies \[2048, 32\]/,
    ],
    [
      "a NaN",
      async () => [
        "--from",
        await variant(
          ref,
          tensors((ts) =>
            ts.map((x) =>
              x.name === "transformer.ln_f.weight"
                ? { ...x, data: x.data.map((v, i) => i === 3 ? NaN : v) }
                : x
            )
          ),
        ),
      ],
      /transformer\.ln_f\.weight has 1 NaN\/Inf/,
    ],
    [
      "a nonzero final_logits_bias",
      async () => [
        "--from",
        await variant(
          ref,
          tensors((ts) =>
            ts.map((x) => x.name === "final_logits_bias" ? { ...x, data: x.data.map(() => 1) } : x)
          ),
        ),
      ],
      /final_logits_bias is not all zeros/,
    ],
    [
      "tied weights that differ",
      async () => ["--from", await variant(ref, set("tied_unembed", true))],
      /wte\.weight and lm_head\.weight differ/,
    ],
    [
      "tinypython_2k without --tokenizer",
      async () => ["--from", await variant(ref, set("tokenizer_name", "tinypython_2k"))],
      /tokenizer_name is "tinypython_2k", not one of thinwire's: give --tokenizer FILE/,
    ],
    [
      "an unknown thinwire tokenizer",
      async () => ["--from", await variant(ref, set("tokenizer_name", "bpe2048-00000000"))],
      /names thinwire tokenizer bpe2048-00000000, which is neither/,
    ],
    [
      "a tokenizer of another size",
      async () => [
        "--from",
        await variant(ref, set("tokenizer_name", "tinypython_2k")),
        "--tokenizer",
        tinyTok,
      ],
      /has 264 ids but vocab_size is 2048/,
    ],
    [
      "a tokenizer file that is none",
      async () => [
        "--from",
        await variant(ref, set("tokenizer_name", "tinypython_2k")),
        "--tokenizer",
        `${ref}/beeg_config.json`,
      ],
      /beeg_config\.json: .*(not an id|maps to)/,
    ],
    [
      "--n-ctx beyond block_size",
      () => ["--from", ref, "--n-ctx", "17"],
      /--n-ctx 17 is more than the model's block_size 16/,
    ],
  ];
  for (const [name, args, pattern] of cases) {
    await t.step(name, async () => {
      const parent = await tempDir();
      const out = `${parent}/runs/x`;
      await assertUserError(
        importCommand(["--format", "reference", "--out", out, ...(await args())]),
        pattern,
      );
      assert.equal(
        await Deno.stat(out).then(() => true, () => false),
        false,
        "something under --out",
      );
      const left = await Array.fromAsync(Deno.readDir(parent)).catch(() => []);
      assert.ok(left.every((e) => e.name === "runs"), `left behind: ${left.map((e) => e.name)}`);
      const inRuns = await Array.fromAsync(Deno.readDir(`${parent}/runs`)).catch(() => []);
      assert.deepEqual(inRuns, [], "a temporary folder was left");
    });
  }
  await t.step("--out that holds a run, is not empty, or is a file", async () => {
    await assertUserError(importCommand(importArgs(ref, run)), /already holds a run/);
    const full = await tempDir();
    await Deno.writeTextFile(`${full}/notes.txt`, "mine");
    await assertUserError(importCommand(importArgs(ref, full)), /is not empty/);
    assert.deepEqual([...Deno.readDirSync(full)].map((e) => e.name), ["notes.txt"]);
    await assertUserError(
      importCommand(importArgs(ref, `${full}/notes.txt`)),
      /exists and is not a folder/,
    );
    const empty = await tempDir();
    assert.equal(await importCommand(importArgs(ref, empty)), 0);
  });
  await t.step("flags", async () => {
    await assertUserError(importCommand(["--from", ref, "--out", "x"]), /--format is required/);
    await assertUserError(
      importCommand(importArgs(ref, "x").map((a) => a === "reference" ? "onnx" : a)),
      /unknown format 'onnx'/,
    );
    await assertUserError(
      importCommand(["--format", "reference", "--out", "x"]),
      /--from DIR is required/,
    );
    await assertUserError(
      importCommand(["--format", "reference", "--from", ref]),
      /--out DIR is required/,
    );
    await assertUserError(
      importCommand(importArgs(ref, "x", "--n-ctx", "1")),
      /--n-ctx must be an integer ≥ 2/,
    );
  });
  await t.step("the command line: one line on stderr, exit code 2", async () => {
    const out = `${await tempDir()}/x`;
    const res = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../cli.ts", import.meta.url).pathname,
        "import",
        ...importArgs(`${SAVED}/gpt_tiny`, out),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(res.stderr).trim();
    assert.equal(res.code, 2);
    assert.equal(err.split("\n").length, 1, err);
    assert.match(err, /^thinwire: import: .*tokenizer_name is "tinypython_2k"/);
  });
});
