/**
 * Statement productions (the STMTS table of grammar.ts): assignments, prints, if/elif/else,
 * for and while loops, accumulator idioms (set + .add, string + +=, list + .append, dict counts),
 * swaps, file blocks, lambdas, calls. Compound statements recurse into bodies up to three levels
 * below the enclosing function's body.
 */
import * as B from "./banks.ts";
import { choose, STMTS } from "./grammar.ts";
import { plural } from "./names.ts";
import {
  alt,
  callables,
  callExpr,
  cond,
  dictLit,
  elemTy,
  expr,
  fileName,
  floatLit,
  fstring,
  hasCallable,
  intListLit,
  intLit,
  lit,
  loopVar,
  nestedListLit,
  newObj,
  sepLit,
  strListLit,
  strLit,
  wordLit,
} from "./exprs.ts";
import type { Gen, Scope, Ty, Var } from "./scope.ts";

/** Where a statement is generated. */
export interface Block {
  depth: number;
  /** Depth of the enclosing function body (0 at module level): nesting is limited from it. */
  base: number;
  /** Return type of the enclosing function (null: procedure), or undefined at module level. */
  ret?: Ty | null;
  inLoop: boolean;
}

const MAX_NEST = 3;

function inner(b: Block, loop = b.inLoop): Block {
  return { ...b, depth: b.depth + 1, inLoop: loop };
}

/** Adds an object variable and its fields as read-only `name.field` variables. */
export function addObj(sc: Scope, name: string, v: Var): void {
  sc.add({ name, ty: "obj", cls: v.cls });
  for (const f of v.cls!.fields) {
    sc.add({ name: `${name}.${f.name}`, ty: f.ty, cls: f.cls, ro: true });
  }
}

/** n statements (at least one line of code) at b.depth. */
export function stmts(g: Gen, sc: Scope, b: Block, n: number): void {
  for (let i = 0; i < n; i++) stmt(g, sc, b);
}

/** A block body: 1–3 statements, then possibly a break/continue/return in if bodies. */
function body(g: Gen, sc: Scope, b: Block, kind: "if" | "loop" | "plain" = "plain"): void {
  const rng = g.rng;
  const mark = sc.mark();
  const n = 1 + (rng.chance(0.45) ? 1 : 0) + (rng.chance(0.15) ? 1 : 0);
  stmts(g, sc, b, n);
  if (kind === "if") {
    if (b.inLoop && rng.chance(0.12)) g.emit(b.depth, rng.chance(0.6) ? "break" : "continue");
    else if (b.ret !== undefined && rng.chance(0.12)) returnStmt(g, sc, b);
  }
  sc.reset(mark);
}

/** `return <expr of the function's type>` (or bare `return` in a procedure). */
export function returnStmt(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  if (b.ret === null || b.ret === undefined) {
    g.emit(b.depth, "return");
    return;
  }
  if (b.ret === "bool" && rng.chance(0.6)) {
    g.emit(b.depth, rng.chance(0.6) ? "return True" : "return False");
    return;
  }
  if (rng.chance(0.12) && b.ret !== "obj") {
    g.emit(
      b.depth,
      `return ${expr(g, sc, b.ret, 1)} if ${cond(g, sc, 1)} else ${expr(g, sc, b.ret, 1)}`,
    );
    return;
  }
  const v = sc.pick(rng, b.ret);
  g.emit(
    b.depth,
    `return ${v && rng.chance(0.7) ? v.name : b.ret === "obj" ? "None" : expr(g, sc, b.ret, 1)}`,
  );
}

/** One statement drawn from STMTS. */
export function stmt(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  if (rng.chance(g.style.comment)) comment(g, b);
  const nest = b.depth - b.base < MAX_NEST;
  const nest2 = b.depth - b.base < MAX_NEST - 1;
  const kind = choose(rng, STMTS, (k) => {
    switch (k) {
      case "if":
      case "if_else":
      case "if_elif":
      case "if_equals":
      case "for_each":
      case "for_enumerate":
      case "for_range":
      case "for_items":
      case "while_cond":
      case "while_true":
      case "with_read":
      case "with_write":
      case "try_except":
        return nest;
      case "for_nested":
      case "var_if":
      case "set_build":
      case "string_build":
      case "list_build":
      case "dict_count":
        return nest2;
      case "call":
        return hasCallable(g, sc, "any");
      default:
        return true;
    }
  });
  KINDS[kind](g, sc, b);
}

type Prod = (g: Gen, sc: Scope, b: Block) => void;

function comment(g: Gen, b: Block): void {
  const rng = g.rng;
  const n = rng.pick(B.NOUNS);
  const text = rng.pick(B.COMMENTS).replaceAll("$Ns", plural(n)).replaceAll("$N", n);
  g.emit(b.depth, text.replaceAll("$V", rng.pick(B.COMMENT_VERBS)));
}

/** A new variable of type ty bound to an expression. */
function assignNew(g: Gen, sc: Scope, b: Block, ty: Ty, value?: string): Var {
  const name = g.fresh(sc, ty);
  g.emit(b.depth, `${name} = ${value ?? expr(g, sc, ty)}`);
  return sc.add({ name, ty });
}

/** An existing writable variable of type ty, or a new one initialised with a literal. */
function ensure(g: Gen, sc: Scope, b: Block, ty: Ty, writable = false): Var {
  const v = sc.pick(g.rng, ty, writable);
  return v ?? assignNew(g, sc, b, ty, lit(g, ty));
}

/** A collection to loop over: a variable in scope, else a new one. */
function collection(g: Gen, sc: Scope, b: Block, tys: Ty[]): Var {
  const c = sc.vars.filter((v) => tys.includes(v.ty));
  if (c.length && g.rng.chance(0.85)) return g.rng.chance(0.4) ? c[c.length - 1] : g.rng.pick(c);
  return assignNew(g, sc, b, g.rng.pick(tys), undefined);
}

const ASSIGN_TYS: [Ty, number][] = [
  ["int", 4],
  ["str", 3],
  ["bool", 1.5],
  ["float", 1],
  ["ilist", 1.5],
  ["slist", 1.5],
  ["dict", 1],
  ["grid", 0.6],
  ["iset", 0.3],
  ["sset", 0.3],
];

function assignTy(g: Gen): Ty {
  let total = 0;
  for (const [, w] of ASSIGN_TYS) total += w;
  let r = g.rng.float() * total;
  for (const [t, w] of ASSIGN_TYS) if ((r -= w) < 0) return t;
  return "int";
}

function printStmt(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const any = sc.vars.length
    ? sc.vars[rng.chance(0.5) ? sc.vars.length - 1 : rng.int(sc.vars.length)]
    : null;
  g.emit(
    b.depth,
    "print(" + alt(rng, [
      [4, true, () => strLit(g)],
      [3, any !== null, () => any!.name],
      [
        4,
        any !== null,
        () => `${g.q(rng.pick(B.LABELS) + rng.pick([":", "", " ="]))}, ${any!.name}`,
      ],
      [1, sc.vars.length > 1, () => `${rng.pick(sc.vars).name}, ${rng.pick(sc.vars).name}`],
      [1, sc.has("str"), () => expr(g, sc, "str", 1)],
      [1, sc.has("int"), () => expr(g, sc, "int", 1)],
      [
        1,
        true,
        () => `${g.q(rng.pick(B.LABELS))} if ${cond(g, sc, 1)} else ${g.q(rng.pick(B.LABELS))}`,
      ],
      [0.6, any !== null, () => `${any!.name}, ${rng.pick(["sep", "end"])}=${sepLit(g)}`],
      [0.4, true, () => ""],
    ]) + ")",
  );
}

/** if c: ... [elif c: ...]* [else: ...] with the given number of elifs. */
function ifChain(
  g: Gen,
  sc: Scope,
  b: Block,
  elifs: number,
  withElse: boolean,
  first?: string,
): void {
  const rng = g.rng;
  const ladder = elifs > 0 && rng.chance(0.5);
  let conds: string[] = [];
  if (ladder && sc.has("int") && rng.chance(0.6)) {
    const x = sc.pick(rng, "int")!.name;
    let t = 10 * (3 + rng.int(7));
    const op = rng.pick([">=", ">"]);
    for (let i = 0; i <= elifs; i++, t -= 10 * (1 + rng.int(2))) conds.push(`${x} ${op} ${t}`);
  } else if (ladder && sc.has("str")) {
    const x = sc.pick(rng, "str")!.name;
    const q = g.quote();
    const words = rng.shuffle(B.WORDS.slice(0, 60));
    for (let i = 0; i <= elifs; i++) conds.push(`${x} == ${q}${words[i]}${q}`);
  } else {
    conds = [first ?? cond(g, sc)];
    for (let i = 0; i < elifs; i++) conds.push(cond(g, sc));
  }
  g.emit(b.depth, `if ${conds[0]}:`);
  body(g, sc, inner(b), "if");
  for (let i = 1; i < conds.length; i++) {
    g.emit(b.depth, `elif ${conds[i]}:`);
    body(g, sc, inner(b), "if");
  }
  if (withElse) {
    g.emit(b.depth, "else:");
    body(g, sc, inner(b), "if");
  }
}

/** `a == b` over variables/literals of one type. */
function eqCond(g: Gen, sc: Scope, b: Block): string {
  const rng = g.rng;
  const ty: Ty = rng.pick(["int", "str", "int", "str"]);
  const a = ensure(g, sc, b, ty);
  const others = sc.vars.filter((x) => x.ty === ty && x.name !== a.name);
  const rhs = others.length && rng.chance(0.45) ? rng.pick(others).name : lit(g, ty);
  return `${a.name} == ${rhs}`;
}

/** Loop body with loop variables in scope (read-only). */
function loopBody(g: Gen, sc: Scope, b: Block, vars: Var[]): void {
  const mark = sc.mark();
  for (const v of vars) sc.add({ ...v, ro: true });
  body(g, sc, inner(b, true), "loop");
  sc.reset(mark);
}

function forEach(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const r = rng.float();
  if (r < 0.1) {
    const x = g.freeOf(sc, ["x", "n", "value", "num"], "int");
    g.emit(b.depth, `for ${x} in ${intListLit(rng, 2)}:`);
    return loopBody(g, sc, b, [{ name: x, ty: "int" }]);
  }
  const coll = collection(
    g,
    sc,
    b,
    r < 0.2
      ? ["str", "iset", "sset", "dict", "grid"]
      : ["ilist", "slist", "ilist", "slist", "grid"],
  );
  const x = coll.ty === "str"
    ? g.freeOf(sc, ["ch", "c", "char", "letter"], "str")
    : loopVar(g, sc, coll);
  const src = coll.ty === "dict" && rng.chance(0.3)
    ? `${coll.name}.keys()`
    : coll.ty === "slist" && rng.chance(0.1)
    ? `sorted(${coll.name})`
    : coll.name;
  g.emit(b.depth, `for ${x} in ${src}:`);
  loopBody(g, sc, b, [{ name: x, ty: elemTy(coll.ty) }]);
}

function forEnumerate(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const coll = collection(g, sc, b, ["ilist", "slist", "slist", "grid"]);
  const i = g.freeOf(sc, rng.shuffle(B.INDEX_NAMES.slice()), "int");
  sc.used.add(i);
  const x = loopVar(g, sc, coll);
  const start = rng.chance(0.15) ? rng.pick([", 1", ", start=1"]) : "";
  g.emit(b.depth, `for ${i}, ${x} in enumerate(${coll.name}${start}):`);
  loopBody(g, sc, b, [{ name: i, ty: "int" }, { name: x, ty: elemTy(coll.ty) }]);
}

function forRange(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const i = g.freeOf(sc, rng.shuffle(B.INDEX_NAMES.slice()), "int");
  const lists = sc.vars.filter((v) => v.ty === "ilist" || v.ty === "slist");
  const n = sc.pick(rng, "int");
  const extra: Var[] = [];
  let range: string;
  const r = rng.float();
  if (r < 0.35 && lists.length) {
    const xs = rng.pick(lists);
    range = `range(len(${xs.name}))`;
    extra.push({ name: `${xs.name}[${i}]`, ty: elemTy(xs.ty) });
  } else if (r < 0.6 && n) {
    range = rng.chance(0.7) ? `range(${n.name})` : `range(1, ${n.name} + 1)`;
  } else if (r < 0.75) {
    range = `range(${rng.int(3)}, ${intLit(rng)}${rng.chance(0.3) ? `, ${1 + rng.int(3)}` : ""})`;
  } else {
    range = `range(${1 + rng.int(rng.chance(0.7) ? 10 : 100)})`;
  }
  g.emit(b.depth, `for ${i} in ${range}:`);
  loopBody(g, sc, b, [{ name: i, ty: "int" }, ...extra]);
}

function forItems(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const d = collection(g, sc, b, ["dict"]);
  const [k, v] = rng.pick([
    ["key", "value"],
    ["k", "v"],
    ["name", "count"],
    ["word", "n"],
    ["key", "val"],
    ["item", "qty"],
    ["name", "score"],
  ]);
  const kk = g.freeOf(sc, [k, "key", "k"], "str");
  sc.used.add(kk);
  const vv = g.freeOf(sc, [v, "value", "v"], "int");
  g.emit(b.depth, `for ${kk}, ${vv} in ${d.name}.items():`);
  loopBody(g, sc, b, [{ name: kk, ty: "str" }, { name: vv, ty: "int" }]);
}

function forNested(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const grid = collection(g, sc, b, ["grid"]);
  const mark = sc.mark();
  if (rng.chance(0.6)) {
    const row = loopVar(g, sc, grid);
    sc.add({ name: row, ty: "ilist", ro: true });
    const x = g.freeOf(sc, ["x", "cell", "value", "n", "item"], "int");
    g.emit(b.depth, `for ${row} in ${grid.name}:`);
    if (rng.chance(0.25)) stmt(g, sc, inner(b, true));
    g.emit(b.depth + 1, `for ${x} in ${row}:`);
    loopBody(g, sc, inner(b, true), [{ name: x, ty: "int" }]);
  } else {
    const i = g.freeOf(sc, ["i", "r", "row"], "int");
    sc.add({ name: i, ty: "int", ro: true });
    const j = g.freeOf(sc, ["j", "c", "col"], "int");
    g.emit(b.depth, `for ${i} in range(len(${grid.name})):`);
    g.emit(b.depth + 1, `for ${j} in range(len(${grid.name}[${i}])):`);
    loopBody(g, sc, inner(b, true), [{ name: j, ty: "int" }, {
      name: `${grid.name}[${i}][${j}]`,
      ty: "int",
    }]);
  }
  sc.reset(mark);
}

function whileCond(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const r = rng.float();
  const lists = sc.vars.filter((v) => (v.ty === "ilist" || v.ty === "slist") && !v.ro);
  if (r < 0.25 && lists.length) {
    const xs = rng.pick(lists);
    const x = loopVar(g, sc, xs);
    g.emit(b.depth, `while ${xs.name}:`);
    g.emit(b.depth + 1, `${x} = ${xs.name}.pop(${rng.chance(0.3) ? "0" : ""})`);
    sc.used.add(x);
    return loopBody(g, sc, b, [{ name: x, ty: elemTy(xs.ty) }]);
  }
  const i = g.fresh(sc, "int");
  g.emit(b.depth, `${i} = ${rng.chance(0.7) ? "0" : intLit(rng)}`);
  const lim = lists.length && rng.chance(0.4)
    ? `len(${rng.pick(lists).name})`
    : sc.pick(rng, "int")?.name ?? intLit(rng);
  g.emit(b.depth, `while ${i} ${rng.pick(["<", "<", "<=", "!="])} ${lim}:`);
  const mark = sc.mark();
  sc.add({ name: i, ty: "int", ro: true });
  stmts(g, sc, inner(b, true), 1 + (rng.chance(0.4) ? 1 : 0));
  g.emit(b.depth + 1, `${i} += ${rng.chance(0.8) ? "1" : String(1 + rng.int(3))}`);
  sc.reset(mark);
  sc.add({ name: i, ty: "int" });
}

function whileTrue(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const counter = g.fresh(sc, "int");
  const useCounter = rng.chance(0.7);
  if (useCounter) {
    g.emit(b.depth, `${counter} = 0`);
    sc.add({ name: counter, ty: "int" });
  }
  g.emit(b.depth, "while True:");
  const ib = inner(b, true);
  const mark = sc.mark();
  if (useCounter) g.emit(ib.depth, `${counter} += 1`);
  stmts(g, sc, ib, 1 + (rng.chance(0.3) ? 1 : 0));
  g.emit(
    ib.depth,
    `if ${useCounter ? `${counter} ${rng.pick([">=", ">", "=="])} ${intLit(rng)}` : cond(g, sc)}:`,
  );
  if (b.ret !== undefined && b.ret !== null && rng.chance(0.3)) returnStmt(g, sc, inner(ib));
  else {
    if (rng.chance(0.3)) stmt(g, sc, inner(ib));
    g.emit(ib.depth + 1, "break");
  }
  sc.reset(mark);
}

function varIf(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const flag = g.fresh(sc, "bool");
  const init = rng.chance(0.6) ? "False" : "True";
  const other = init === "False" ? "True" : "False";
  const r = rng.float();
  g.emit(b.depth, `${flag} = ${init}`);
  sc.add({ name: flag, ty: "bool" });
  if (r < 0.45) {
    // search: set the flag inside a loop, test it afterwards
    const coll = collection(g, sc, b, ["ilist", "slist"]);
    const x = loopVar(g, sc, coll);
    const et = elemTy(coll.ty);
    g.emit(b.depth, `for ${x} in ${coll.name}:`);
    const mark = sc.mark();
    sc.add({ name: x, ty: et, ro: true });
    const target = sc.vars.filter((v) => v.ty === et && v.name !== x);
    g.emit(
      b.depth + 1,
      `if ${x} == ${target.length && rng.chance(0.5) ? rng.pick(target).name : lit(g, et)}:`,
    );
    g.emit(b.depth + 2, `${flag} = ${other}`);
    if (rng.chance(0.6)) g.emit(b.depth + 2, "break");
    sc.reset(mark);
  } else if (r < 0.7) {
    g.emit(b.depth, `if ${cond(g, sc)}:`);
    g.emit(b.depth + 1, `${flag} = ${other}`);
  } else if (r < 0.85) {
    stmt(g, sc, b);
  }
  const test = rng.float();
  const c = test < 0.7
    ? `${flag} == ${rng.chance(0.6) ? "True" : "False"}`
    : test < 0.85
    ? flag
    : `not ${flag}`;
  ifChain(g, sc, b, 0, rng.chance(0.35), c);
}

function setBuild(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const src = collection(g, sc, b, ["slist", "ilist", "slist"]);
  const ty: Ty = src.ty === "ilist" ? "iset" : "sset";
  const s = g.fresh(sc, ty);
  g.emit(b.depth, `${s} = set()`);
  const x = loopVar(g, sc, src);
  const et = elemTy(src.ty);
  g.emit(b.depth, `for ${x} in ${src.name}:`);
  const mark = sc.mark();
  sc.add({ name: x, ty: et, ro: true });
  const item = et === "str"
    ? rng.pick([x, x, `${x}.lower()`, `${x}.strip()`])
    : rng.pick([x, x, `${x} % 10`, `abs(${x})`]);
  const r = rng.float();
  if (r < 0.3) {
    g.emit(b.depth + 1, `if ${item} not in ${s}:`);
    g.emit(b.depth + 2, `${s}.add(${item})`);
  } else if (r < 0.5) {
    g.emit(b.depth + 1, `if ${cond(g, sc, 1)}:`);
    g.emit(b.depth + 2, `${s}.add(${item})`);
  } else {
    if (rng.chance(0.3)) stmt(g, sc, inner(b, true));
    g.emit(b.depth + 1, `${s}.add(${item})`);
  }
  sc.reset(mark);
  sc.add({ name: s, ty });
  if (rng.chance(0.3)) g.emit(b.depth, `${s}.add(${lit(g, et)})`);
}

function stringBuild(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const s = g.fresh(sc, "str");
  const r = rng.float();
  g.emit(b.depth, `${s} = ${rng.chance(0.7) ? g.q("") : strLit(g)}`);
  if (r < 0.55) {
    const src = collection(g, sc, b, ["slist", "ilist", "str"]);
    const x = src.ty === "str" ? g.freeOf(sc, ["ch", "c", "letter"], "str") : loopVar(g, sc, src);
    g.emit(b.depth, `for ${x} in ${src.name}:`);
    const mark = sc.mark();
    sc.add({ name: x, ty: elemTy(src.ty), ro: true });
    const q = g.quote();
    const piece = src.ty === "ilist"
      ? rng.pick([`str(${x})`, `str(${x}) + ${sepLit(g)}`, `f${q}{${x}} ${q}`])
      : rng.pick([x, `${x} + ${sepLit(g)}`, `${x}.upper()`, `${x}[0]`]);
    if (rng.chance(0.3)) {
      g.emit(b.depth + 1, `if ${cond(g, sc, 1)}:`);
      g.emit(b.depth + 2, `${s} += ${piece}`);
    } else g.emit(b.depth + 1, `${s} += ${piece}`);
    sc.reset(mark);
    sc.add({ name: s, ty: "str" });
  } else {
    sc.add({ name: s, ty: "str" });
    const n = 1 + rng.int(3);
    for (let i = 0; i < n; i++) g.emit(b.depth, `${s} += ${expr(g, sc, "str", 1)}`);
  }
}

function listBuild(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const src = collection(g, sc, b, ["ilist", "slist"]);
  const out = g.fresh(sc, src.ty);
  g.emit(b.depth, `${out} = []`);
  const x = loopVar(g, sc, src);
  g.emit(b.depth, `for ${x} in ${src.name}:`);
  const mark = sc.mark();
  sc.add({ name: x, ty: elemTy(src.ty), ro: true });
  const item = src.ty === "ilist"
    ? rng.pick([x, `${x} * 2`, `${x} + 1`, `${x} * ${x}`])
    : rng.pick([x, `${x}.upper()`, `${x}.strip()`, `${x}.title()`]);
  if (rng.chance(0.5)) {
    g.emit(b.depth + 1, `if ${cond(g, sc, 1)}:`);
    g.emit(b.depth + 2, `${out}.append(${item})`);
  } else g.emit(b.depth + 1, `${out}.append(${item})`);
  sc.reset(mark);
  sc.add({ name: out, ty: src.ty });
}

function dictCount(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const src = collection(g, sc, b, ["slist"]);
  const d = g.fresh(sc, "dict");
  g.emit(b.depth, `${d} = {}`);
  const x = loopVar(g, sc, src);
  g.emit(b.depth, `for ${x} in ${src.name}:`);
  if (rng.chance(0.5)) {
    g.emit(b.depth + 1, `${d}[${x}] = ${d}.get(${x}, 0) + 1`);
  } else {
    g.emit(b.depth + 1, `if ${x} in ${d}:`);
    g.emit(b.depth + 2, `${d}[${x}] += 1`);
    g.emit(b.depth + 1, "else:");
    g.emit(b.depth + 2, `${d}[${x}] = 1`);
  }
  sc.add({ name: d, ty: "dict" });
}

function swap(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const r = rng.float();
  const lists = sc.vars.filter((v) => v.ty === "ilist" || v.ty === "slist");
  if (r < 0.2 && lists.length && b.depth - b.base < MAX_NEST - 1) {
    // one bubble-sort pass: the swap of two list items
    const xs = rng.pick(lists).name;
    const i = g.freeOf(sc, ["i", "j", "k", "idx"], "int");
    g.emit(b.depth, `for ${i} in range(len(${xs}) - 1):`);
    g.emit(b.depth + 1, `if ${xs}[${i}] > ${xs}[${i} + 1]:`);
    g.emit(b.depth + 2, `${xs}[${i}], ${xs}[${i} + 1] = ${xs}[${i} + 1], ${xs}[${i}]`);
    return;
  }
  const ty: Ty = rng.pick(["int", "int", "str", "float", "ilist", "slist"]);
  const c = sc.vars.filter((v) => v.ty === ty && !v.ro);
  let a: string, bb: string;
  if (c.length >= 2 && rng.chance(0.6)) {
    const k = rng.int(c.length);
    a = c[k].name;
    bb = c[(k + 1 + rng.int(c.length - 1)) % c.length].name;
  } else {
    const pairs = [
      ["a", "b"],
      ["x", "y"],
      ["left", "right"],
      ["first", "second"],
      ["lo", "hi"],
      ["low", "high"],
      ["old", "new"],
      ["p", "q"],
      ["m", "n"],
    ];
    const [p, q] = rng.pick(pairs);
    a = g.free(sc, p) ? p : g.fresh(sc, ty);
    sc.used.add(a);
    bb = g.free(sc, q) ? q : g.fresh(sc, ty);
    g.emit(b.depth, `${a} = ${lit(g, ty)}`);
    g.emit(b.depth, `${bb} = ${lit(g, ty)}`);
    sc.add({ name: a, ty });
    sc.add({ name: bb, ty });
  }
  if (ty === "int" && rng.chance(0.2)) g.emit(b.depth, `${a}, ${bb} = ${bb}, ${a} + ${bb}`);
  else g.emit(b.depth, `${a}, ${bb} = ${bb}, ${a}`);
}

/** A path expression for a file of the given role. */
function pathFor(g: Gen, sc: Scope, role: "r" | "w"): string {
  const paths = sc.vars.filter((v) =>
    v.ty === "str" && (role === "r" ? B.READ_PATHS : B.WRITE_PATHS).includes(v.name)
  );
  if (paths.length && g.rng.chance(0.8)) return g.rng.pick(paths).name;
  return g.q(fileName(g.rng, role));
}

/** `open(path, "r")`: the mode is sometimes left out for reading, as Python allows. */
export function openCall(g: Gen, path: string, role: "r" | "w"): string {
  const rng = g.rng;
  if (role === "r" && rng.chance(0.12)) return `open(${path})`;
  const enc = rng.chance(0.08) ? `, encoding=${g.q("utf-8")}` : "";
  return `open(${path}, ${g.q(role)}${enc})`;
}

/** Body lines that read from handle f; variables it binds stay in scope afterwards. */
export function readBody(g: Gen, sc: Scope, b: Block, f: string): void {
  const rng = g.rng;
  const r = rng.float();
  if (r < 0.4) {
    const line = g.freeOf(sc, ["line", "row", "raw", "entry", "text"], "str");
    const acc = rng.pick<Ty>(["slist", "int", "ilist", "sset", "str"]);
    const name = g.fresh(sc, acc);
    g.emit(
      b.depth,
      `${name} = ${
        acc === "slist" || acc === "ilist"
          ? "[]"
          : acc === "int"
          ? "0"
          : acc === "sset"
          ? "set()"
          : g.q("")
      }`,
    );
    g.emit(b.depth, `for ${line} in ${f}:`);
    const d = b.depth + 1;
    const item = rng.chance(0.7) ? `${line}.strip()` : line;
    if (rng.chance(0.3)) {
      g.emit(d, `if not ${line}.strip():`);
      g.emit(d + 1, "continue");
    }
    if (acc === "slist") g.emit(d, `${name}.append(${item})`);
    else if (acc === "ilist") g.emit(d, `${name}.append(int(${item}))`);
    else if (acc === "int") g.emit(d, `${name} += ${rng.chance(0.5) ? "1" : `len(${line})`}`);
    else if (acc === "sset") g.emit(d, `${name}.add(${item})`);
    else g.emit(d, `${name} += ${item}`);
    sc.add({ name, ty: acc });
  } else if (r < 0.65) {
    const text = g.freeOf(sc, ["text", "content", "contents", "data", "raw"], "str");
    g.emit(b.depth, `${text} = ${f}.read()${rng.chance(0.3) ? ".strip()" : ""}`);
    sc.add({ name: text, ty: "str" });
  } else if (r < 0.85) {
    const lines = g.freeOf(sc, ["lines", "rows", "entries", "records"], "slist");
    g.emit(
      b.depth,
      `${lines} = ${rng.chance(0.5) ? `${f}.readlines()` : `${f}.read().splitlines()`}`,
    );
    sc.add({ name: lines, ty: "slist" });
  } else if (g.imports.has("json")) {
    const data = g.freeOf(sc, ["data", "config", "settings", "table"], "dict");
    g.emit(b.depth, `${data} = json.load(${f})`);
    sc.add({ name: data, ty: "dict" });
  } else {
    const header = g.freeOf(sc, ["header", "first_line", "title"], "str");
    g.emit(b.depth, `${header} = ${f}.readline()`);
    sc.add({ name: header, ty: "str" });
  }
}

/** Body lines that write scope values to handle f. */
export function writeBody(g: Gen, sc: Scope, b: Block, f: string): void {
  const rng = g.rng;
  const nl = g.rng.chance(0.85) ? "\\n" : "";
  const lists = sc.vars.filter((v) => ["slist", "ilist", "dict"].includes(v.ty));
  const r = rng.float();
  if (r < 0.45 && lists.length) {
    const xs = rng.pick(lists);
    if (xs.ty === "dict") {
      const k = g.freeOf(sc, ["key", "name", "k"], "str");
      const v = g.freeOf(sc, ["value", "count", "v"], "int");
      g.emit(b.depth, `for ${k}, ${v} in ${xs.name}.items():`);
      const q = g.quote();
      g.emit(
        b.depth + 1,
        `${f}.write(f${q}{${k}}${rng.pick([": ", ",", " ", "="])}{${v}}${nl}${q})`,
      );
      return;
    }
    const x = loopVar(g, sc, xs);
    g.emit(b.depth, `for ${x} in ${xs.name}:`);
    const q = g.quote();
    g.emit(
      b.depth + 1,
      rng.pick([
        `${f}.write(${xs.ty === "ilist" ? `str(${x})` : x} + ${q}\\n${q})`,
        `${f}.write(f${q}{${x}}${nl}${q})`,
        `print(${x}, file=${f})`,
      ]),
    );
  } else if (r < 0.6 && g.imports.has("json") && sc.has("dict")) {
    g.emit(
      b.depth,
      `json.dump(${sc.pick(rng, "dict")!.name}, ${f}${rng.chance(0.4) ? ", indent=2" : ""})`,
    );
  } else {
    const n = 1 + rng.int(3);
    for (let i = 0; i < n; i++) {
      const v = sc.vars.length && rng.chance(0.6) ? rng.pick(sc.vars) : null;
      const q = g.quote();
      if (v) g.emit(b.depth, `${f}.write(f${q}${rng.pick(B.LABELS)}: {${v.name}}${nl}${q})`);
      else {g.emit(
          b.depth,
          `${f}.write(${q}${rng.pick(B.LABELS)}${rng.pick(["", ":", " ", "..."])}${nl}${q})`,
        );}
    }
  }
}

/** with open(path, mode) as f: body. */
export function withOpen(g: Gen, sc: Scope, b: Block, role: "r" | "w", path?: string): void {
  const rng = g.rng;
  const f = g.freeOf(
    sc,
    [rng.pick(role === "r" ? B.READ_HANDLES : B.WRITE_HANDLES), "f", "fh"],
    "str",
  );
  sc.used.add(f);
  if (!path && rng.chance(0.25)) {
    const p = g.freeOf(sc, [rng.pick(role === "r" ? B.READ_PATHS : B.WRITE_PATHS)], "str");
    g.emit(b.depth, `${p} = ${g.q(fileName(rng, role))}`);
    sc.add({ name: p, ty: "str" });
    path = p;
  }
  g.emit(b.depth, `with ${openCall(g, path ?? pathFor(g, sc, role), role)} as ${f}:`);
  const ib = inner(b);
  if (role === "r") readBody(g, sc, ib, f);
  else writeBody(g, sc, ib, f);
}

function openClose(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const role = rng.chance(0.5) ? "r" : "w";
  const f = g.freeOf(
    sc,
    [rng.pick(role === "r" ? B.READ_HANDLES : B.WRITE_HANDLES), "f", "fh"],
    "str",
  );
  sc.used.add(f);
  g.emit(b.depth, `${f} = ${openCall(g, pathFor(g, sc, role), role)}`);
  if (role === "r") {
    const text = g.freeOf(sc, ["text", "content", "data", "lines", "raw"], "str");
    g.emit(b.depth, `${text} = ${f}.read()`);
    sc.add({ name: text, ty: "str" });
  } else {
    const q = g.quote();
    g.emit(
      b.depth,
      `${f}.write(${
        sc.has("str") && rng.chance(0.5)
          ? sc.pick(rng, "str")!.name
          : `${q}${rng.pick(B.LABELS)}\\n${q}`
      })`,
    );
  }
  g.emit(b.depth, `${f}.close()`);
}

/** Lambda shapes: parameter types, return type, body (with $a, $b for the parameters). */
export const LAMBDAS: { name: string[]; params: Ty[]; ret: Ty; body: string }[] = [
  { name: ["double", "twice", "times_two"], params: ["int"], ret: "int", body: "$a * 2" },
  { name: ["square", "sq"], params: ["int"], ret: "int", body: "$a * $a" },
  { name: ["add", "plus", "combine"], params: ["int", "int"], ret: "int", body: "$a + $b" },
  { name: ["is_even", "even"], params: ["int"], ret: "bool", body: "$a % 2 == 0" },
  { name: ["is_big", "too_big"], params: ["int"], ret: "bool", body: "$a > 10" },
  { name: ["shout", "loud", "to_upper"], params: ["str"], ret: "str", body: "$a.upper()" },
  { name: ["get_len", "size_of", "length_of"], params: ["str"], ret: "int", body: "len($a)" },
  { name: ["clean", "tidy"], params: ["str"], ret: "str", body: "$a.strip().lower()" },
  { name: ["mean", "avg"], params: ["ilist"], ret: "float", body: "sum($a) / len($a)" },
  { name: ["diff", "gap"], params: ["int", "int"], ret: "int", body: "abs($a - $b)" },
  { name: ["greet", "hello"], params: ["str"], ret: "str", body: '"Hello, " + $a' },
  { name: ["first", "head"], params: ["slist"], ret: "str", body: "$a[0]" },
  { name: ["bigger", "larger"], params: ["int", "int"], ret: "int", body: "$a if $a > $b else $b" },
];

/** `name = lambda x: ...`, registered as a callable for later lines. */
export function lambdaDef(g: Gen, sc: Scope, b: Block, local: boolean): void {
  const rng = g.rng;
  const shape = rng.pick(LAMBDAS);
  const name = g.freeOf(
    sc,
    rng.shuffle(shape.name.slice()).concat(shape.name.map((n) => n + "_fn")),
    "int",
  );
  const pnames = shape.params.length === 1
    ? [
      rng.pick(
        shape.params[0] === "str"
          ? ["s", "x", "w", "text"]
          : shape.params[0] === "int"
          ? ["x", "n", "v"]
          : ["xs", "items", "values"],
      ),
    ]
    : rng.pick([["a", "b"], ["x", "y"], ["m", "n"]]);
  const q = g.quote();
  const bodyText = shape.body.replaceAll("$a", pnames[0]).replaceAll("$b", pnames[1] ?? "")
    .replaceAll('"', q);
  g.emit(b.depth, `${name} = lambda ${pnames.join(", ")}: ${bodyText}`);
  const sig = {
    name,
    params: shape.params.map((t, i) => ({ name: pnames[i], ty: t })),
    ret: shape.ret,
  };
  if (local) {
    // only a lambda bound at the top of a body is surely defined when later lines call it
    if (b.depth === b.base) sc.fns.push(sig);
    sc.used.add(name);
  } else {
    g.fns.push(sig);
    g.globals.add(name);
  }
}

function callStmt(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const c = rng.pick(callables(g, sc, "any"));
  const call = callExpr(g, sc, c);
  if (c.fn.ret === null || rng.chance(0.1)) g.emit(b.depth, call);
  else if (rng.chance(0.25)) g.emit(b.depth, `print(${call})`);
  else if (c.fn.ret === "obj" && c.fn.retCls) {
    const name = g.fresh(sc, "obj");
    g.emit(b.depth, `${name} = ${call}`);
    addObj(sc, name, { name, ty: "obj", cls: c.fn.retCls });
  } else {
    const name = g.fresh(sc, c.fn.ret);
    g.emit(b.depth, `${name} = ${call}`);
    sc.add({ name, ty: c.fn.ret });
  }
}

function listMethod(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const xs = ensure(g, sc, b, rng.chance(0.5) ? "ilist" : "slist");
  const et = elemTy(xs.ty);
  g.emit(
    b.depth,
    rng.pick([
      `${xs.name}.append(${expr(g, sc, et, 1)})`,
      `${xs.name}.append(${expr(g, sc, et, 1)})`,
      `${xs.name}.extend(${xs.ty === "ilist" ? intListLit(rng, 1) : strListLit(g)})`,
      `${xs.name}.sort()`,
      `${xs.name}.sort(reverse=True)`,
      `${xs.name}.reverse()`,
      `${xs.name}.insert(0, ${expr(g, sc, et, 1)})`,
      `${xs.name}.remove(${xs.name}[0])`,
    ]),
  );
}

function stringMethod(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const s = sc.pick(rng, "str", true);
  if (s && rng.chance(0.6)) {
    g.emit(
      b.depth,
      `${s.name} = ${s.name}.${
        rng.pick([
          "strip()",
          "lower()",
          "upper()",
          "strip().lower()",
          "title()",
          `replace(${wordLit(g)}, ${wordLit(g)})`,
        ])
      }`,
    );
    return;
  }
  const src = ensure(g, sc, b, "str");
  const parts = g.fresh(sc, "slist");
  g.emit(b.depth, `${parts} = ${src.name}.split(${rng.chance(0.5) ? "" : sepLit(g)})`);
  sc.add({ name: parts, ty: "slist" });
}

function tryExcept(g: Gen, sc: Scope, b: Block): void {
  const rng = g.rng;
  const r = rng.float();
  const s = r < 0.4 ? ensure(g, sc, b, "str") : null;
  g.emit(b.depth, "try:");
  let exc: string;
  if (s) {
    const n = g.fresh(sc, "int");
    g.emit(b.depth + 1, `${n} = int(${s.name})`);
    g.emit(b.depth, "except ValueError:");
    g.emit(b.depth + 1, `${n} = ${intLit(rng)}`);
    sc.add({ name: n, ty: "int" });
    return;
  } else if (r < 0.7) {
    withOpen(g, sc, inner(b), "r");
    exc = rng.pick(["FileNotFoundError", "OSError", "IOError"]);
  } else {
    stmts(g, sc, inner(b), 1 + rng.int(2));
    exc = rng.pick([
      "KeyError",
      "IndexError",
      "ValueError",
      "ZeroDivisionError",
      "Exception",
      "(ValueError, TypeError)",
    ]);
  }
  const asE = rng.chance(0.4);
  g.emit(b.depth, `except ${exc}${asE ? " as e" : ""}:`);
  const q = g.quote();
  g.emit(
    b.depth + 1,
    asE ? `print(f${q}${rng.pick(B.LABELS)}: {e}${q})` : rng.pick([`print(${strLit(g)})`, "pass"]),
  );
}

const KINDS: Record<string, Prod> = {
  assign(g, sc, b) {
    const rng = g.rng;
    if (g.classes.length && rng.chance(0.12)) {
      const cls = rng.pick(g.classes);
      const name = g.fresh(sc, "obj");
      g.emit(b.depth, `${name} = ${newObj(g, sc, cls)}`);
      addObj(sc, name, { name, ty: "obj", cls });
      return;
    }
    const ty = assignTy(g);
    const old = sc.pick(rng, ty, true);
    if (old && rng.chance(0.3)) {
      const others = sc.vars.filter((v) => v.ty === ty && v.name !== old.name);
      const rhs = others.length && rng.chance(0.4) ? rng.pick(others).name : expr(g, sc, ty);
      g.emit(b.depth, `${old.name} = ${rhs === old.name ? lit(g, ty) : rhs}`);
    } else assignNew(g, sc, b, ty);
  },
  aug_assign(g, sc, b) {
    const rng = g.rng;
    const ty: Ty = rng.pick(["int", "int", "int", "float", "str"]);
    const v = sc.pick(rng, ty, true);
    if (!v) return void assignNew(g, sc, b, ty);
    if (ty === "str") g.emit(b.depth, `${v.name} += ${expr(g, sc, "str", 1)}`);
    else {g.emit(
        b.depth,
        `${v.name} ${rng.pick(["+=", "+=", "+=", "-=", "*="])} ${
          ty === "int" ? expr(g, sc, "int", 2) : floatLit(rng)
        }`,
      );}
  },
  print: printStmt,
  fstring_print(g, sc, b) {
    g.emit(b.depth, `print(${fstring(g, sc)})`);
  },
  if(g, sc, b) {
    ifChain(g, sc, b, 0, false);
  },
  if_else(g, sc, b) {
    ifChain(g, sc, b, 0, true);
  },
  if_elif(g, sc, b) {
    ifChain(g, sc, b, 1 + (g.rng.chance(0.35) ? 1 : 0), g.rng.chance(0.65));
  },
  if_equals(g, sc, b) {
    ifChain(g, sc, b, 0, g.rng.chance(0.35), eqCond(g, sc, b));
  },
  var_if: varIf,
  for_each: forEach,
  for_enumerate: forEnumerate,
  for_range: forRange,
  for_items: forItems,
  for_nested: forNested,
  while_cond: whileCond,
  while_true: whileTrue,
  comprehension(g, sc, b) {
    const rng = g.rng;
    if (!sc.has("ilist") && !sc.has("slist")) {
      assignNew(g, sc, b, rng.chance(0.5) ? "ilist" : "slist", undefined);
    }
    const r = rng.float();
    if (r < 0.7) {
      const ty: Ty = sc.has("ilist") && (rng.chance(0.5) || !sc.has("slist")) ? "ilist" : "slist";
      let e = "";
      for (let i = 0; i < 8 && !e.includes(" for "); i++) e = expr(g, sc, ty, 1);
      assignNew(
        g,
        sc,
        b,
        ty,
        e.includes(" for ")
          ? e
          : `[${elemTy(ty) === "int" ? "x * 2" : "x.upper()"} for x in ${sc.pick(rng, ty)!.name}]`,
      );
    } else {
      let e = "";
      const ty: Ty = r < 0.85 ? "dict" : sc.has("ilist") ? "iset" : "dict";
      for (let i = 0; i < 8 && !e.includes(" for "); i++) e = expr(g, sc, ty, 1);
      if (e.includes(" for ")) assignNew(g, sc, b, ty, e);
      else {
        const xs = ensure(g, sc, b, "slist");
        assignNew(g, sc, b, "dict", `{w: len(w) for w in ${xs.name}}`);
      }
    }
  },
  ternary(g, sc, b) {
    const rng = g.rng;
    const ty: Ty = rng.pick(["int", "str", "str", "int", "bool", "float"]);
    const e = `${expr(g, sc, ty, 2)} if ${cond(g, sc, 1)} else ${expr(g, sc, ty, 2)}`;
    const r = rng.float();
    if (r < 0.15) g.emit(b.depth, `print(${e})`);
    else if (r < 0.3 && sc.pick(rng, ty, true)) {
      g.emit(b.depth, `${sc.pick(rng, ty, true)!.name} = ${e}`);
    } else assignNew(g, sc, b, ty, e);
  },
  set_build: setBuild,
  string_build: stringBuild,
  list_build: listBuild,
  dict_count: dictCount,
  dict_literal(g, sc, b) {
    const rng = g.rng;
    const d = assignNew(g, sc, b, "dict", dictLit(g));
    if (rng.chance(0.4)) g.emit(b.depth, `${d.name}[${wordLit(g)}] = ${expr(g, sc, "int", 2)}`);
  },
  list_literal(g, sc, b) {
    const ty: Ty = g.rng.chance(0.55) ? "slist" : "ilist";
    assignNew(g, sc, b, ty, ty === "slist" ? strListLit(g) : intListLit(g.rng, 1));
  },
  nested_list(g, sc, b) {
    const rng = g.rng;
    const name = g.fresh(sc, "grid");
    if (rng.chance(0.15)) {
      g.emit(b.depth, `${name} = [`);
      const n = 2 + rng.int(3);
      for (let i = 0; i < n; i++) g.emit(b.depth + 1, `${intListLit(rng, 1)},`);
      g.emit(b.depth, "]");
    } else g.emit(b.depth, `${name} = ${nestedListLit(g)}`);
    sc.add({ name, ty: "grid" });
    const r = rng.float();
    if (r < 0.2) g.emit(b.depth, `print(${name}[0][${rng.int(2)}])`);
    else if (r < 0.35) g.emit(b.depth, `${name}.append(${intListLit(rng, 1)})`);
    else if (r < 0.45) g.emit(b.depth, `${name}[${rng.int(2)}].append(${intLit(rng)})`);
  },
  swap,
  with_read(g, sc, b) {
    withOpen(g, sc, b, "r");
  },
  with_write(g, sc, b) {
    withOpen(g, sc, b, "w");
  },
  open_close: openClose,
  lambda(g, sc, b) {
    lambdaDef(g, sc, b, true);
  },
  call: callStmt,
  list_method: listMethod,
  string_method: stringMethod,
  try_except: tryExcept,
  comment(g, sc, b) {
    comment(g, b);
    const saved = g.style.comment;
    g.style.comment = 0;
    stmt(g, sc, b);
    g.style.comment = saved;
  },
};
