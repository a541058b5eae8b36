/**
 * `logits --batch`: every row's logits and activations are bit for bit the one-prompt path's
 * (src/export/activations.ts after a forward of that row alone), padding is zeros, ragged
 * lengths and left truncation are recorded; bad lines are one line naming the line, exit 2,
 * nothing written; an output over --max-gb is refused with a split that fits; Ctrl+C leaves
 * nothing behind.
 */
import assert from "node:assert/strict";
import { loadDefaultTokenizer } from "../src/data/tokenizer.ts";
import { activationTensors } from "../src/export/activations.ts";
import { parseBatchRows } from "../src/export/batch_rows.ts";
import { decodeSafetensors } from "../src/model/safetensors.ts";
import type { RunConfig } from "../src/run/config.ts";
import { loadRun } from "../src/run/run_dir.ts";
import { PRESETS } from "../src/train/presets.ts";
import { train } from "../src/train/trainer.ts";
import { assertUserError, makeRandomRun } from "./run_fixture.ts";

const cli = new URL("../cli.ts", import.meta.url).pathname;

const dirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const d of dirs) Deno.removeSync(d, { recursive: true });
});

async function tempDir(): Promise<string> {
  const d = await Deno.makeTempDir({ prefix: "thinwire-batch-" });
  dirs.push(d);
  return d;
}

/** n_ctx 16, batch 4: the batches hold at most 64 tokens, so the rows below take several. */
const RC: RunConfig = {
  model: { ...PRESETS.tiny.model, nLayer: 2, baseDModel: 32, baseDMlp: 64, nCtx: 16 },
  train: { ...PRESETS.tiny.train, batchSize: 4 },
};

/** A random-init (dense) run with learned positions. */
const dense = makeRandomRun(
  { model: { ...RC.model, dPosEmb: 8 }, train: RC.train },
  "thinwire-batch-",
  5,
).then((d) => (dirs.push(d), d));

/** A trained run: past the anneal, so its products take the sparse kernels. */
const sparse = tempDir().then(async (d) => {
  const rc = structuredClone(RC);
  Object.assign(rc.train, { steps: 8, saveEvery: 8, evalEvery: 8, valBatches: 1, logEvery: 4 });
  await train({ out: `${d}/r`, rc, threads: 1, resume: false, quiet: true });
  return `${d}/r`;
});

async function run(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args],
    stdout: "piped",
    stderr: "piped",
    env,
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr).trim() };
}

/** Every format of a line, blank lines, lengths 1..20 (n_ctx 16: two rows are cut). */
const LINES = [
  JSON.stringify("x = 1"),
  "",
  JSON.stringify({ prompt: "for i in range(10):\n    print(i)", id: 7 }),
  JSON.stringify([5]),
  "  ",
  JSON.stringify({ tokens: Array.from({ length: 20 }, (_, i) => 100 + i) }),
  JSON.stringify(Array.from({ length: 16 }, (_, i) => 3 * i)),
  JSON.stringify("def f(a, b):\n    return a + b\n"),
  JSON.stringify("'"),
  JSON.stringify(Array.from({ length: 17 }, (_, i) => 1000 + i)),
  JSON.stringify({ prompt: "if x:\n    y", tokens_note: "ignored" }),
  JSON.stringify([2047, 2047, 1, 2]),
];

async function sameAsOnePrompt(model: string, threads: string) {
  const dir = await tempDir();
  const batch = `${dir}/rows.jsonl`, out = `${dir}/acts.safetensors`;
  await Deno.writeTextFile(batch, LINES.join("\n") + "\n");
  const r = await run([
    "logits",
    "--model",
    model,
    "--batch",
    batch,
    "--out",
    out,
    "--patterns",
    "--threads",
    threads,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /note: 2 row\(s\) longer than the model's context \(16 tokens\)/);
  assert.match(r.stderr, /\(the first: line 6\)/);
  assert.match(r.stderr, /logits \[#+\] 10\/10 rows/);
  assert.match(
    r.stderr,
    /wrote logits and activations of 10 row\(s\), \d+ tokens \(padded to 16\)/,
  );
  assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(), [
    "acts.safetensors",
    "rows.jsonl",
  ]);
  const f = decodeSafetensors(await Deno.readFile(out), out);
  assert.equal(f.metadata.format, "thinwire-activations-batch-1");
  assert.equal(f.metadata.rows, "10");

  const one = await loadRun(model, { threads: 1 });
  try {
    const rows = parseBatchRows(LINES.join("\n"), "rows", one.tokenizer, one.model.d.V, 16);
    const R = rows.length, T = 16;
    assert.equal(R, 10);
    assert.deepEqual(Array.from(f.tensors.get("lengths")!.data), rows.map((x) => x.ids.length));
    assert.deepEqual(
      Array.from(f.tensors.get("truncated")!.data),
      [0, 0, 0, 4, 0, 0, 0, 1, 0, 0],
    );
    const tokens = f.tensors.get("tokens")!;
    assert.deepEqual(tokens.shape, [R, T]);
    rows.forEach((row, i) => {
      const got = Array.from(tokens.data.subarray(i * T, (i + 1) * T));
      assert.deepEqual(got, [...row.ids, ...Array(T - row.ids.length).fill(-1)]);
    });
    const tok = loadDefaultTokenizer();
    assert.deepEqual(rows[0].ids, [tok.eot, ...tok.encode("x = 1")]);
    assert.deepEqual(rows[3].ids, Array.from({ length: 16 }, (_, i) => 104 + i));

    let names: string[] = [];
    for (const [i, row] of rows.entries()) {
      const L = row.ids.length;
      one.model.forward(Int32Array.from(row.ids), null, 1, L);
      const single = activationTensors(one.model);
      names = single.map((s) => s.name);
      for (const s of single) {
        const b = f.tensors.get(s.name);
        assert.ok(b, `${s.name} missing`);
        if (s.name.endsWith(".attn.pattern")) {
          const H = s.shape[0];
          assert.deepEqual(b.shape, [R, H, T, T]);
          for (let h = 0; h < H; h++) {
            for (let q = 0; q < T; q++) {
              const at = ((i * H + h) * T + q) * T;
              const got = b.data.subarray(at, at + T);
              const want = new Float32Array(T);
              if (q < L) want.set(s.data.subarray((h * L + q) * L, (h * L + q + 1) * L));
              assertBits(got, want, `${s.name} row ${i} head ${h} query ${q}`);
            }
          }
        } else {
          const w = s.shape[1];
          assert.deepEqual(b.shape, [R, T, w], s.name);
          const got = b.data.subarray(i * T * w, (i + 1) * T * w);
          const want = new Float32Array(T * w);
          want.set(s.data);
          assertBits(got, want, `${s.name} row ${i} (length ${L})`);
        }
      }
    }
    assert.deepEqual(
      [...f.tensors.keys()].sort(),
      ["lengths", "tokens", "truncated", ...names].sort(),
    );
  } finally {
    one.close();
  }
}

/** Bitwise equality of f32 arrays, naming the first differing index. */
function assertBits(a: Float32Array, b: Float32Array, what: string) {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  assert.equal(ua.length, ub.length, what);
  for (let k = 0; k < ua.length; k++) {
    if (ua[k] !== ub[k]) {
      assert.fail(`${what}: index ${k}: ${a[k]} (batch) vs ${b[k]} (one prompt)`);
    }
  }
}

Deno.test("logits --batch: every row bit for bit the one-prompt path, dense model with positions, 2 threads", async () => {
  await sameAsOnePrompt(await dense, "2");
});

Deno.test("logits --batch: every row bit for bit the one-prompt path, trained sparse model, 1 thread", async () => {
  await sameAsOnePrompt(await sparse, "1");
});

Deno.test("logits --batch: bad lines and flags are one line, exit 2, nothing written", async (t) => {
  const model = await dense;
  const dir = await tempDir();
  const out = `${dir}/out.safetensors`;
  const good = JSON.stringify("x = 1");
  const cases: [string, RegExp][] = [
    ["{", /line 2: not valid JSON/],
    ["42", /line 2: a JSON number is neither a prompt nor token ids/],
    ["null", /line 2: a JSON null is neither/],
    ['{"prompt": "a", "tokens": [1]}', /line 2: give exactly one of "prompt" and "tokens"/],
    ['{"id": 3}', /line 2: give exactly one of "prompt" and "tokens"/],
    ['{"prompt": 5}', /line 2: "prompt" is not a string/],
    ['{"tokens": "1,2"}', /line 2: "tokens" is not an array of token ids/],
    ["[1, 2048]", /line 2: token 2 \(2048\) is not a token id in 0\.\.2047/],
    ["[-1]", /line 2: token 1 \(-1\) is not a token id/],
    ["[1.5]", /line 2: token 1 \(1\.5\) is not a token id/],
    ['["1"]', /line 2: token 1 \("1"\) is not a token id/],
    ['""', /line 2: empty prompt/],
    ["[]", /line 2: no token ids/],
  ];
  for (const [line, pattern] of cases) {
    await t.step(`${line} → exit 2`, async () => {
      const file = `${dir}/bad.jsonl`;
      await Deno.writeTextFile(file, `${good}\n${line}\n${good}\n`);
      const r = await run(["logits", "--model", model, "--batch", file, "--out", out]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.split("\n").length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^thinwire: ${dir}/bad\\.jsonl: ${pattern.source}`));
      assert.deepEqual(
        (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name),
        ["bad.jsonl"],
        "nothing written",
      );
    });
  }
  const file = `${dir}/good.jsonl`;
  await Deno.writeTextFile(file, good + "\n");
  for (
    const [args, pattern] of [
      [["--batch", file], /--out FILE \(with --batch\) is required/],
      [["--batch", file, "--out", out, "--prompt", "a"], /not with --prompt/],
      [["--batch", file, "--out", out, "--top", "3"], /not with --top/],
      [["--tokens", "1", "--patterns"], /--patterns goes with --batch FILE/],
      [["--tokens", "1", "--max-gb", "2"], /--max-gb goes with --batch FILE/],
      [["--batch", file, "--out", out, "--max-gb", "0"], /--max-gb must be a size in GiB > 0/],
      [["--batch", `${dir}/none.jsonl`, "--out", out], /--batch .*none\.jsonl: cannot be read/],
      [["--batch", file, "--out", `${dir}/no/such/dir.st`], /--out .*dir\.st: cannot write/],
    ] as const
  ) {
    await t.step(`${args.join(" ")} → exit 2`, async () => {
      const r = await run(["logits", "--model", model, ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.split("\n").length, 1, r.stderr);
      assert.match(r.stderr, pattern);
      await assert.rejects(Deno.stat(out));
    });
  }
  await t.step("parseBatchRows: an empty file has no rows", async () => {
    await assertUserError(
      Promise.resolve().then(() => parseBatchRows("\n \n", "f", loadDefaultTokenizer(), 2048, 16)),
      /^f: no rows/,
    );
  });
  await t.step("CRLF line ends and a last line without one", () => {
    const rows = parseBatchRows('"a"\r\n[1, 2]', "f", loadDefaultTokenizer(), 2048, 16);
    assert.deepEqual(rows.map((r) => [r.line, r.ids.length]), [[1, 2], [2, 2]]);
  });
});

Deno.test("logits --batch: over --max-gb is refused with a split that fits", async () => {
  const model = await dense;
  const dir = await tempDir();
  const file = `${dir}/rows.jsonl`, out = `${dir}/out.safetensors`;
  // Rows of one length, so that a part of them pads to the same T.
  const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify([i, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  await Deno.writeTextFile(file, rows.join("\n"));
  const limit = "0.001"; // 1 MiB: each row is about 0.1 MiB here (T 10, V 2048 and the hooks)
  const batchLimited = () =>
    run(["logits", "--model", model, "--batch", file, "--out", out, "--max-gb", limit]);
  const r = await batchLimited();
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.split("\n").length, 1, r.stderr);
  const m =
    /the output would be ([\d.]+) MiB for 40 rows of up to \d+ tokens, over the 0\.001 GiB limit: split .*rows\.jsonl into files of at most (\d+) rows, or raise --max-gb$/
      .exec(r.stderr);
  assert.ok(m, r.stderr);
  await assert.rejects(Deno.stat(out));
  const fit = Number(m[2]);
  assert.ok(fit > 1 && fit < 40, `${fit} rows`);
  await Deno.writeTextFile(file, rows.slice(0, fit).join("\n"));
  const ok = await batchLimited();
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok((await Deno.stat(out)).size <= 0.001 * 1024 ** 3);
  await Deno.writeTextFile(file, rows.slice(0, fit + 1).join("\n"));
  const over = await batchLimited();
  assert.equal(over.code, 2, "one row more does not fit");

  const p = await run([
    "logits",
    "--model",
    model,
    "--batch",
    file,
    "--out",
    out,
    "--max-gb",
    limit,
    "--patterns",
  ]);
  assert.match(p.stderr, /MiB \([\d.]+ MiB without --patterns\) for/);
});

Deno.test("logits --batch: Ctrl+C leaves neither the file nor its temporary", async () => {
  const model = await dense;
  const dir = await tempDir();
  const file = `${dir}/rows.jsonl`, out = `${dir}/out.safetensors`;
  const row = JSON.stringify(Array.from({ length: 16 }, (_, i) => i));
  await Deno.writeTextFile(file, Array(20000).fill(row).join("\n"));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, "logits", "--model", model, "--batch", file, "--out", out],
    stdout: "null",
    stderr: "null",
  }).spawn();
  let seen = false;
  for (let i = 0; i < 1500 && !seen; i++) {
    seen = (await Array.fromAsync(Deno.readDir(dir))).some((e) => e.name.endsWith(".tmp"));
    if (!seen) await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(seen, "the temporary file never appeared");
  child.kill("SIGINT");
  assert.equal((await child.status).code, 130);
  assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["rows.jsonl"]);
});
