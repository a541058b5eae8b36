/**
 * Tests of the generated corpus (src/data/corpus): every program parses with the real Python parser
 * and binds every name it reads, streams are reproducible per seed, train and validation differ,
 * each construct the 20 tasks probe appears at a healthy rate, and docs/corpus.md lists the
 * grammar's weight tables as they are.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { corpusStream, generateProgram, TRAIN_SEED, VAL_SEED } from "../src/data/corpus/index.ts";
import { TABLES } from "../src/data/corpus/grammar.ts";
import { Rng } from "../src/util/rng.ts";

function take(seed: number, n: number): string[] {
  const out: string[] = [];
  for (const d of corpusStream(seed)) {
    out.push(d);
    if (out.length >= n) break;
  }
  return out;
}

const python = (() => {
  try {
    return new Deno.Command("python3", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();
if (!python) console.warn("corpus_test: python3 not found, skipping the parser check");

/**
 * Reads NUL-separated programs on stdin; prints one line per problem: a syntax error, a name read
 * but never bound anywhere in the document, or a bound name that shadows a builtin.
 */
const CHECKER = `
import ast, builtins, keyword, sys
B = set(dir(builtins)) | {"__name__"}
for i, src in enumerate(sys.stdin.read().split("\\0")):
    try:
        compile(src, f"doc {i}", "exec")  # also catches return/break outside their blocks
        tree = ast.parse(src)
    except SyntaxError as e:
        print(f"doc {i}: {e}")
        continue
    bound = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load): bound.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.ClassDef)): bound.add(n.name)
        elif isinstance(n, ast.arg): bound.add(n.arg)
        elif isinstance(n, ast.alias): bound.add(n.asname or n.name)
        elif isinstance(n, ast.ExceptHandler) and n.name: bound.add(n.name)
    for name in sorted(bound & (B - {"__name__"})):
        print(f"doc {i}: shadows builtin {name}")
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in bound | B:
            print(f"doc {i}: line {n.lineno}: {n.id} is never bound")
`;

Deno.test({
  name: "300 programs compile with python3 and bind every name they read",
  ignore: !python,
  async fn() {
    const docs = take(TRAIN_SEED, 150).concat(take(VAL_SEED, 150));
    const p = new Deno.Command("python3", {
      args: ["-c", CHECKER],
      stdin: "piped",
      stdout: "piped",
    })
      .spawn();
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(docs.join("\0")));
    await w.close();
    const out = await p.output();
    assert.ok(out.success, "python3 checker failed");
    const problems = new TextDecoder().decode(out.stdout).trim();
    assert.equal(problems, "", problems.split("\n").slice(0, 10).join("\n"));
  },
});

Deno.test("streams are reproducible per seed; train and validation differ", () => {
  const a = take(TRAIN_SEED, 30), b = take(TRAIN_SEED, 30);
  assert.deepEqual(a, b);
  assert.equal(generateProgram(new Rng(12345)), generateProgram(new Rng(12345)));
  assert.notEqual(generateProgram(new Rng(12345)), generateProgram(new Rng(12346)));
  assert.notEqual(TRAIN_SEED, VAL_SEED);
  const val = new Set(take(VAL_SEED, 30));
  assert.ok(a.every((d) => !val.has(d)), "a training document reappears in validation");
  assert.equal(new Set(a).size, a.length, "duplicate documents within 30");
  // corpusStream(seed) is generateProgram(root.fork(i)) for i = 0, 1, ... (src/data/dataset.ts
  // rebuilds it from these parts)
  const root = new Rng(TRAIN_SEED);
  assert.equal(generateProgram(root.fork(0)), a[0]);
  assert.equal(generateProgram(root.fork(1)), a[1]);
});

/** The constructs each task probes, as [task, construct, line regex, minimum count per MB]. */
const CONSTRUCTS: [string, string, RegExp, number][] = [
  ["single_double_quote", `closing ")`, /"\)/g, 500],
  ["single_double_quote", `closing ')`, /'\)/g, 500],
  ["final_kwarg", "def with a default", /^\s*def \w+\(.*=/gm, 200],
  ["final_kwarg", "default, then another param", /^\s*def \w+\(.*=[^,)]*, \w+=/gm, 80],
  ["set_or_string", "x = set()", /^\s*[\w.]+ = set\(\)$/gm, 120],
  ["set_or_string", "x.add(...)", /\.add\(/g, 120],
  ["set_or_string", `x = "" / x = "abc"`, /^\s*[\w.]+ = (["'])[^"']*\1$/gm, 300],
  ["set_or_string", "x += ...", /\+= /g, 300],
  ["class_init", "self.x = x", /^\s*self\.(\w+) = \1$/gm, 300],
  ["with_as", "with open(...) as f:", /with open\(.*\) as \w+:/g, 150],
  ["with_as", "f = open(...)", /^\s*\w+ = open\(/gm, 80],
  ["with_open", `open(.., "r")`, /open\(.*, ["']r["']/g, 100],
  ["with_open", `open(.., "w")`, /open\(.*, ["']w["']/g, 100],
  ["bracket_brace", `{"k": v, ...}`, /\{["'][^"']*["']: /g, 200],
  ["bracket_brace", `["a", "b", ...]`, /\[["'][^"']*["'], /g, 300],
  ["bracket_counting", "]]", /\]\]/g, 200],
  ["bracket_counting", "], [", /\], \[/g, 300],
  ["for_while", "for ... in", /^\s*for .* in /gm, 800],
  ["for_while", "while ...:", /^\s*while /gm, 150],
  ["else_elif", "else:", /^\s*else:/gm, 250],
  ["else_elif", "elif ...:", /^\s*elif /gm, 150],
  ["fstring_brace", `print(f"...")`, /print\(f["']/g, 300],
  ["fstring_brace", `print("...")`, /print\(["']/g, 250],
  ["if_ternary", "a if c else b", /\S.* if .* else /g, 250],
  ["if_ternary", "if c:", /^\s*if .*:$/gm, 1000],
  ["var_swap", "x, y = y, x", /([\w.[\] +]+), ([\w.[\] +]+) = \2, \1/g, 100],
  ["lambda_func", "f = lambda x: ...", /^\s*\w+ = lambda /gm, 100],
  ["lambda_func", "def f(...):", /^\s*def /gm, 600],
  ["if_equals", "if x == y:", /^\s*(el)?if [\w.[\]]+ == /gm, 500],
  ["if_equals", "x = y", /^\s*\w+ = [a-z_][\w.]*$/gm, 60],
  ["enumerate_range", "for i, x in enumerate(", /for \w+, \w+ in enumerate\(/g, 120],
  ["enumerate_range", "for i in range(", /for \w+ in range\(/g, 200],
  ["var_if", "if x == True:", /if [\w.]+ == (True|False):/g, 80],
  ["var_if", "x = True", /^\s*[\w.]+ = (True|False)$/gm, 150],
  ["while_return_true", "while True:", /while True:/g, 80],
  ["while_return_true", "return True", /return True$/gm, 80],
];

Deno.test("every construct the tasks probe appears at a healthy rate (~1 MB)", () => {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const docs: string[] = [];
  let bytes = 0;
  for (const d of corpusStream(TRAIN_SEED)) {
    docs.push(d);
    if ((bytes += d.length) >= 1e6) break;
  }
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  const text = docs.join("\n");
  const mb = text.length / 1e6;
  const rows: string[] = [];
  const low: string[] = [];
  for (const [task, what, re, min] of CONSTRUCTS) {
    const n = text.match(re)?.length ?? 0;
    rows.push(
      `${task.padEnd(20)} ${what.padEnd(30)} ${(n / mb).toFixed(0).padStart(6)}/MB ${
        (n / docs.length).toFixed(2).padStart(6)
      }/doc`,
    );
    if (n / mb < min) low.push(`${task} ${what}: ${(n / mb).toFixed(0)}/MB < ${min}`);
  }
  // indentation of the line after a `for` line, by depth (indent_for)
  const depth = new Map<number, number>();
  for (const d of docs) {
    const ls = d.split("\n");
    for (let i = 0; i + 1 < ls.length; i++) {
      if (!/^\s*for .*:$/.test(ls[i])) continue;
      const k = (ls[i + 1].length - ls[i + 1].trimStart().length) / 4;
      depth.set(k, (depth.get(k) ?? 0) + 1);
    }
  }
  const lines = docs.map((d) => d.split("\n").length - 1).sort((a, b) => a - b);
  const q = (f: number) => lines[Math.floor(f * (lines.length - 1))];
  console.log(rows.join("\n"));
  console.log(
    `indent after for, per MB by depth: ${
      [...depth].sort((a, b) => a[0] - b[0]).map(([k, n]) => `${k}:${(n / mb).toFixed(0)}`).join(
        " ",
      )
    }`,
  );
  console.log(
    `${docs.length} documents, ${mb.toFixed(2)} MB; lines p5/p50/p95 ${q(0.05)}/${q(0.5)}/${
      q(0.95)
    }`,
  );
  console.log(
    `generation: ${(mb / cpu).toFixed(1)} MB/s of CPU time (${(mb / wall).toFixed(1)} MB/s wall)`,
  );
  assert.deepEqual(low, []);
  for (const k of [1, 2, 3, 4]) {
    assert.ok((depth.get(k) ?? 0) / mb >= 50, `few for bodies at depth ${k}`);
  }
  assert.ok(q(0.5) >= 20 && q(0.5) <= 80, `median document ${q(0.5)} lines`);
});

Deno.test("identifiers and strings vary (big banks, no template repetition)", () => {
  const docs = take(TRAIN_SEED + 100, 200);
  const names = new Set<string>();
  const strings = new Set<string>();
  const openings = new Set<string>();
  for (const d of docs) {
    for (const m of d.matchAll(/^\s*(\w+) = /gm)) names.add(m[1]);
    for (const m of d.matchAll(/"([^"\n]*)"|'([^'\n]*)'/g)) strings.add(m[1] ?? m[2]);
    openings.add(d.slice(0, 150));
  }
  assert.ok(names.size >= 1000, `only ${names.size} distinct assigned names`);
  assert.ok(strings.size >= 1000, `only ${strings.size} distinct string contents`);
  console.log(`200 documents: ${names.size} assigned names, ${strings.size} string contents`);
  assert.ok(openings.size >= 195, `only ${openings.size} distinct openings in 200 documents`);
});

Deno.test("docs/corpus.md lists every weight table as in grammar.ts", async () => {
  const md = await Deno.readTextFile(new URL("../docs/corpus.md", import.meta.url));
  for (const [table, weights] of Object.entries(TABLES)) {
    const at = md.indexOf(`### ${table}`);
    assert.ok(at >= 0, `docs/corpus.md has no "### ${table}" section`);
    const next = md.indexOf("\n#", at + 4);
    const section = md.slice(at, next < 0 ? undefined : next);
    const documented: Record<string, number> = {};
    for (const m of section.matchAll(/^\|\s*`(\w+)`\s*\|\s*([\d.]+)\s*\|/gm)) {
      documented[m[1]] = Number(m[2]);
    }
    assert.deepEqual(documented, { ...weights }, `docs/corpus.md ${table} differs from grammar.ts`);
  }
});
