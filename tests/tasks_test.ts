import assert from "node:assert/strict";
import {
  EVAL_SEED,
  formatTaskList,
  getTask,
  makePairs,
  PRUNE_SEED,
  type TaskPair,
  TASKS,
} from "../tasks/index.ts";
import * as B from "../tasks/banks.ts";
import { Rng } from "../src/util/rng.ts";
import { UserError } from "../src/errors.ts";
import { loadDefaultTokenizer } from "../src/data/tokenizer.ts";
import { corpusStream, TRAIN_SEED } from "../src/data/corpus/index.ts";

/** docs/method.md §3's table, in order. */
const PAPER_NAMES = [
  "single_double_quote",
  "final_kwarg",
  "set_or_string",
  "set_or_string_fixedvarname",
  "class_init",
  "with_as",
  "bracket_brace",
  "with_open",
  "bracket_counting",
  "for_while",
  "else_elif",
  "fstring_brace",
  "if_ternary",
  "var_swap",
  "indent_for",
  "lambda_func",
  "if_equals",
  "enumerate_range",
  "var_if",
  "while_return_true",
];
/** Pairs per task and seed that the content checks look at. */
const N = 40;
/** Longest differing span of a pair, in characters, on either side. */
const MAX_SPAN = 40;

const sample = new Map<string, TaskPair[]>(
  TASKS.map((t) => [t.name, [...makePairs(t, EVAL_SEED, N), ...makePairs(t, PRUNE_SEED, N)]]),
);

function completed(p: TaskPair, i: number): string {
  return p.prompts[i] + p.answers[i] + p.endings[i];
}

function hasPython(): boolean {
  try {
    return new Deno.Command("python3", { args: ["-c", "pass"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
const PYTHON = hasPython();
if (!PYTHON) console.warn("tasks_test: python3 not found, skipping the ast.parse checks");

/** Runs `script` in one python3 process with `input` as JSON on stdin; returns its JSON stdout. */
async function python(script: string, input: unknown): Promise<unknown> {
  const child = new Deno.Command("python3", {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(input)));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  assert.ok(out.success, `python3 failed: ${dec.decode(out.stderr)}`);
  return JSON.parse(dec.decode(out.stdout));
}

Deno.test("the 20 tasks of docs/method.md, in its order, each with a one-line description", () => {
  assert.deepEqual(TASKS.map((t) => t.name), PAPER_NAMES);
  for (const t of TASKS) {
    assert.ok(t.description.length > 10 && !t.description.includes("\n"), t.name);
    assert.equal(getTask(t.name), t);
  }
  assert.throws(() => getTask("no_such_task"), (e) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /no_such_task/);
    for (const n of PAPER_NAMES) assert.ok(e.message.includes(n), `message lists ${n}`);
    return true;
  });
});

Deno.test("pairs are deterministic per seed, prefix-stable, and differ across seeds", () => {
  assert.notEqual(EVAL_SEED, PRUNE_SEED);
  for (const t of TASKS) {
    const a = makePairs(t, 123, 12), b = makePairs(t, 123, 12);
    assert.deepEqual(a, b, t.name);
    assert.deepEqual(makePairs(t, 123, 5), a.slice(0, 5), t.name);
    const c = makePairs(t, 124, 12);
    assert.ok(a.some((p, i) => p.prompts[0] !== c[i].prompts[0]), `${t.name}: seeds 123, 124`);
    // generate() itself is a pure function of the generator state.
    const [r1, r2] = [new Rng(9), new Rng(9)];
    assert.deepEqual(t.generate(r1), t.generate(r2), t.name);
  }
});

Deno.test("each pair differs in one short span, with different answers", () => {
  for (const [name, pairs] of sample) {
    for (const p of pairs) {
      const [x, y] = p.prompts;
      let pre = 0;
      while (pre < x.length && pre < y.length && x[pre] === y[pre]) pre++;
      let suf = 0;
      while (suf < x.length - pre && suf < y.length - pre && x.at(-1 - suf) === y.at(-1 - suf)) {
        suf++;
      }
      const dx = x.slice(pre, x.length - suf), dy = y.slice(pre, y.length - suf);
      const what = `${name}: ${JSON.stringify(dx)} vs ${JSON.stringify(dy)}`;
      assert.ok(dx.length + dy.length > 0, `${name}: identical prompts`);
      assert.ok(dx.length <= MAX_SPAN && dy.length <= MAX_SPAN, `span too long: ${what}`);
      assert.ok(!dx.includes("\n") && !dy.includes("\n"), `span crosses a line: ${what}`);
      assert.notEqual(p.answers[0], p.answers[1], name);
      assert.ok(p.answers.every((a) => a.length > 0), name);
    }
  }
});

/** The last line of a prompt, or the line before a final newline. */
function lastLine(s: string): string {
  const t = s.endsWith("\n") ? s.slice(0, -1) : s;
  return t.slice(t.lastIndexOf("\n") + 1);
}

/** The differing span of two strings, widened on both sides to whole words. */
function diffWords(a: string, b: string): [string, string] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a.at(-1 - suf) === b.at(-1 - suf)) suf++;
  while (pre > 0 && /\w/.test(a[pre - 1])) pre--;
  while (suf > 0 && /\w/.test(a.at(-suf)!)) suf--;
  return [a.slice(pre, a.length - suf), b.slice(pre, b.length - suf)];
}

/** Answers that every pair of a task uses (tasks that copy a name have none). */
const FIXED_ANSWERS: Record<string, [string, string]> = {
  single_double_quote: ['")\n', "')\n"],
  final_kwarg: ["=None", "):\n"],
  set_or_string: [".add", " +="],
  set_or_string_fixedvarname: [".add", " +="],
  with_as: ['")', '")\n'],
  bracket_brace: ['":', '",'],
  with_open: ["r", "w"],
  bracket_counting: ["]]\n", "]\n"],
  for_while: [" in", ":\n"],
  fstring_brace: [" {", '",'],
  if_ternary: [":\n", " else"],
  lambda_func: [":", "):\n"],
  if_equals: [" ==", " ="],
  enumerate_range: [" enumerate", " range"],
  var_if: [":\n", "\n"],
  while_return_true: [":\n", "\n"],
};

/** Per task, whether a pair shows the contrast of the task table of docs/method.md §3 (last lines L, answers A). */
const CONTRAST: Record<string, (p: TaskPair, L: [string, string], A: [string, string]) => boolean> =
  {
    single_double_quote: (_, [a, b]) => /\("[\w ]+$/.test(a) && /\('[\w ]+$/.test(b),
    final_kwarg: (_, [a, b]) =>
      /^ *def \w+\(.*=[^,]+, \w+$/.test(a) && /^ *def \w+\([\w, ]+$/.test(b),
    set_or_string: (p, [a]) => {
      const v = a.trim();
      return p.prompts[0].includes(`${v} = set()\n`) &&
        /= (""|''|"\w+")\n/.test(p.prompts[1].slice(p.prompts[1].lastIndexOf(`${v} = `)));
    },
    set_or_string_fixedvarname: (p, L, A) =>
      L[0].trim() === "result" && CONTRAST.set_or_string(p, L, A),
    class_init: (p, L, A) =>
      L.every((l, i) => l.endsWith(`self.${A[i].trim()} =`)) &&
      A.every((x) =>
        p.prompts[0].includes(`def __init__(self, `) && p.prompts[0].includes(`${x},`) ||
        p.prompts[0].includes(`${x}):`)
      ),
    with_as: (_, [a, b]) => /^ *with open\(.+, "\w$/.test(a) && /^ *\w+ = open\(.+, "\w$/.test(b),
    bracket_brace: (_, [a, b]) => /[({ ]\{"\w+$/.test(a) && /[([ ]\["\w+$/.test(b),
    with_open: (p, [a, b]) => {
      const [wa, wb] = diffWords(p.prompts[0], p.prompts[1]);
      const pairs = [...B.READ_WRITE_NAMES, ...B.READ_WRITE_STEMS, ...B.READ_WRITE_VERBS];
      return /with open\(.+, ["']$/.test(a) && /with open\(.+, ["']$/.test(b) &&
        pairs.some(([r, w]) => wa.startsWith(r) && wa.replace(r, w) === wb) &&
        p.endings[0].includes(".read()") && p.endings[1].includes(".write(");
    },
    bracket_counting: (_, [a, b]) => /[= ]\[\[[\w, ]+$/.test(a) && /[= ]\[[\w, ]+$/.test(b),
    for_while: (_, [a, b]) => /^ *for \w+$/.test(a) && /^ *while \w+$/.test(b),
    else_elif: (p, [a, b], A) =>
      /^ *else$/.test(a) && /^ *elif$/.test(b) && A[0] === ":\n" &&
      p.prompts[1].includes(`if${A[1]} `),
    fstring_brace: (_, [a, b]) => /print\(f"[\w ]+$/.test(a) && /print\("[\w ]+$/.test(b),
    if_ternary: (_, [a, b]) =>
      /^ *if [^=]+( == \d+)?$/.test(a) && /^ *(\w+ =|return) \w+ if /.test(b),
    var_swap: (_, L, A) =>
      L.every((l, i) => {
        const m = l.match(/^ *(\w+), (\w+) = (\w+),$/);
        return m !== null && m[2] === m[3] && A[i] === ` ${m[1]}`;
      }),
    indent_for: (_, L, A) =>
      L.every((l, i) => /^ *for \w+ in \w+:$/.test(l) && A[i] === " ".repeat(l.search(/\S/) + 3)) &&
      A[1].length === A[0].length + 4,
    lambda_func: (_, [a, b]) =>
      /^ *\w+ = lambda [\w, ]+$/.test(a) && /^ *def \w+\([\w, ]+$/.test(b),
    if_equals: (_, [a, b]) => /^ *(if|while) \w+$/.test(a) && /^ *\w+$/.test(b),
    enumerate_range: (_, [a, b]) => /^ *for \w+, \w+ in$/.test(a) && /^ *for \w+ in$/.test(b),
    var_if: (_, [a, b]) => /^ *if \w+ == (True|False)$/.test(a) && /^ *\w+ = (True|False)$/.test(b),
    while_return_true: (_, [a, b]) => /^ *while True$/.test(a) && /^ *return True$/.test(b),
  };

Deno.test("each pair shows its task's contrast, with the task's answer tokens", () => {
  assert.deepEqual(Object.keys(CONTRAST), PAPER_NAMES);
  for (const [name, pairs] of sample) {
    for (const p of pairs) {
      const L: [string, string] = [lastLine(p.prompts[0]), lastLine(p.prompts[1])];
      if (name in FIXED_ANSWERS) assert.deepEqual(p.answers, FIXED_ANSWERS[name], name);
      assert.ok(CONTRAST[name](p, L, p.answers), `${name}: ${JSON.stringify([L, p.answers])}`);
    }
  }
});

Deno.test("prompts vary: no repeats within a set, and their last 60 characters mostly differ", () => {
  for (const t of TASKS) {
    const pairs = makePairs(t, EVAL_SEED, 200);
    assert.equal(new Set(pairs.map((p) => p.prompts[0])).size, 200, `${t.name}: duplicate prompts`);
    const tails = new Set(pairs.map((p) => p.prompts[0].slice(-60)));
    assert.ok(tails.size >= 150, `${t.name}: ${tails.size} distinct prompt tails of 200`);
  }
});

Deno.test({
  name: "completed members (prompt + answer + ending) are valid Python; bank names are identifiers",
  ignore: !PYTHON,
  fn: async () => {
    const programs: string[] = [], labels: string[] = [];
    for (const [name, pairs] of sample) {
      pairs.forEach((p, k) => {
        for (const i of [0, 1]) {
          programs.push(completed(p, i));
          labels.push(`${name} pair ${k} member ${i}`);
        }
      });
    }
    // Names used on their own must not be keywords or builtins; parts of compounds need only be
    // identifiers.
    const rng = new Rng(5);
    const standalone = [
      ...B.NOUNS,
      ...B.COPY_NAMES,
      ...B.LOOP_NAMES,
      ...B.INDEX_NAMES,
      ...B.READ_WRITE_NAMES.flat(),
      ...Array.from({ length: 300 }, () => B.varName(rng)),
      ...Array.from({ length: 300 }, () => B.pluralName(rng)),
      ...Array.from({ length: 300 }, () => B.funcName(rng)),
      ...Array.from({ length: 100 }, () => B.className(rng)),
    ];
    const parts = Object.values(B.IDENTIFIER_BANKS).flat();
    const script = `
import ast, builtins, json, keyword, sys
d = json.load(sys.stdin)
errs = []
for i, p in enumerate(d["programs"]):
    try:
        ast.parse(p)
    except SyntaxError as e:
        errs.append([i, f"{e.msg} (line {e.lineno})"])
bad = [n for n in d["standalone"] if not n.isidentifier() or keyword.iskeyword(n)
       or keyword.issoftkeyword(n) or n in dir(builtins)]
bad += [n for n in d["parts"] if not n.isidentifier() or keyword.iskeyword(n)]
print(json.dumps({"errors": errs, "bad_names": sorted(set(bad))}))
`;
    const res = await python(script, { programs, standalone, parts }) as {
      errors: [number, string][];
      bad_names: string[];
    };
    const shown = res.errors.slice(0, 3).map(([i, e]) => `${labels[i]}: ${e}\n${programs[i]}`);
    assert.equal(
      res.errors.length,
      0,
      `${res.errors.length} invalid programs:\n${shown.join("\n")}`,
    );
    assert.deepEqual(res.bad_names, []);
  },
});

Deno.test("answers are single tokens, and the prompt ends where the completed text's tokens split", () => {
  const tok = loadDefaultTokenizer();
  let total = 0, count = 0;
  for (const [name, pairs] of sample) {
    for (const p of pairs) {
      for (const i of [0, 1]) {
        const id = tok.singleToken(p.answers[i]);
        assert.ok(id !== null, `${name}: answer ${JSON.stringify(p.answers[i])} is not one token`);
        const prompt = tok.encode(p.prompts[i]);
        const full = tok.encode(completed(p, i));
        assert.deepEqual(
          full.slice(0, prompt.length + 1),
          [...prompt, id],
          `${name}: the completed member does not tokenize as prompt + answer: ` +
            JSON.stringify(p.prompts[i].slice(-30) + p.answers[i] + p.endings[i].slice(0, 10)),
        );
        assert.ok(prompt.length <= 200, `${name}: prompt of ${prompt.length} tokens`);
        total += prompt.length;
        count++;
      }
    }
  }
  assert.ok(total / count < 100, `mean prompt length ${total / count} tokens`);
});

Deno.test("no prompt occurs verbatim in the first 2 MB of the training corpus", () => {
  const docs: string[] = [];
  let chars = 0;
  for (const d of corpusStream(TRAIN_SEED)) {
    docs.push(d);
    if ((chars += d.length) >= 2_000_000) break;
  }
  const corpus = docs.join("\0");
  for (const [name, pairs] of sample) {
    for (const p of pairs.slice(0, 25)) {
      for (const q of p.prompts) assert.ok(!corpus.includes(q), `${name}: ${JSON.stringify(q)}`);
    }
  }
});

Deno.test("formatTaskList: a line per task followed by its example pair", () => {
  const lines = formatTaskList().split("\n");
  assert.equal(lines.length, 3 * TASKS.length);
  TASKS.forEach((t, k) => {
    assert.ok(lines[3 * k].startsWith(t.name + " ") && lines[3 * k].includes(t.description));
    const p = makePairs(t, EVAL_SEED, 1)[0];
    for (const i of [0, 1]) assert.ok(lines[3 * k + 1 + i].endsWith(JSON.stringify(p.answers[i])));
  });
});
