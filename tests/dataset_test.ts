/** Dataset: packing, determinism, state/restore, and reading .py folders. */
import assert from "node:assert/strict";
import { UserError } from "../src/errors.ts";
import { corpusStream, TRAIN_SEED, VAL_SEED } from "../src/data/corpus/index.ts";
import {
  corpusSource,
  filesSource,
  fixedBatches,
  type PyFiles,
  type TokenSource,
} from "../src/data/dataset.ts";
import { loadPyFiles } from "../src/data/pyfiles.ts";
import { EOT_TOKEN, loadDefaultTokenizer } from "../src/data/tokenizer.ts";

const tok = loadDefaultTokenizer();

/** The token stream behind consecutive batches (rows share their boundary token). */
function unpack(batches: Int32Array[], T: number): number[] {
  const out: number[] = [];
  for (const b of batches) {
    for (let row = 0; row < b.length; row += T + 1) {
      if (out.length === 0) out.push(b[row]);
      else {assert.equal(
          b[row],
          out[out.length - 1],
          "row must start with the previous row's last token",
        );}
      for (let t = 1; t <= T; t++) out.push(b[row + t]);
    }
  }
  return out;
}

function take(src: TokenSource, n: number, B: number, T: number): Int32Array[] {
  return Array.from({ length: n }, () => src.nextBatch(B, T));
}

const pyFiles: PyFiles = {
  train: [
    "a = 1\n",
    "def f(x):\n    return x\n",
    "for i in range(3):\n    print(i)\n",
    "x = [[1]]\n",
  ],
  val: ["y = 2\n"],
  skipped: 0,
  duplicates: 0,
  empty: 0,
  bytes: 0,
};

Deno.test("corpus source", async (t) => {
  await t.step("batches are [B, T+1] of valid ids, packing eot + document, in stream order", () => {
    const B = 2, T = 1000;
    const batches = take(corpusSource(tok, TRAIN_SEED), 2, B, T);
    for (const b of batches) {
      assert.equal(b.length, B * (T + 1));
      assert.ok(b.every((id) => id >= 0 && id < tok.vocabSize));
    }
    const text = tok.decode(unpack(batches, T));
    let expected = "";
    for (const doc of corpusStream(TRAIN_SEED)) {
      expected += EOT_TOKEN + doc;
      if (expected.length > text.length + 1000) break;
    }
    // The stream may end inside a multi-byte character or token, so compare a safe prefix.
    const n = text.length - 8;
    assert.equal(text.slice(0, n), expected.slice(0, n));
    assert.ok(text.split(EOT_TOKEN).length > 4, "several documents");
  });

  await t.step("deterministic from the seed; train and val seeds differ", () => {
    const a = take(corpusSource(tok, TRAIN_SEED), 3, 2, 32);
    const b = take(corpusSource(tok, TRAIN_SEED), 3, 2, 32);
    const v = take(corpusSource(tok, VAL_SEED), 3, 2, 32);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, v);
    const fixed = fixedBatches(corpusSource(tok, VAL_SEED), 3, 2, 32);
    assert.deepEqual(fixed, v);
  });

  await t.step(
    "state/restore continues with the same batches (also mid-document, backwards)",
    () => {
      const src = corpusSource(tok, TRAIN_SEED);
      const states: unknown[] = [];
      const next: Int32Array[][] = [];
      for (let i = 0; i < 6; i++) {
        states.push(JSON.parse(JSON.stringify(src.state())));
        next.push(take(src, 2, 3, 37));
      }
      const other = corpusSource(tok, TRAIN_SEED);
      other.nextBatch(5, 100);
      for (const i of [4, 1, 5, 0, 3]) {
        other.restore(states[i]);
        assert.deepEqual(take(other, 2, 3, 37), next[i], `state ${i}`);
      }
    },
  );

  await t.step("restoring another source's state is a UserError", () => {
    const st = corpusSource(tok, VAL_SEED).state();
    assert.throws(() => corpusSource(tok, TRAIN_SEED).restore(st), UserError);
    assert.throws(() => corpusSource(tok, TRAIN_SEED).restore({ pos: "x" }), UserError);
    assert.throws(() => corpusSource(tok, TRAIN_SEED).restore(null), UserError);
  });
});

Deno.test("files source", async (t) => {
  const docsOf = (src: TokenSource, nTokens: number) => {
    const ids = unpack([src.nextBatch(1, nTokens)], nTokens);
    return tok.decode(ids).split(EOT_TOKEN).slice(1, -1);
  };

  await t.step("each epoch visits every file once, in a seeded order", () => {
    const docs = docsOf(filesSource(tok, pyFiles, "train", 7), 400);
    assert.ok(docs.length > 8);
    const epoch1 = docs.slice(0, 4), epoch2 = docs.slice(4, 8);
    assert.deepEqual([...epoch1].sort(), [...pyFiles.train].sort());
    assert.deepEqual([...epoch2].sort(), [...pyFiles.train].sort());
    assert.deepEqual(docsOf(filesSource(tok, pyFiles, "train", 7), 400), docs);
    const orders = new Set<string>();
    for (let seed = 0; seed < 8; seed++) {
      orders.add(docsOf(filesSource(tok, pyFiles, "train", seed), 100).slice(0, 4).join("|"));
    }
    assert.ok(orders.size > 1, "the order must depend on the seed");
    assert.deepEqual(
      new Set(docsOf(filesSource(tok, pyFiles, "val", 7), 50)),
      new Set(["y = 2\n"]),
    );
  });

  await t.step("state/restore across epoch boundaries", () => {
    const src = filesSource(tok, pyFiles, "train", 3);
    const states: unknown[] = [];
    const next: Int32Array[][] = [];
    for (let i = 0; i < 8; i++) {
      states.push(JSON.parse(JSON.stringify(src.state())));
      next.push(take(src, 2, 2, 9));
    }
    const other = filesSource(tok, pyFiles, "train", 3);
    for (const i of [7, 2, 5, 0]) {
      other.restore(states[i]);
      assert.deepEqual(take(other, 2, 2, 9), next[i], `state ${i}`);
    }
    assert.throws(() => filesSource(tok, pyFiles, "train", 4).restore(states[3]), UserError);
    assert.throws(() => corpusSource(tok, TRAIN_SEED).restore(states[3]), UserError);
  });
});

Deno.test("loadPyFiles", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "thinwire_pyfiles_" });
  try {
    const write = async (path: string, data: string | Uint8Array) => {
      const p = `${dir}/${path}`;
      await Deno.mkdir(p.slice(0, p.lastIndexOf("/")), { recursive: true });
      if (typeof data === "string") await Deno.writeTextFile(p, data);
      else await Deno.writeFile(p, data);
    };
    const distinct: string[] = [];
    for (let i = 0; i < 60; i++) {
      const text = `def f${i}(x):\n    return x * ${i}\n`;
      distinct.push(text);
      await write(`pkg${i % 3}/sub${i % 2}/m${i}.py`, text);
    }
    distinct.push("s = 'é ✓ 🐍'\n");
    await write("unicode.py", "s = 'é ✓ 🐍'\n");
    await write("deep/a/b/c/copy_of_m5.py", distinct[5]);
    await write("binary.py", new Uint8Array([0x78, 0x20, 0x3D, 0x20, 0x00, 0x01, 0x0A]));
    await write("latin1.py", new Uint8Array([0x73, 0x20, 0x3D, 0x20, 0x27, 0xE9, 0x27, 0x0A]));
    await write("pkg0/__init__.py", "");
    await write("notes.txt", "not python\n");
    await write("data.pyc", new Uint8Array([1, 2, 3]));

    await t.step("dedupe, skip binary / non-UTF-8 / empty, split ~5% val by content", async () => {
      const f = await loadPyFiles(dir);
      assert.equal(f.skipped, 2);
      assert.equal(f.duplicates, 1);
      assert.equal(f.empty, 1);
      assert.equal(f.train.length + f.val.length, distinct.length);
      assert.deepEqual([...f.train, ...f.val].sort(), [...distinct].sort());
      assert.ok(f.val.length >= 1 && f.val.length <= 12, `val has ${f.val.length} files`);
      const bytes = distinct.reduce((n, s) => n + new TextEncoder().encode(s).length, 0);
      assert.equal(f.bytes, bytes);
      assert.deepEqual(await loadPyFiles(dir + "/"), f);
    });

    await t.step(
      "missing folder, a file, no .py, too few usable files: one-line UserErrors",
      async () => {
        const cases: [string, RegExp][] = [
          [`${dir}/nope`, /no such folder/],
          [`${dir}/notes.txt`, /not a folder/],
        ];
        const noPy = await Deno.makeTempDir({ dir });
        await Deno.writeTextFile(`${noPy}/readme.md`, "hi\n");
        cases.push([noPy, /no \.py files/]);
        const junk = await Deno.makeTempDir({ dir });
        await Deno.writeFile(`${junk}/bin.py`, new Uint8Array([0, 0, 0]));
        await Deno.writeTextFile(`${junk}/one.py`, "x = 1\n");
        await Deno.writeTextFile(`${junk}/empty.py`, "\n  \n");
        cases.push([junk, /1 usable \.py file.*need at least 2/]);
        for (const [path, re] of cases) {
          await assert.rejects(() => loadPyFiles(path), (e: Error) => {
            assert.ok(e instanceof UserError, String(e));
            assert.match(e.message, re);
            assert.ok(!e.message.includes("\n"));
            return true;
          });
        }
      },
    );

    await t.step("files source over a loaded folder", async () => {
      const f = await loadPyFiles(dir);
      const b = filesSource(tok, f, "val", 1).nextBatch(2, 16);
      assert.equal(b.length, 2 * 17);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
