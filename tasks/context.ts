/**
 * The code around a task's contrast: a scope (top level, a function body or a method body) and a
 * few random simple statements, so that no prompt is a fixed string a model could memorise.
 * Every line produced here is complete, so a prompt's prefix is always valid Python so far.
 */
import type { Rng } from "../src/util/rng.ts";
import * as B from "./banks.ts";

/**
 * Per-prompt naming state: names taken (never reused), names bound (readable later) and the bound
 * names known to hold numbers (the only ones arithmetic and comparisons read).
 */
export interface Scope {
  rng: Rng;
  used: Set<string>;
  vars: string[];
  nums: string[];
}

/** A fresh scope for one pair. */
export function newScope(rng: Rng): Scope {
  return { rng, used: new Set(), vars: [], nums: [] };
}

/** A name from `make` not yet used in this scope (marked used, not bound). */
export function fresh(s: Scope, make: (rng: Rng) => string = B.varName): string {
  for (let t = 0; t < 64; t++) {
    const n = make(s.rng);
    if (!s.used.has(n)) {
      s.used.add(n);
      return n;
    }
  }
  throw new Error("fresh: name bank exhausted");
}

/** A bound name to read, or a fresh one when none is bound yet. */
export function someVar(s: Scope): string {
  return s.vars.length > 0 ? s.rng.pick(s.vars) : fresh(s);
}

/** A bound number-valued name to compare, or a fresh one when none is bound yet. */
export function someNum(s: Scope): string {
  return s.nums.length > 0 ? s.rng.pick(s.nums) : fresh(s);
}

/** What filler lines may contain; tasks turn off what would be a distractor for them. */
export interface FillerOptions {
  /** String literals and comments (off for quote tasks). Default true. */
  strings?: boolean;
  /** `[`, `]`, `{`, `}` (off for bracket tasks). Default true. */
  brackets?: boolean;
  /** Two-line `if`/`for` blocks. Default true. */
  blocks?: boolean;
  /** Comment lines (never a block's only line, which would leave the block empty). Default true. */
  comments?: boolean;
}

const OPS = ["+", "-", "*", "//", "%"];

function quote(s: Scope, text: string): string {
  return s.rng.chance(0.75) ? `"${text}"` : `'${text}'`;
}

/** One simple statement at indentation `ind`, ending in "\n". */
export function fillerLine(s: Scope, ind: string, opt: FillerOptions = {}): string {
  const { rng } = s;
  const strings = opt.strings ?? true, brackets = opt.brackets ?? true, blocks = opt.blocks ?? true;
  const kinds = ["int", "int", "arith", "call", "len", "aug", "print", "callstmt", "method", "cmp"];
  if (strings) kinds.push("str", "strprint");
  if (strings && (opt.comments ?? true)) kinds.push("comment");
  if (brackets) kinds.push("list", "empty", "index");
  if (blocks) kinds.push("if", "for");
  // The right-hand side is drawn before the new name is bound, so a line never reads its target.
  const assign = (rhs: string, make: (rng: Rng) => string = B.varName, num = false) => {
    const n = fresh(s, make);
    s.vars.push(n);
    if (num) s.nums.push(n);
    return `${ind}${n} = ${rhs}\n`;
  };
  for (;;) {
    const kind = rng.pick(kinds);
    const hasVars = s.vars.length > 0, hasNums = s.nums.length > 0;
    switch (kind) {
      case "int":
        return assign(B.intLit(rng), B.varName, true);
      case "arith":
        if (!hasNums) continue;
        return assign(`${rng.pick(s.nums)} ${rng.pick(OPS)} ${1 + rng.int(20)}`, B.varName, true);
      case "call":
        return assign(`${B.funcName(rng)}(${hasVars ? someVar(s) : ""})`);
      case "len":
        return assign(`len(${fresh(s, B.pluralName)})`, B.varName, true);
      case "aug":
        if (!hasNums) continue;
        return `${ind}${rng.pick(s.nums)} ${rng.pick(["+=", "-=", "*="])} ${1 + rng.int(9)}\n`;
      case "print":
        if (!hasVars) continue;
        return `${ind}print(${someVar(s)})\n`;
      case "callstmt":
        return `${ind}${B.funcName(rng)}(${hasVars ? someVar(s) + ", " : ""}${B.intLit(rng)})\n`;
      case "method":
        return assign(`${fresh(s)}.${rng.pick(B.METHODS)}()`);
      case "cmp":
        if (!hasNums) continue;
        return assign(`${rng.pick(s.nums)} > ${B.intLit(rng)}`);
      case "str":
        return assign(quote(s, B.words(rng)));
      case "strprint":
        return `${ind}print(${quote(s, B.words(rng))})\n`;
      case "comment":
        return `${ind}# ${B.words(rng, 5).toLowerCase()}\n`;
      case "list": {
        const k = 1 + rng.int(4);
        const xs = Array.from({ length: k }, () => B.intLit(rng)).join(", ");
        return assign(`[${xs}]`, B.pluralName);
      }
      case "empty":
        return assign(rng.chance(0.5) ? "[]" : "{}");
      case "index":
        return assign(`${fresh(s, B.pluralName)}[${rng.int(5)}]`);
      case "if":
        if (!hasNums) continue;
        return `${ind}if ${rng.pick(s.nums)} > ${B.intLit(rng)}:\n` +
          fillerLine(s, ind + "    ", { ...opt, blocks: false, comments: false });
      case "for": {
        const x = fresh(s, (r) => r.pick(B.NOUNS));
        const line = `${ind}for ${x} in ${fresh(s, B.pluralName)}:\n`;
        s.vars.push(x);
        return line + fillerLine(s, ind + "    ", { ...opt, blocks: false, comments: false });
      }
    }
  }
}

/** `n` filler lines at indentation `ind`. */
export function fillers(s: Scope, ind: string, n: number, opt: FillerOptions = {}): string {
  let out = "";
  for (let i = 0; i < n; i++) out += fillerLine(s, ind, opt);
  return out;
}

/** Where a prompt's core sits. */
export type Where = "top" | "def" | "method";

/** An opened scope: the text so far and the indentation its body continues at. */
export interface Frame {
  text: string;
  ind: string;
  where: Where;
}

/** Options for `prelude`: filler content, allowed scopes and the filler line count range. */
export interface PreludeOptions extends FillerOptions {
  where?: readonly Where[];
  /** Filler lines after the scope opens: [min, max]. Default [1, 3]. */
  lines?: readonly [number, number];
}

/**
 * Opens a scope and writes a few filler lines in it. A top-level prelude has at least two lines
 * (so a short core never makes a prompt that could occur verbatim in the corpus).
 */
export function prelude(s: Scope, opt: PreludeOptions = {}): Frame {
  const { rng } = s;
  const where: Where = rng.pick(opt.where ?? ["top", "def", "method"] as const);
  const [lo, hi] = opt.lines ?? [1, 3];
  let n = lo + rng.int(hi - lo + 1);
  let text = "";
  if (rng.chance(0.3)) text += `import ${rng.pick(B.MODULES)}\n`;
  if (where === "top") {
    if (text !== "" && rng.chance(0.5)) text += "\n";
    n = Math.max(n, 2);
    return { text: text + fillers(s, "", n, opt), ind: "", where };
  }
  if (text !== "") text += "\n";
  const params = () => {
    const k = rng.int(3);
    const ps = Array.from({ length: k }, () => fresh(s));
    s.vars.push(...ps);
    return ps;
  };
  if (where === "def") {
    text += `def ${fresh(s, B.funcName)}(${params().join(", ")}):\n`;
    return { text: text + fillers(s, "    ", n, opt), ind: "    ", where };
  }
  text += `class ${fresh(s, B.className)}:\n`;
  if (rng.chance(0.3)) text += `    ${fresh(s)} = ${B.intLit(rng)}\n\n`;
  text += `    def ${fresh(s, B.funcName)}(${["self", ...params()].join(", ")}):\n`;
  return { text: text + fillers(s, "        ", n, opt), ind: "        ", where };
}

/** A line that may follow the core at indentation `ind` (starts with a non-newline character). */
export function nextLine(s: Scope, ind: string, opt: FillerOptions = {}): string {
  return fillerLine(s, ind, { ...opt, blocks: false, comments: false });
}
