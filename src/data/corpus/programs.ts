/**
 * Document-level productions: imports, constants, functions (plain, predicates, file readers and
 * writers), classes with `__init__` and methods, module-level lambdas and script code, and the
 * main block that calls what the document defined. `generateProgram` assembles one document.
 */
import type { Rng } from "../../util/rng.ts";
import * as B from "./banks.ts";
import { choose, DEFAULTS, DOC_KINDS, MAIN_KINDS, TOP_ITEMS } from "./grammar.ts";
import { callExpr, cond, fstring, intLit, lit, newObj, strLit } from "./exprs.ts";
import { className, fnName, plural, snake } from "./names.ts";
import { type ClassSig, type FnSig, Gen, type Param, Scope, type Ty } from "./scope.ts";
import {
  addObj,
  type Block,
  lambdaDef,
  openCall,
  readBody,
  returnStmt,
  stmt,
  stmts,
  withOpen,
  writeBody,
} from "./stmts.ts";

const RET_TYS: [Ty | null, number][] = [
  [null, 2],
  ["int", 3],
  ["str", 2],
  ["bool", 1.5],
  ["float", 1],
  ["ilist", 1.5],
  ["slist", 1.5],
  ["dict", 1],
  ["iset", 0.4],
  ["sset", 0.4],
  ["grid", 0.5],
];
const PARAM_TYS: [Ty, number][] = [
  ["int", 4],
  ["str", 3],
  ["ilist", 2],
  ["slist", 2],
  ["dict", 1],
  ["bool", 1],
  ["float", 0.7],
  ["grid", 0.4],
];

function weighted<T>(rng: Rng, items: [T, number][]): T {
  let total = 0;
  for (const [, w] of items) total += w;
  let r = rng.float() * total;
  for (const [t, w] of items) if ((r -= w) < 0) return t;
  return items[0][0];
}

/** A default value for a parameter of type ty. None dominates (final_kwarg). */
function defaultFor(g: Gen, ty: Ty): string {
  const mutable = ty === "ilist" || ty === "slist" || ty === "dict" || ty === "grid" ||
    ty === "obj";
  if (mutable || choose(g.rng, DEFAULTS) === "none") return "None";
  if (ty === "str") return g.rng.chance(0.5) ? g.q("") : g.q(g.rng.pick(B.WORDS));
  return lit(g, ty);
}

/**
 * Parameters: `n` names of random types; once one has a default, every later one has one too
 * (Python's rule, and what final_kwarg probes).
 */
function makeParams(g: Gen, sc: Scope, n: number, tys?: Ty[]): Param[] {
  const rng = g.rng;
  const firstDefault = n > 0 && rng.chance(0.55) ? rng.int(n) : n;
  const params: Param[] = [];
  for (let i = 0; i < n; i++) {
    let ty = tys?.[i] ?? weighted(rng, PARAM_TYS);
    let cls: ClassSig | undefined;
    if (!tys && g.classes.length && rng.chance(0.08)) {
      ty = "obj";
      cls = rng.pick(g.classes);
    }
    const name = cls ? g.freeOf(sc, [snake(cls.name)], "obj") : g.fresh(sc, ty);
    const p: Param = { name, ty, cls };
    if (i >= firstDefault) p.def = defaultFor(g, ty);
    params.push(p);
    if (cls) addObj(sc, name, { name, ty, cls });
    else sc.add({ name, ty, nullable: p.def === "None" });
  }
  return params;
}

function paramList(params: Param[], self = false): string {
  const ps = params.map((p) => p.def === undefined ? p.name : `${p.name}=${p.def}`);
  return (self ? ["self", ...ps] : ps).join(", ");
}

function docstring(g: Gen, depth: number, name: string, isClass = false): void {
  const rng = g.rng;
  if (!rng.chance(g.style.docstring)) return;
  let text: string;
  if (isClass) {
    const what = snake(name).replaceAll("_", " ");
    text = rng.pick([
      `A ${what}.`,
      `Keep track of a ${what}.`,
      `Simple ${what} class.`,
      `One ${what} and its data.`,
    ]);
  } else {
    const words = name.replace(/^_+|_+$/g, "").split("_");
    const verb = words[0][0].toUpperCase() + words[0].slice(1);
    const rest = words.slice(1).join(" ");
    text = words[0] === "is" || words[0] === "has" || words[0] === "can"
      ? `Return True if ${words[0] === "has" ? "there are" : "it"} ${
        words[0] === "has" ? "" : `${words[0]} `
      }${rest || "ok"}.`
      : rest
      ? rng.pick([
        `${verb} the ${rest}.`,
        `${verb} ${rest} and return the result.`,
        `${verb} the given ${rest}.`,
        `Helper to ${words[0]} the ${rest}.`,
      ])
      : rng.pick([`${verb} one ${rng.pick(B.NOUNS)}.`, `${verb} and return.`, `${verb} the data.`]);
  }
  g.emit(depth, rng.chance(0.9) ? `"""${text}"""` : `'''${text}'''`);
}

/** A function name not yet bound at module level. */
function uniqueFnName(g: Gen, sc: Scope, make: () => string): string {
  for (let i = 0; i < 20; i++) {
    const n = make();
    if (g.free(sc, n)) return n;
  }
  const n = make();
  for (let k = 2;; k++) if (g.free(sc, n + k)) return n + k;
}

/** A scope for a new function body: module constants, read-only. */
function fnScope(g: Gen): Scope {
  const sc = new Scope();
  for (const c of g.consts) sc.add({ ...c, ro: true });
  return sc;
}

/** Nullable parameters sometimes get the usual `if x is None: x = ...` guard. */
function noneGuards(g: Gen, sc: Scope, depth: number): void {
  for (const v of sc.vars) {
    if (!v.nullable || v.ty === "obj" || !g.rng.chance(0.6)) continue;
    g.emit(depth, `if ${v.name} is None:`);
    g.emit(
      depth + 1,
      `${v.name} = ${
        v.ty === "ilist" || v.ty === "slist" || v.ty === "grid"
          ? "[]"
          : v.ty === "dict"
          ? "{}"
          : lit(g, v.ty)
      }`,
    );
    v.nullable = false;
  }
}

function bodyCount(g: Gen, budget: number): number {
  const left = budget - g.lines.length;
  return Math.max(2, Math.min(5, Math.floor(left / 5))) - g.rng.int(2);
}

/** def name(params): docstring, body, return. */
function plainFunction(g: Gen, module: Scope, budget: number, depth = 0, method?: ClassSig): FnSig {
  const rng = g.rng;
  const ret = weighted(rng, RET_TYS);
  const sc = method ? methodScope(g, method) : fnScope(g);
  const name = method
    ? methodName(g, method, ret)
    : uniqueFnName(g, module, () => fnName(rng, ret));
  const n = weighted(rng, [[0, method ? 3 : 1], [1, 4], [2, 4], [3, 3], [4, 1.2]]);
  const params = makeParams(g, sc, n);
  g.emit(depth, `def ${name}(${paramList(params, !!method)}):`);
  const b: Block = { depth: depth + 1, base: depth + 1, ret, inLoop: false };
  docstring(g, b.depth, name);
  noneGuards(g, sc, b.depth);
  stmts(g, sc, b, bodyCount(g, budget));
  if (ret !== null) returnStmt(g, sc, b);
  return { name, params, ret };
}

/** def is_x(...): guard clauses returning True/False, then a final return. */
function predicate(g: Gen, module: Scope, depth = 0, method?: ClassSig): FnSig {
  const rng = g.rng;
  const sc = method ? methodScope(g, method) : fnScope(g);
  const name = method
    ? methodName(g, method, "bool")
    : uniqueFnName(g, module, () => fnName(rng, "bool"));
  const n = weighted(rng, [[method ? 0 : 1, 2], [1, 4], [2, 3], [3, 1]]);
  const params = makeParams(
    g,
    sc,
    n,
    Array.from({ length: n }, () => rng.pick<Ty>(["int", "str", "ilist", "slist", "int", "str"])),
  );
  g.emit(depth, `def ${name}(${paramList(params, !!method)}):`);
  const b: Block = { depth: depth + 1, base: depth + 1, ret: "bool", inLoop: false };
  docstring(g, b.depth, name);
  const guards = 1 + rng.int(2);
  for (let i = 0; i < guards; i++) {
    g.emit(b.depth, `if ${cond(g, sc)}:`);
    g.emit(b.depth + 1, `return ${rng.chance(0.6) ? "False" : "True"}`);
  }
  const lists = sc.vars.filter((v) => v.ty === "ilist" || v.ty === "slist");
  if (lists.length && rng.chance(0.5)) {
    const xs = rng.pick(lists);
    const x = g.freeOf(
      sc,
      [xs.ty === "slist" ? "item" : "x", "value", "v"],
      xs.ty === "slist" ? "str" : "int",
    );
    g.emit(b.depth, `for ${x} in ${xs.name}:`);
    const mark = sc.mark();
    sc.add({ name: x, ty: xs.ty === "slist" ? "str" : "int", ro: true });
    g.emit(b.depth + 1, `if ${cond(g, sc)}:`);
    g.emit(b.depth + 2, `return ${rng.chance(0.5) ? "True" : "False"}`);
    sc.reset(mark);
  } else if (rng.chance(0.4)) stmt(g, sc, b);
  g.emit(
    b.depth,
    rng.chance(0.75) ? `return ${rng.chance(0.55) ? "True" : "False"}` : `return ${cond(g, sc)}`,
  );
  return { name, params, ret: "bool" };
}

/** def load_x(path): with open(path, "r") as f: ... return what was read. */
function reader(g: Gen, module: Scope): FnSig {
  const rng = g.rng;
  const sc = fnScope(g);
  const n = rng.pick(B.NOUNS);
  const name = uniqueFnName(
    g,
    module,
    () =>
      `${rng.pick(B.READ_VERBS)}_${rng.chance(0.6) ? plural(n) : n}${
        rng.chance(0.2) ? "_file" : ""
      }`,
  );
  const path: Param = { name: rng.pick(B.READ_PATHS), ty: "str" };
  sc.add({ name: path.name, ty: "str" });
  const params = [
    path,
    ...(rng.chance(0.3) ? makeParams(g, sc, 1, [rng.pick<Ty>(["int", "bool", "str"])]) : []),
  ];
  g.emit(0, `def ${name}(${paramList(params)}):`);
  const b: Block = { depth: 1, base: 1, ret: null, inLoop: false };
  docstring(g, 1, name);
  const mark = sc.mark();
  if (rng.chance(0.2)) {
    const f = rng.pick(B.READ_HANDLES);
    sc.used.add(f);
    g.emit(1, `${f} = ${openCall(g, path.name, "r")}`);
    readBody(g, sc, b, f);
    g.emit(1, `${f}.close()`);
  } else withOpen(g, sc, b, "r", path.name);
  const got = sc.vars.slice(mark);
  if (rng.chance(0.3)) stmt(g, sc, b);
  const result = got.length ? got[got.length - 1] : null;
  b.ret = result ? result.ty : null;
  if (result) g.emit(1, `return ${result.name}`);
  return { name, params, ret: b.ret, file: "r" };
}

/** def save_x(path, xs): with open(path, "w") as f: write xs. */
function writer(g: Gen, module: Scope): FnSig {
  const rng = g.rng;
  const sc = fnScope(g);
  const n = rng.pick(B.NOUNS);
  const name = uniqueFnName(
    g,
    module,
    () =>
      `${rng.pick(B.WRITE_VERBS)}_${rng.chance(0.6) ? plural(n) : n}${
        rng.chance(0.2) ? "_file" : ""
      }`,
  );
  const path: Param = { name: rng.pick(B.WRITE_PATHS), ty: "str" };
  sc.add({ name: path.name, ty: "str" });
  const data = makeParams(g, sc, 1 + (rng.chance(0.3) ? 1 : 0), [
    rng.pick<Ty>(["slist", "ilist", "dict", "slist"]),
    rng.pick<Ty>(["int", "str", "bool"]),
  ]);
  const params = [path, ...data];
  g.emit(0, `def ${name}(${paramList(params)}):`);
  const b: Block = { depth: 1, base: 1, ret: null, inLoop: false };
  docstring(g, 1, name);
  if (rng.chance(0.2)) {
    const f = rng.pick(B.WRITE_HANDLES);
    sc.used.add(f);
    g.emit(1, `${f} = ${openCall(g, path.name, "w")}`);
    writeBody(g, sc, b, f);
    g.emit(1, `${f}.close()`);
  } else withOpen(g, sc, b, "w", path.name);
  if (rng.chance(0.4)) g.emit(1, `print(${fstring(g, sc)})`);
  return { name, params, ret: null, file: "w" };
}

/** Scope of a method body: the class's fields as `self.x`, and its earlier methods. */
function methodScope(g: Gen, cls: ClassSig): Scope {
  const sc = fnScope(g);
  for (const f of cls.fields) sc.add({ name: `self.${f.name}`, ty: f.ty, cls: f.cls });
  for (const m of cls.methods) sc.fns.push({ ...m, name: `self.${m.name}` });
  return sc;
}

function methodName(g: Gen, cls: ClassSig, ret: Ty | null): string {
  const rng = g.rng;
  const taken = new Set(cls.methods.map((m) => m.name).concat(cls.fields.map((f) => f.name)));
  for (let i = 0; i < 20; i++) {
    const f = rng.pick(cls.fields);
    const n = ret === null
      ? rng.pick([
        "reset",
        "update",
        "show",
        "display",
        "report",
        `update_${f.name}`,
        `print_${f.name}`,
        `log_${rng.pick(B.NOUNS)}`,
        `refresh`,
      ])
      : ret === "bool"
      ? rng.pick([
        `is_${rng.pick(B.ADJECTIVES)}`,
        `has_${f.name}`,
        `can_${rng.pick(["move", "buy", "run", "save", "join"])}`,
      ])
      : rng.pick([
        `get_${f.name}`,
        `compute_${f.name}`,
        `total_${f.name}`,
        fnName(rng, ret),
        `${rng.pick(["describe", "summary", "score", "size", "count"])}`,
      ]);
    if (!taken.has(n) && !B.RESERVED.has(n)) return n;
  }
  return `method_${cls.methods.length + 1}`;
}

/** Extra fields an `__init__` sets without a parameter. */
const EXTRA_FIELDS: [string[], Ty, string][] = [
  [["items", "entries", "records", "history_list"], "slist", "[]"],
  [["count", "total", "size", "steps", "num_items"], "int", "0"],
  [["seen", "visited", "used_keys", "tags"], "sset", "set()"],
  [["log", "history", "text", "buffer", "notes"], "str", '""'],
  [["scores", "values", "amounts"], "ilist", "[]"],
  [["lookup", "counts", "cache"], "dict", "{}"],
  [["active", "open", "ready", "done"], "bool", "False"],
];

/** class Name: __init__ with self.x = x lines, then methods. */
function classDef(g: Gen, module: Scope, budget: number): ClassSig {
  const rng = g.rng;
  const name = uniqueFnName(g, module, () => className(rng));
  g.globals.add(name);
  const cls: ClassSig = { name, init: [], fields: [], methods: [] };
  g.emit(0, `class ${name}:`);
  docstring(g, 1, name, true);
  if (rng.chance(0.12)) {
    const c = rng.pick(["count", "instances", "created", "next_id"]);
    g.emit(1, `${c} = 0`);
    g.blank();
  }
  const sc = fnScope(g);
  const nInit = weighted(rng, [[1, 2], [2, 4], [3, 4], [4, 2], [5, 0.7]]);
  const params = makeParams(
    g,
    sc,
    nInit,
    Array.from({ length: nInit }, () =>
      weighted(
        rng,
        [["str", 4], ["int", 4], ["float", 1], ["bool", 1], ["ilist", 1], ["slist", 1.5], [
          "dict",
          0.5,
        ]] as [Ty, number][],
      )),
  );
  cls.init = params;
  g.emit(1, `def __init__(${paramList(params, true)}):`);
  const order = rng.chance(0.85) ? params.slice() : rng.shuffle(params.slice());
  const extras = rng.shuffle(EXTRA_FIELDS.slice()).slice(0, rng.pick([0, 0, 1, 1, 2, 3]));
  const used = new Set(params.map((p) => p.name));
  const lines: string[] = [];
  for (const p of order) {
    const listy = p.def === "None" && (p.ty === "ilist" || p.ty === "slist" || p.ty === "dict");
    const value = listy && rng.chance(0.3)
      ? `${p.name} if ${p.name} is not None else ${p.ty === "dict" ? "{}" : "[]"}`
      : p.name;
    lines.push(`self.${p.name} = ${value}`);
    cls.fields.push({ name: p.name, ty: p.ty });
  }
  for (const [names, ty, init] of extras) {
    const f = names.find((n) => !used.has(n));
    if (!f) continue;
    used.add(f);
    lines.push(`self.${f} = ${init === '""' ? g.q("") : init}`);
    cls.fields.push({ name: f, ty });
  }
  for (const l of lines) g.emit(2, l);
  const nMethods = 1 + rng.int(3);
  for (let i = 0; i < nMethods && g.lines.length < budget + 10; i++) {
    g.blank();
    cls.methods.push(method(g, module, cls, budget));
  }
  if (rng.chance(0.35)) {
    g.blank();
    const dunder = rng.chance(0.6) ? "__str__" : "__repr__";
    g.emit(1, `def ${dunder}(self):`);
    const shown = cls.fields.slice(0, 1 + rng.int(Math.min(3, cls.fields.length)));
    const q = g.quote();
    g.emit(2, `return f${q}${name}(${shown.map((f) => `{self.${f.name}}`).join(", ")})${q}`);
  }
  return cls;
}

/** One method: an accessor, a mutator of a collection field, a predicate, or a general method. */
function method(g: Gen, module: Scope, cls: ClassSig, budget: number): FnSig {
  const rng = g.rng;
  const r = rng.float();
  const coll = cls.fields.filter((f) => ["slist", "ilist", "sset", "str", "dict"].includes(f.ty));
  if (r < 0.25 && coll.length) {
    const f = rng.pick(coll);
    const et: Ty = f.ty === "ilist" ? "int" : "str";
    const sc = methodScope(g, cls);
    const x = g.freeOf(sc, [
      f.ty === "dict" ? "key" : f.ty === "str" ? "text" : rng.pick(["item", "value", "entry", "x"]),
    ], et);
    const name = rng.pick([
      `add_${x}`,
      `add_${x}`,
      "add",
      "record",
      "push",
      `add_${rng.pick(B.NOUNS)}`,
    ]);
    const taken = cls.methods.some((m) => m.name === name) ||
      cls.fields.some((f) => f.name === name);
    const mname = taken ? `${name}_${cls.methods.length + 1}` : name;
    g.emit(1, `def ${mname}(self, ${x}):`);
    docstring(g, 2, mname);
    const line = f.ty === "slist" || f.ty === "ilist"
      ? `self.${f.name}.append(${x})`
      : f.ty === "sset"
      ? `self.${f.name}.add(${x})`
      : f.ty === "str"
      ? `self.${f.name} += ${x}`
      : `self.${f.name}[${x}] = self.${f.name}.get(${x}, 0) + 1`;
    if (rng.chance(0.3)) {
      sc.add({ name: x, ty: et });
      g.emit(2, `if ${cond(g, sc, 1)}:`);
      g.emit(3, line);
    } else g.emit(2, line);
    const counter = cls.fields.find((c) => c.ty === "int");
    if (counter && rng.chance(0.4)) g.emit(2, `self.${counter.name} += 1`);
    return { name: mname, params: [{ name: x, ty: et }], ret: null };
  }
  if (r < 0.4) {
    const f = rng.pick(cls.fields);
    const mname = methodName(g, cls, f.ty);
    g.emit(1, `def ${mname}(self):`);
    docstring(g, 2, mname);
    g.emit(2, `return self.${f.name}`);
    return { name: mname, params: [], ret: f.ty };
  }
  if (r < 0.55) return predicate(g, module, 1, cls);
  return plainFunction(g, module, budget, 1, cls);
}

/** Calls what the document defined: create objects, call functions, print results. */
function driver(g: Gen, sc: Scope, b: Block, budget: number): void {
  const rng = g.rng;
  const targets: (FnSig | ClassSig)[] = rng.shuffle([...g.fns, ...g.classes]).slice(
    0,
    1 + rng.int(3),
  );
  for (const t of targets) {
    if ("init" in t) {
      const name = g.freeOf(
        sc,
        [snake(t.name), `${rng.pick(B.MODIFIERS)}_${snake(t.name)}`],
        "obj",
      );
      g.emit(b.depth, `${name} = ${newObj(g, sc, t)}`);
      addObj(sc, name, { name, ty: "obj", cls: t });
      for (let i = 0; i < 1 + rng.int(2) && t.methods.length; i++) {
        const m = rng.pick(t.methods);
        const call = callExpr(g, sc, { prefix: `${name}.`, fn: m });
        if (m.ret === null) g.emit(b.depth, call);
        else {g.emit(
            b.depth,
            rng.chance(0.5) ? `print(${call})` : `print(${g.q(rng.pick(B.LABELS) + ":")}, ${call})`,
          );}
      }
      if (rng.chance(0.4)) g.emit(b.depth, `print(${name}.${rng.pick(t.fields).name})`);
    } else {
      const call = callExpr(g, sc, { prefix: "", fn: t });
      if (t.ret === null) g.emit(b.depth, call);
      else {
        const v = g.fresh(sc, t.ret);
        g.emit(b.depth, `${v} = ${call}`);
        sc.add({ name: v, ty: t.ret });
        g.emit(b.depth, rng.chance(0.5) ? `print(${fstring(g, sc)})` : `print(${v})`);
      }
    }
  }
  const extra = Math.max(
    targets.length ? 0 : 2,
    Math.min(4, Math.floor((budget - g.lines.length) / 4)),
  );
  stmts(g, sc, b, extra);
}

function constant(g: Gen, module: Scope): void {
  const rng = g.rng;
  const r = rng.float();
  const n = rng.pick(B.NOUNS).toUpperCase();
  const [name, ty, value]: [string, Ty, string] = r < 0.35
    ? [
      `${rng.pick(["MAX", "MIN", "DEFAULT", "NUM", "TOTAL"])}_${n}${rng.chance(0.5) ? "S" : ""}`,
      "int",
      intLit(rng),
    ]
    : r < 0.55
    ? [`${plural(rng.pick(B.NOUNS)).toUpperCase()}`, "slist", lit(g, "slist")]
    : r < 0.7
    ? [`DEFAULT_${n}`, "str", strLit(g)]
    : r < 0.85
    ? [
      rng.pick(["DEBUG", "VERBOSE", "STRICT", "USE_CACHE", "DRY_RUN"]),
      "bool",
      rng.chance(0.5) ? "True" : "False",
    ]
    : [`${n}_LIMITS`, "dict", lit(g, "dict")];
  if (!g.free(module, name)) return;
  g.emit(0, `${name} = ${value}`);
  g.globals.add(name);
  module.add({ name, ty, ro: true });
  g.consts.push({ name, ty });
}

function imports(g: Gen): void {
  const rng = g.rng;
  if (!rng.chance(0.4)) return;
  const mods = rng.shuffle(B.MODULES.slice()).slice(0, 1 + rng.int(2)).sort();
  for (const m of mods) {
    g.emit(0, `import ${m}`);
    g.imports.add(m);
    g.globals.add(m);
  }
  g.blank();
}

/** Separator before a top-level definition. */
function gap(g: Gen): void {
  g.blank();
  if (g.style.blankLines === 2 && g.lines.length) g.lines.push("");
}

function topItem(g: Gen, module: Scope, budget: number, kind: string): void {
  const top: Block = { depth: 0, base: 0, inLoop: false };
  switch (kind) {
    case "function":
    case "predicate":
    case "reader":
    case "writer": {
      gap(g);
      const sig = kind === "function"
        ? plainFunction(g, module, budget)
        : kind === "predicate"
        ? predicate(g, module)
        : kind === "reader"
        ? reader(g, module)
        : writer(g, module);
      g.fns.push(sig);
      g.globals.add(sig.name);
      return;
    }
    case "class": {
      gap(g);
      g.classes.push(classDef(g, module, budget));
      return;
    }
    case "constant":
      g.blank();
      constant(g, module);
      return;
    case "lambda":
      lambdaDef(g, module, top, false);
      return;
    default:
      g.blank();
      stmts(g, module, top, 2 + g.rng.int(3));
  }
}

function mainBlock(g: Gen, module: Scope, budget: number): void {
  const rng = g.rng;
  const kind = choose(rng, MAIN_KINDS);
  gap(g);
  if (kind === "main_function") {
    g.emit(0, "def main():");
    const sc = fnScope(g);
    driver(g, sc, { depth: 1, base: 1, ret: null, inLoop: false }, budget);
    gap(g);
    g.emit(0, `if __name__ == ${g.q("__main__")}:`);
    g.emit(1, "main()");
  } else if (kind === "main_guard") {
    g.emit(0, `if __name__ == ${g.q("__main__")}:`);
    driver(g, module, { depth: 1, base: 1, inLoop: false }, budget);
  } else {
    driver(g, module, { depth: 0, base: 0, inLoop: false }, budget);
  }
}

/** One Python source file, 20–80 lines typically, from rng. */
export function generateProgram(rng: Rng): string {
  const g = new Gen(rng);
  const module = new Scope();
  const budget = 14 + rng.int(51);
  const kind = choose(rng, DOC_KINDS);
  if (kind === "script") {
    if (rng.chance(0.3)) imports(g);
    const top: Block = { depth: 0, base: 0, inLoop: false };
    while (g.lines.length < budget) {
      if (rng.chance(0.15)) g.blank();
      stmt(g, module, top);
    }
  } else {
    imports(g);
    const nConst = kind === "module" && rng.chance(0.3) ? 1 + rng.int(2) : 0;
    for (let i = 0; i < nConst; i++) constant(g, module);
    if (kind === "classes") {
      const nClasses = 1 + (rng.chance(0.35) ? 1 : 0);
      for (let i = 0; i < nClasses; i++) topItem(g, module, budget, "class");
    }
    while (g.lines.length < budget * 0.7) topItem(g, module, budget, choose(rng, TOP_ITEMS));
    mainBlock(g, module, budget);
  }
  while (g.lines.length && g.lines[g.lines.length - 1] === "") g.lines.pop();
  return g.lines.join("\n") + "\n";
}
