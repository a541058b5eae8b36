/** Tokenizer: BPE training, the rank table, round trips through js-tiktoken, the default file. */
import assert from "node:assert/strict";
import { Tiktoken } from "js-tiktoken/lite";
import { UserError } from "../src/errors.ts";
import { rankTableProblem } from "../src/data/bpe_train.ts";
import { TRAIN_SEED } from "../src/data/corpus/index.ts";
import {
  corpusPrefix,
  EOT_TOKEN,
  loadDefaultTokenizer,
  Tokenizer,
  trainDefaultTokenizer,
} from "../src/data/tokenizer.ts";
import defaultJson from "../src/data/tokenizer_default.json" with { type: "json" };
import { rng } from "./util.ts";

const corpusText = [...corpusPrefix(TRAIN_SEED, 300_000)];
const small = Tokenizer.train(corpusText, 700);

function tokens(t: Tokenizer): Uint8Array[] {
  return Array.from({ length: t.eot }, (_, i) => t.tokenBytes(i));
}

/** Random text from a mix of ASCII code, whitespace (tabs, CRLF), Latin-1, CJK and emoji. */
function randomText(seed: number, n: number): string {
  const r = rng(seed);
  const pools = [
    "def return self ([{}]) '\"=+-*/%<>!:;,.# \n\t\r\n0123456789abcxyz_",
    "\t\r\n \u00a0\u2003\u3000\v\f",
    "é ß ø ñ ü Ω Ж ש ع अ",
    "漢字中文日本語한국어",
    "😀🐍🚀👍🏽👨‍👩‍👧🇫🇷",
  ];
  let s = "";
  while (s.length < n) {
    const chars = [...pools[Math.floor(r() * pools.length)]];
    s += chars[Math.floor(r() * chars.length)];
    if (r() < 0.02) s += String.fromCodePoint(Math.floor(r() * 0xD000));
  }
  return s;
}

Deno.test("BPE training", async (t) => {
  await t.step("rank table is valid: bytes, distinct, each merge = two lower ranks", () => {
    assert.equal(small.vocabSize, 700);
    assert.equal(small.eot, 699);
    assert.equal(rankTableProblem(tokens(small)), null);
  });

  await t.step("deterministic, and independent of document order", () => {
    const again = Tokenizer.train(corpusText, 700);
    assert.deepEqual(again.toJSON(), small.toJSON());
    const shuffled = Tokenizer.train([...corpusText].reverse(), 700);
    assert.equal(shuffled.name, small.name);
  });

  await t.step("too little text for the vocab is a UserError", () => {
    assert.throws(() => Tokenizer.train(["ab ab ab"], 300), UserError);
    assert.throws(() => Tokenizer.train(corpusText, 256), UserError);
  });

  await t.step("rankTableProblem catches broken tables", () => {
    const tab = tokens(small);
    assert.match(rankTableProblem(tab.slice(0, 100))!, /256 bytes/);
    assert.match(rankTableProblem([...tab, tab[300]])!, /same bytes/);
    const swapped = [...tab];
    [swapped[256], swapped[698]] = [swapped[698], swapped[256]];
    assert.match(rankTableProblem(swapped)!, /concatenation/);
  });
});

Deno.test("encode/decode", async (t) => {
  const tok = loadDefaultTokenizer();

  await t.step("exact round trip of random unicode, tabs, CRLF", () => {
    for (let seed = 1; seed <= 30; seed++) {
      const s = randomText(seed, 400);
      const ids = tok.encode(s);
      assert.equal(tok.decode(ids), s);
      assert.equal(small.decode(small.encode(s)), s);
    }
  });

  await t.step("every code point 0..255 alone and together", () => {
    let all = "";
    for (let c = 0; c < 256; c++) {
      const s = String.fromCharCode(c);
      all += s;
      assert.equal(tok.decode(tok.encode(s)), s);
    }
    assert.equal(tok.decode(tok.encode(all)), all);
    assert.equal(
      tok.decode(tok.encode(all + all.split("").reverse().join(""))),
      all + [...all].reverse().join(""),
    );
  });

  await t.step("token bytes concatenate to the UTF-8 of the text", () => {
    const s = randomText(99, 1000);
    const parts = tok.encode(s).map((id) => tok.tokenBytes(id));
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((o, p) => (joined.set(p, o), o + p.length), 0);
    assert.deepEqual(joined, new TextEncoder().encode(s));
  });

  await t.step("the memoised encoder gives js-tiktoken's own result", () => {
    const j = tok.toJSON() as { pat_str: string; ranks: Record<string, number> };
    const ranks = Object.entries(j.ranks).sort((a, b) => a[1] - b[1]).map((e) => e[0]);
    const ref = new Tiktoken({
      pat_str: j.pat_str,
      special_tokens: { [EOT_TOKEN]: tok.eot },
      bpe_ranks: `! 0 ${ranks.join(" ")}`,
    });
    for (const s of [...corpusText.slice(0, 50), randomText(7, 3000), randomText(8, 3000)]) {
      assert.deepEqual(tok.encode(s), ref.encode(s, [], []));
    }
  });

  await t.step("literal <|endoftext|> in text is plain text, never the eot id", () => {
    const s = `x = "${EOT_TOKEN}"\n`;
    const ids = tok.encode(s);
    assert.ok(!ids.includes(tok.eot));
    assert.equal(tok.decode(ids), s);
    assert.equal(tok.decode([tok.eot]), EOT_TOKEN);
    assert.equal(tok.singleToken(EOT_TOKEN), tok.eot);
  });

  await t.step("decoding arbitrary ids does not throw", () => {
    const r = rng(5);
    for (let i = 0; i < 200; i++) {
      const ids = Array.from({ length: 20 }, () => Math.floor((r() - 0.1) * 3000));
      assert.equal(typeof tok.decode(ids), "string");
    }
    assert.equal(typeof tok.decode([0xC3, 0x80, 0xFF, -1, 1e9, 0.5, NaN]), "string");
    assert.throws(() => tok.tokenBytes(tok.vocabSize), RangeError);
  });
});

Deno.test("default tokenizer", async (t) => {
  const tok = loadDefaultTokenizer();

  await t.step("2048 ids, eot 2047, valid ranks", () => {
    assert.equal(tok.vocabSize, 2048);
    assert.equal(tok.eot, 2047);
    assert.equal(rankTableProblem(tokens(tok)), null);
    assert.equal(loadDefaultTokenizer(), tok);
  });

  await t.step("task-relevant strings are single tokens", () => {
    const singles = ['")', "')", "]]\n", "],", '("', "('", " ==", " =", "):\n", "    "];
    const keywords = ["def", "return", "if", "elif", "else", "for", "while", "in", "as", "with"];
    const lineStart = ["class", "import", "def", "print"];
    for (const s of [...singles, ...keywords.map((k) => " " + k), ...lineStart]) {
      assert.notEqual(tok.singleToken(s), null, `${JSON.stringify(s)} is not one token`);
    }
    assert.equal(tok.singleToken("no such token at all"), null);
  });

  await t.step("re-training on the corpus reproduces the committed file", () => {
    const fresh = trainDefaultTokenizer();
    assert.deepEqual(
      fresh.toJSON(),
      defaultJson,
      "src/data/tokenizer_default.json is stale: deno run -A src/data/make_default_tokenizer.ts",
    );
  });
});

Deno.test("fromJSON", async (t) => {
  const good = small.toJSON() as Record<string, unknown>;
  const ranks = good.ranks as Record<string, number>;
  const withRanks = (f: (r: Record<string, number>) => void) => {
    const r = { ...ranks };
    f(r);
    return { ...good, ranks: r };
  };
  const keyOf = (rank: number) => Object.keys(ranks).find((k) => ranks[k] === rank)!;

  await t.step("round trips through JSON text", () => {
    const back = Tokenizer.fromJSON(JSON.parse(JSON.stringify(good)));
    assert.equal(back.name, small.name);
    assert.deepEqual(
      back.encode("def f(x):\n    return x\n"),
      small.encode("def f(x):\n    return x\n"),
    );
  });

  await t.step("rejects malformed files with a one-line UserError", () => {
    const cases: [unknown, RegExp][] = [
      [null, /not a JSON object/],
      [[1, 2], /not a JSON object/],
      [{ ...good, vocab_size: "700" }, /vocab_size/],
      [{ ...good, vocab_size: 701 }, /eot must be/],
      [{ ...good, eot: 5 }, /eot must be/],
      [{ ...good, eot_token: "<eos>" }, /eot_token/],
      [{ ...good, pat_str: "(" }, /pat_str/],
      // A catastrophic pattern (exponential backtracking on "aaaa…b") is never run.
      [{ ...good, pat_str: "(a+)+b" }, /pat_str is not thinwire's pre-split pattern/],
      [{ ...good, ranks: undefined }, /ranks must be/],
      [{ ...good, name: "bpe700-00000000" }, /does not match its contents/],
      [withRanks((r) => delete r[keyOf(5)]), /699 entries, need 699|entries/],
      [withRanks((r) => r[keyOf(5)] = 6), /rank 6 appears twice|entries/],
      [withRanks((r) => r[keyOf(400)] = 1.5), /must be an integer/],
      [withRanks((r) => (delete r[keyOf(400)], r["!!"] = 400)), /not non-empty base64/],
      [
        withRanks((r) => (delete r[keyOf(400)], r["QUJD"] = 400)),
        /not the concatenation|same bytes/,
      ],
    ];
    for (const [json, re] of cases) {
      assert.throws(() => Tokenizer.fromJSON(json), (e: Error) => {
        assert.ok(e instanceof UserError, `${re}: got ${e}`);
        assert.match(e.message, /^tokenizer file: /);
        assert.match(e.message, re);
        assert.ok(!e.message.includes("\n"));
        return true;
      });
    }
  });
});

Deno.test("bytePairMerge: tiktoken's merges, with a heap (long pre-tokens stay fast)", () => {
  const tok = loadDefaultTokenizer();
  const j = tok.toJSON() as { ranks: Record<string, number> };
  const byRank = Object.entries(j.ranks).sort((a, b) => a[1] - b[1]).map(([b64]) => b64);
  // The same ranks with one pre-token per text: tiktoken's BPE of the whole string.
  const whole = new Tiktoken({
    pat_str: "[\\s\\S]+",
    special_tokens: {},
    bpe_ranks: `! 0 ${byRank.join(" ")}`,
  });
  const r = rng(7);
  const alphabets = [" ", "  \t", "ab", "abc def_", "x = (1, 2)\n", "éü€ 😀a", "    return"];
  for (let trial = 0; trial < 300; trial++) {
    const alpha = [...alphabets[trial % alphabets.length]];
    const n = 1 + Math.floor(r() * (trial < 200 ? 40 : 700));
    const s = Array.from({ length: n }, () => alpha[Math.floor(r() * alpha.length)]).join("");
    const want = whole.encode(s, [], []);
    assert.deepEqual(tok.bytePairMerge(new TextEncoder().encode(s)), want, JSON.stringify(s));
  }
  // 20,000 spaces are one pre-token: over two minutes with the quadratic merge.
  const long = "x =" + " ".repeat(20000) + "1";
  assert.equal(tok.decode(tok.encode(long)), long);
});
