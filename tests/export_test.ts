/**
 * `export --format reference` and `logits`: the torch.save file parses as torch's format (records,
 * alignment, CRCs, only weights_only-safe pickle globals; read by src/import/torch_load.ts, which
 * tests/import_test.ts checks on files torch wrote), the export holds exactly the reference
 * GPT's state-dict keys with thinwire's weights, beeg_config.json has every GPTConfig field, and
 * `logits` prints the model's next-token distribution and writes its activations under the
 * reference's hook names. The comparison with the reference's own code is
 * tests/reference_export_test.ts (needs Python with torch).
 */
import assert from "node:assert/strict";
import { assertUserError, makeRandomRun } from "./run_fixture.ts";
import { loadDefaultTokenizer } from "../src/data/tokenizer.ts";
import { activationTensors } from "../src/export/activations.ts";
import { exportCommand } from "../src/export/cli_export.ts";
import { showToken } from "../src/export/cli_logits.ts";
import { encodeTorchStateDict } from "../src/export/torch_pickle.ts";
import { keepCount } from "../src/model/config.ts";
import { decodeSafetensors } from "../src/model/safetensors.ts";
import { loadRun } from "../src/run/run_dir.ts";
import { type RunConfig } from "../src/run/config.ts";
import { PRESETS } from "../src/train/presets.ts";
import { loadTorchStateDict } from "../src/import/torch_load.ts";

const RC: RunConfig = {
  model: { ...PRESETS.tiny.model, nLayer: 2, baseDModel: 32, baseDMlp: 64, nCtx: 16 },
  train: { ...PRESETS.tiny.train },
};

const dirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const d of dirs) Deno.removeSync(d, { recursive: true });
});

async function tempDir(): Promise<string> {
  const d = await Deno.makeTempDir({ prefix: "thinwire-export-" });
  dirs.push(d);
  return d;
}

/** A random-init run folder as the trainer lays it out. */
async function makeRun(model: Partial<RunConfig["model"]> = {}): Promise<string> {
  const d = await makeRandomRun(
    { model: { ...RC.model, ...model }, train: RC.train },
    "thinwire-export-",
    11,
  );
  dirs.push(d);
  return d;
}

const plain = makeRun();
const withPositions = makeRun({ dPosEmb: 8 });

Deno.test("torch zip: torch.save's records, 64-byte aligned data, CRCs and a safe pickle", () => {
  const a = Float32Array.from({ length: 12 }, (_, i) => i - 5.5);
  const bytes = encodeTorchStateDict([
    { name: "m.weight", shape: [3, 4], data: a },
    { name: "bias é", shape: [2], data: Float32Array.of(1e-30, -0) },
    { name: "scalar", shape: [], data: Float32Array.of(7) },
  ], "final_model");
  const f = loadTorchStateDict(bytes, "test");
  assert.equal(f.prefix, "final_model");
  assert.deepEqual(f.records.map((r) => r.name), [
    "final_model/data.pkl",
    "final_model/byteorder",
    "final_model/data/0",
    "final_model/data/1",
    "final_model/data/2",
    "final_model/version",
  ]);
  for (const r of f.records) assert.equal(r.dataOffset % 64, 0, r.name);
  const text = (n: string) => new TextDecoder().decode(f.records.find((r) => r.name === n)!.data);
  assert.equal(text("final_model/version"), "3\n");
  assert.equal(text("final_model/byteorder"), "little");
  // torch.load(weights_only=True) refuses any global outside its allow-list; these three are on it.
  assert.deepEqual(
    [...new Set(f.globals)].sort(),
    ["collections.OrderedDict", "torch.FloatStorage", "torch._utils._rebuild_tensor_v2"],
  );
  assert.deepEqual([...f.tensors.keys()], ["m.weight", "bias é", "scalar"]);
  const w = f.tensors.get("m.weight")!;
  assert.deepEqual(w.shape, [3, 4]);
  assert.deepEqual(w.stride, [4, 1]);
  assert.equal(w.location, "cpu");
  assert.equal(w.requiresGrad, false);
  assert.deepEqual([...w.read()], [...a]);
  assert.ok(Object.is(f.tensors.get("bias é")!.read()[1], -0));
  assert.deepEqual(f.tensors.get("scalar")!.shape, []);
  assert.deepEqual(f.tensors.get("scalar")!.stride, []);
  // The same tensors give the same bytes (fixed timestamps): exports are reproducible.
  assert.deepEqual(
    encodeTorchStateDict([{ name: "scalar", shape: [], data: Float32Array.of(7) }]),
    encodeTorchStateDict([{ name: "scalar", shape: [], data: Float32Array.of(7) }]),
  );
});

/** The reference GPT's state-dict keys for a model of this test's widths, written from gpt.py. */
function expectedKeys(
  L: number,
  P: number,
  sink: boolean,
  bigram: boolean,
): Record<string, number[]> {
  const C = 32, M = 64, V = 2048, T = 16, H = 2, HD = 32;
  const k: Record<string, number[]> = {
    "transformer.wte.weight": [V, C],
    "transformer.wpe.weight": [T, P || C],
    "transformer.ln_f.weight": [C],
    "lm_head.weight": [V, C],
    "final_logits_bias": [V],
  };
  if (bigram) k["bigram_table"] = [V, V];
  for (let i = 0; i < L; i++) {
    const h = `transformer.h.${i}`;
    Object.assign(k, {
      [`${h}.ln_1.weight`]: [C],
      [`${h}.ln_2.weight`]: [C],
      [`${h}.attn.c_attn.weight`]: [3 * HD, C + P],
      [`${h}.attn.c_attn.bias`]: [3 * HD],
      [`${h}.attn.c_proj.weight`]: [C, HD],
      [`${h}.attn.c_proj.bias`]: [C],
      [`${h}.mlp.c_fc.weight`]: [M, C + P],
      [`${h}.mlp.c_fc.bias`]: [M],
      [`${h}.mlp.c_proj.weight`]: [C, M],
      [`${h}.mlp.c_proj.bias`]: [C],
    });
    if (sink) k[`${h}.attn.attn_imp.sink_logit`] = [H];
    if (P > 0) Object.assign(k, { [`${h}.ln_p1.weight`]: [P], [`${h}.ln_p2.weight`]: [P] });
  }
  return k;
}

for (
  const [label, P, extra] of [
    ["no positions, sink and bigram", 0, {}],
    ["d_pos_emb 8", 8, { dPosEmb: 8 }],
    ["no sink, no bigram, afrac 1", 0, { sink: false, bigram: false, afrac: 1 }],
  ] as const
) {
  Deno.test(`export --format reference (${label}): every reference tensor, thinwire's weights`, async () => {
    const run = label.startsWith("no positions")
      ? await plain
      : label.startsWith("d_pos")
      ? await withPositions
      : await makeRun(extra);
    const out = `${await tempDir()}/nested/ref`;
    assert.equal(await exportCommand(["--model", run, "--format", "reference", "--out", out]), 0);
    const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assert.deepEqual(names, ["beeg_config.json", "final_model.pt", "tokenizer.json"]);

    const cfg = JSON.parse(await Deno.readTextFile(`${out}/beeg_config.json`));
    const m = { ...RC.model, ...extra };
    assert.deepEqual(cfg, {
      block_size: 16,
      vocab_size: 2048,
      n_layer: 2,
      n_head: 2,
      d_head: 16,
      d_model: 32,
      d_mlp: 64,
      dropout: 0,
      bias: true,
      ln_bias: false,
      rms_norm: true,
      residual_activation_type: "identity",
      activation_type: "gelu",
      afrac: m.afrac >= 1 ? null : m.afrac,
      afrac_loctypes: "attn_in,attn_q,attn_k,attn_v,attn_out,mlp_in,mlp_neuron,mlp_out",
      debug_nans: false,
      tied_unembed: false,
      tokenizer_name: loadDefaultTokenizer().name,
      enable_bigram_table: m.bigram,
      learnable_bigram_table: m.bigram,
      d_pos_emb: P > 0 ? P : null,
      dropout_cat_pos_emb: false,
      sinusoidal_cat_pos_emb: false,
      enable_sparse_kernels: false,
      sink: m.sink,
    });

    const sd = loadTorchStateDict(await Deno.readFile(`${out}/final_model.pt`), "export");
    const want = expectedKeys(2, P, m.sink, m.bigram);
    assert.deepEqual([...sd.tensors.keys()].sort(), Object.keys(want).sort());
    for (const [name, shape] of Object.entries(want)) {
      assert.deepEqual(sd.tensors.get(name)!.shape, shape, name);
    }
    const ours =
      decodeSafetensors(await Deno.readFile(`${run}/model.safetensors`), "model").tensors;
    for (const [name, t] of sd.tensors) {
      const o = ours.get(name);
      if (o) {
        assert.deepEqual(t.read(), o.data, name);
      } else {
        // Only what the reference has and thinwire does not, as zeros: the same function.
        assert.ok(
          name === "final_logits_bias" || (name === "transformer.wpe.weight" && P === 0),
          name,
        );
        assert.ok(t.read().every((x) => x === 0), name);
      }
    }
    assert.equal(ours.size + (P === 0 ? 2 : 1), sd.tensors.size);
    assert.deepEqual(
      JSON.parse(await Deno.readTextFile(`${out}/tokenizer.json`)),
      JSON.parse(await Deno.readTextFile(`${run}/tokenizer.json`)),
    );
  });
}

Deno.test("export: bad input is one line, exit 2", async () => {
  const run = await plain;
  const dir = await tempDir();
  await assertUserError(exportCommand(["--model", run, "--out", dir]), /--format is required/);
  await assertUserError(
    exportCommand(["--model", run, "--format", "onnx", "--out", dir]),
    /unknown format 'onnx' \(formats: reference, html\)/,
  );
  await assertUserError(
    exportCommand(["--model", run, "--format", "reference", "--task", "with_as", "--out", dir]),
    /takes no --task/,
  );
  await assertUserError(
    exportCommand(["--model", run, "--format", "html", "--out", `${dir}/c.html`]),
    /--task NAME is required/,
  );
  await assertUserError(exportCommand(["--model", run, "--format", "reference"]), /--out DIR/);
  await assertUserError(
    exportCommand(["--model", `${dir}/nope`, "--format", "reference", "--out", dir]),
    /no such run folder/,
  );
  await Deno.writeTextFile(`${dir}/file`, "x");
  await assertUserError(
    exportCommand(["--model", run, "--format", "reference", "--out", `${dir}/file`]),
    /exists and is not a folder/,
  );
  await assertUserError(exportCommand(["--model", run, "--frmat", "x"]), /unknown|Unknown/);
  // afrac 0.02 keeps ⌊0.02·32⌋ = 0 channels in the reference, 1 here: a different function.
  const tiny = await makeRun({ afrac: 0.02 });
  assert.equal(keepCount(0.02, 32), 1);
  await assertUserError(
    exportCommand(["--model", tiny, "--format", "reference", "--out", dir]),
    /afrac 0\.02 keeps 0 of the \d+ channels/,
  );
});

const CLI = new URL("../cli.ts", import.meta.url).pathname;

async function cli(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr).trim() };
}

/** The model's logits [V, T] for `ids` (one sequence), as logits computes them (1 thread). */
async function forwardLogits(run: string, ids: number[]) {
  const r = await loadRun(run, { threads: 1 });
  try {
    r.model.forward(Int32Array.from(ids), null, 1, ids.length);
    return {
      logits: r.be.arena.f32(r.model.acts.logits, r.model.d.V * ids.length).slice(),
      acts: activationTensors(r.model),
      tok: r.tokenizer,
      d: r.model.d,
      afrac: r.rc.model.afrac,
    };
  } finally {
    r.close();
  }
}

Deno.test("logits: top candidates with probabilities, and --out holds every activation", async () => {
  const run = await withPositions;
  const file = `${await tempDir()}/acts.safetensors`;
  const prompt = "for i in range(10):\n    print(";
  const r = await cli("logits", "--model", run, "--prompt", prompt, "--top", "5", "--out", file);
  assert.equal(r.code, 0, r.stderr);
  const tok = loadDefaultTokenizer();
  const ids = [tok.eot, ...tok.encode(prompt)];
  const T = ids.length;
  const f = await forwardLogits(run, ids);
  const V = f.d.V;
  const last = Array.from({ length: V }, (_, i) => f.logits[i * T + T - 1]);
  const max = Math.max(...last);
  const z = last.reduce((a, x) => a + Math.exp(x - max), 0);
  const best = last.map((_, i) => i).sort((a, b) => last[b] - last[a]).slice(0, 5);

  const lines = r.stdout.trimEnd().split("\n");
  assert.equal(lines[0], `${T} token(s); next token after ${JSON.stringify(tok.decode(ids))}:`);
  assert.match(lines[1], /rank +prob +logit +id +token/);
  assert.equal(lines.length, 7);
  lines.slice(2).forEach((line, rank) => {
    const m = /^ +(\d+) +([\d.]+)% +(-?[\d.]+) +(\d+) {2}(.+)$/.exec(line);
    assert.ok(m, line);
    const id = Number(m[4]);
    assert.equal(Number(m[1]), rank + 1);
    assert.equal(id, best[rank]);
    assert.equal(m[2], (100 * Math.exp(last[id] - max) / z).toFixed(2));
    assert.equal(m[3], last[id].toFixed(3));
    assert.equal(m[5], showToken(tok, id));
  });

  const saved = decodeSafetensors(await Deno.readFile(file), file);
  assert.deepEqual(JSON.parse(saved.metadata.tokens), ids);
  assert.equal(saved.metadata.format, "thinwire-activations-1");
  const { C, M, HD, H, P, L } = f.d;
  const shapes: Record<string, number[]> = { logits: [T, V], final_resid: [T, C] };
  for (let i = 0; i < L; i++) {
    Object.assign(shapes, {
      [`${i}.resid_in`]: [T, C],
      [`${i}.attn.act_in`]: [T, C + P],
      [`${i}.attn.q`]: [T, HD],
      [`${i}.attn.k`]: [T, HD],
      [`${i}.attn.v`]: [T, HD],
      [`${i}.attn.y`]: [T, HD],
      [`${i}.attn.resid_delta`]: [T, C],
      [`${i}.resid_mid`]: [T, C],
      [`${i}.mlp.act_in`]: [T, C + P],
      [`${i}.mlp.post_act`]: [T, M],
      [`${i}.mlp.resid_delta`]: [T, C],
      [`${i}.attn.pattern`]: [H, T, T],
    });
  }
  assert.deepEqual([...saved.tensors.keys()].sort(), Object.keys(shapes).sort());
  for (const [n, s] of Object.entries(shapes)) assert.deepEqual(saved.tensors.get(n)!.shape, s, n);
  const get = (n: string) => saved.tensors.get(n)!.data;
  // Logits: token-major, bit for bit what model.forward computed.
  const lg = get("logits");
  for (let t = 0; t < T; t++) {
    for (let v = 0; v < V; v++) assert.equal(lg[t * V + v], f.logits[v * T + t]);
  }
  // The hooks are what their names say: the residual sums, AbsTopK's sparsity, causal patterns.
  const add = (a: Float32Array, b: Float32Array) => a.map((x, i) => Math.fround(x + b[i]));
  const kIn = keepCount(f.afrac, C + P);
  for (let i = 0; i < L; i++) {
    assert.deepEqual(
      get(`${i}.resid_mid`),
      add(get(`${i}.resid_in`), get(`${i}.attn.resid_delta`)),
    );
    const next = i + 1 < L ? `${i + 1}.resid_in` : "final_resid";
    assert.deepEqual(get(next), add(get(`${i}.resid_mid`), get(`${i}.mlp.resid_delta`)));
    for (
      const [hook, w, k] of [
        ["attn.act_in", C + P, kIn],
        ["attn.q", HD, keepCount(f.afrac, HD)],
        ["mlp.post_act", M, keepCount(f.afrac, M)],
      ] as const
    ) {
      const x = get(`${i}.${hook}`);
      for (let t = 0; t < T; t++) {
        const nz = x.subarray(t * w, (t + 1) * w).filter((v) => v !== 0).length;
        assert.ok(nz <= k && nz >= k - 2, `${i}.${hook} token ${t}: ${nz} nonzero, k ${k}`);
      }
    }
    const p = get(`${i}.attn.pattern`);
    for (let h = 0; h < H; h++) {
      for (let q = 0; q < T; q++) {
        const row = p.subarray((h * T + q) * T, (h * T + q + 1) * T);
        for (let j = q + 1; j < T; j++) assert.equal(row[j], 0);
        const s = row.reduce((a, x) => a + x, 0);
        // With the sink, a row's keys share 1 − P(sink).
        assert.ok(s > 0 && s <= 1 + 1e-5, `pattern row sum ${s}`);
      }
    }
  }
  assert.deepEqual(f.acts.map((a) => a.name).sort(), Object.keys(shapes).sort());
});

Deno.test("logits: --tokens, a prompt past n_ctx is cut from the left, bad input is one line", async (t) => {
  const run = await plain;
  await t.step("--tokens as given", async () => {
    const r = await cli("logits", "--model", run, "--tokens", "1, 2,3", "--top", "2");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^3 token\(s\); next token after /);
    assert.equal(r.stdout.trimEnd().split("\n").length, 4);
  });
  await t.step("longer than n_ctx (16): the last 16 tokens, with a note", async () => {
    const ids = Array.from({ length: 20 }, (_, i) => 100 + i);
    const r = await cli("logits", "--model", run, "--tokens", ids.join(","), "--top", "1");
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /note: the prompt is 20 tokens and the model's context 16: kept the last 16/,
    );
    assert.match(r.stdout, /^16 token\(s\)/);
    const f = await forwardLogits(run, ids.slice(4));
    const V = f.d.V;
    const last = Array.from({ length: V }, (_, i) => f.logits[i * 16 + 15]);
    const best = last.indexOf(Math.max(...last));
    assert.match(r.stdout.split("\n")[2], new RegExp(`^ +1 +[\\d.]+% +-?[\\d.]+ +${best}  `));
  });
  for (
    const [args, pattern] of [
      [["--prompt", ""], /--prompt is empty/],
      [["--tokens", "5,2048"], /token id 2048 is out of range \(vocab 0\.\.2047\)/],
      [["--tokens", "5,x"], /'x' is not a token id/],
      [["--tokens", ""], /needs at least one token id/],
      [["--tokens", "1", "--prompt", "a"], /exactly one of --prompt TEXT and --tokens IDS/],
      [[], /exactly one of --prompt/],
      [["--tokens", "1", "--top", "0"], /--top must be an integer ≥ 1/],
    ] as const
  ) {
    await t.step(`${args.join(" ") || "(no prompt)"} → exit 2`, async () => {
      const r = await cli("logits", "--model", run, ...args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.split("\n").length, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(r.stdout, "");
    });
  }
  await t.step("no such run → exit 2", async () => {
    const r = await cli("logits", "--model", `${run}/nope`, "--tokens", "1");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^thinwire: .*no such run folder$/);
  });
});

Deno.test('logits: tokens are shown readably, bytes that are not UTF-8 as b"\\xNN"', () => {
  const tok = loadDefaultTokenizer();
  assert.equal(showToken(tok, tok.eot), "<|endoftext|>");
  assert.equal(showToken(tok, "\n".charCodeAt(0)), '"\\n"');
  assert.equal(showToken(tok, 0x41), '"A"');
  assert.equal(showToken(tok, 0xe2), 'b"\\xe2"');
  const sp = tok.singleToken("    ")!;
  assert.equal(showToken(tok, sp), '"    "');
});
