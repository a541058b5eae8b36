/**
 * Typed expressions: literals (strings in both quote styles, flat and nested lists, dicts),
 * arithmetic, string operations, comprehensions, calls of functions defined earlier in the
 * document, and conditions (==, <, in, `flag == True`, `x is None`, ...).
 */
import type { Rng } from "../../util/rng.ts";
import * as B from "./banks.ts";
import { choose, STRING_FORMS } from "./grammar.ts";
import { elemNames } from "./names.ts";
import type { ClassSig, FnSig, Gen, Scope, Ty, Var } from "./scope.ts";

/** One alternative of an expression production: weight, applicability, generator. */
type Alt = [number, boolean, () => string];

/** Draws one applicable alternative by weight. */
export function alt(rng: Rng, alts: Alt[]): string {
  let total = 0;
  for (const a of alts) if (a[1]) total += a[0];
  let r = rng.float() * total;
  for (const a of alts) {
    if (!a[1]) continue;
    r -= a[0];
    if (r < 0) return a[2]();
  }
  for (let i = alts.length - 1; i >= 0; i--) if (alts[i][1]) return alts[i][2]();
  throw new Error("alt: no alternative applies");
}

/** A small integer literal, mostly single digits. */
export function intLit(rng: Rng): string {
  const r = rng.float();
  if (r < 0.6) return String(rng.int(11));
  if (r < 0.85) return String(10 + rng.int(91));
  if (r < 0.97) {
    return rng.pick(["100", "1000", "255", "42", "365", "60", "24", "12", "50", "500", "99"]);
  }
  return "-1";
}

export function floatLit(rng: Rng): string {
  return rng.pick([
    "0.5",
    "1.5",
    "2.0",
    "3.14",
    "0.1",
    "0.25",
    "9.81",
    "1.0",
    "0.0",
    "2.5",
    "100.0",
    "0.75",
    "0.05",
  ]);
}

/** A file name whose stem says whether it is read or written. */
export function fileName(rng: Rng, role: "r" | "w"): string {
  const stem = rng.pick(role === "r" ? B.READ_STEMS : B.WRITE_STEMS);
  return rng.pick(B.FOLDERS) + stem + rng.pick(B.EXTENSIONS);
}

/** Contents of a string literal (no quotes), with the quote it must use if it forces one. */
function strContents(g: Gen): [string, string | null] {
  const rng = g.rng;
  switch (choose(rng, STRING_FORMS)) {
    case "words": {
      const n = 1 + rng.int(3);
      const w: string[] = [];
      for (let i = 0; i < n; i++) w.push(rng.pick(B.WORDS));
      return [w.join(rng.chance(0.85) ? " " : rng.pick(["-", ", ", "_", "/"])), null];
    }
    case "label":
      return [rng.pick(B.LABELS) + rng.pick([":", ":", "", " =", "!", "..."]), null];
    case "sentence":
      return [
        `${rng.chance(0.5) ? rng.pick(B.LABELS) : rng.pick(B.WORDS)} ${rng.pick(B.PHRASES)}`,
        null,
      ];
    case "key":
      return [rng.pick(B.WORDS), null];
    case "file":
      return [fileName(rng, rng.chance(0.5) ? "r" : "w"), null];
    default:
      if (rng.chance(0.7)) return [rng.pick(B.APOSTROPHE_PHRASES), '"'];
      return [`the ${'"'}${rng.pick(B.WORDS)}${'"'} one`, "'"];
  }
}

/** A string literal in the document's quote style. */
export function strLit(g: Gen): string {
  const [c, forced] = strContents(g);
  const q = forced ?? g.quote();
  return q + c + q;
}

/** A one-word string literal (dict keys, list items). */
export function wordLit(g: Gen, q = g.quote()): string {
  return q + g.rng.pick(B.WORDS) + q;
}

/** A separator literal for joins and splits. */
export function sepLit(g: Gen): string {
  return g.q(g.rng.pick([", ", " ", "-", "", ",", " | ", ";", ": ", "\\n", "\\t", "/"]));
}

/** `[1, 2, 3]` with 0..6 elements (mostly 2..4). */
export function intListLit(rng: Rng, min = 0): string {
  const n = Math.max(min, rng.chance(0.08) ? 0 : 1 + rng.int(rng.chance(0.7) ? 4 : 7));
  const xs: string[] = [];
  for (let i = 0; i < n; i++) {
    xs.push(rng.chance(0.85) ? String(rng.int(rng.chance(0.7) ? 10 : 100)) : intLit(rng));
  }
  return `[${xs.join(", ")}]`;
}

/** `["a", "b"]` with 1..5 words in one quote style. */
export function strListLit(g: Gen, q = g.quote()): string {
  const n = 1 + g.rng.int(5);
  const xs: string[] = [];
  for (let i = 0; i < n; i++) xs.push(wordLit(g, q));
  return `[${xs.join(", ")}]`;
}

/** A nested list literal: depth 2 mostly, sometimes 3; ragged inner lengths (bracket_counting). */
export function nestedListLit(
  g: Gen,
  depth = g.rng.chance(0.12) ? 3 : 2,
  strs = g.rng.chance(0.12),
): string {
  const rng = g.rng;
  if (depth === 1) return strs ? strListLit(g) : intListLit(rng, 1);
  const n = 1 + rng.int(rng.chance(0.6) ? 3 : 5);
  const xs: string[] = [];
  for (let i = 0; i < n; i++) xs.push(nestedListLit(g, depth - 1, strs));
  return `[${xs.join(", ")}]`;
}

/** `{"a": 1, "b": 2}` (str keys, int values); 1..4 entries. */
export function dictLit(g: Gen): string {
  const q = g.quote();
  const n = 1 + g.rng.int(4);
  const keys = new Set<string>();
  const xs: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = g.rng.pick(B.WORDS);
    if (keys.has(k)) continue;
    keys.add(k);
    xs.push(`${q}${k}${q}: ${intLit(g.rng)}`);
  }
  return `{${xs.join(", ")}}`;
}

/** A literal of type ty. */
export function lit(g: Gen, ty: Ty): string {
  const rng = g.rng;
  switch (ty) {
    case "int":
      return intLit(rng);
    case "float":
      return floatLit(rng);
    case "str":
      return strLit(g);
    case "bool":
      return rng.chance(0.5) ? "True" : "False";
    case "ilist":
      return intListLit(rng);
    case "slist":
      return strListLit(g);
    case "grid":
      return nestedListLit(g);
    case "dict":
      return rng.chance(0.15) ? "{}" : dictLit(g);
    case "iset":
      return rng.chance(0.6) ? "set()" : `set(${intListLit(rng, 1)})`;
    case "sset":
      return rng.chance(0.6) ? "set()" : `set(${strListLit(g)})`;
    case "obj":
      return "None";
  }
}

/** A callable returning ty (module function, local lambda or a method of an object in scope). */
interface Callable {
  prefix: string;
  fn: FnSig;
}

/** True when some callable returns ret (callables() without building the list). */
export function hasCallable(g: Gen, sc: Scope, ret: Ty | null | "any"): boolean {
  for (const f of g.fns) if (ret === "any" || f.ret === ret) return true;
  for (const f of sc.fns) if (ret === "any" || f.ret === ret) return true;
  for (const v of sc.vars) {
    if (v.ty !== "obj" || !v.cls || v.name.includes(".")) continue;
    for (const m of v.cls.methods) if (ret === "any" || m.ret === ret) return true;
  }
  return false;
}

export function callables(g: Gen, sc: Scope, ret: Ty | null | "any"): Callable[] {
  const out: Callable[] = [];
  const ok = (f: FnSig) => ret === "any" || f.ret === ret;
  for (const f of g.fns) if (ok(f)) out.push({ prefix: "", fn: f });
  for (const f of sc.fns) if (ok(f)) out.push({ prefix: "", fn: f });
  for (const v of sc.vars) {
    if (v.ty !== "obj" || !v.cls || v.name.includes(".")) continue;
    for (const m of v.cls.methods) if (ok(m)) out.push({ prefix: v.name + ".", fn: m });
  }
  return out;
}

/** `f(a, b, key=value)`: positional arguments, then defaults omitted, positional or by keyword. */
export function callExpr(g: Gen, sc: Scope, c: Callable, lvl = 1): string {
  const rng = g.rng;
  const args: string[] = [];
  let keyword = false;
  for (let i = 0; i < c.fn.params.length; i++) {
    const p = c.fn.params[i];
    const value = () =>
      (c.fn.file && i === 0) ? g.q(fileName(rng, c.fn.file)) : argExpr(g, sc, p.ty, p.cls, lvl + 1);
    if (p.def === undefined) {
      args.push(value());
      continue;
    }
    const r = rng.float();
    if (r < 0.45) {
      keyword = true;
      continue;
    }
    if (keyword || r < 0.8) {
      keyword = true;
      args.push(`${p.name}=${value()}`);
    } else args.push(value());
  }
  return `${c.prefix}${c.fn.name}(${args.join(", ")})`;
}

/** An argument of type ty: a variable in scope when there is one, else an expression. */
function argExpr(g: Gen, sc: Scope, ty: Ty, cls: ClassSig | undefined, lvl: number): string {
  if (ty === "obj") {
    const v = sc.vars.find((v) => v.ty === "obj" && v.cls === cls);
    if (v) return v.name;
    return cls ? newObj(g, sc, cls, lvl) : "None";
  }
  const v = sc.pick(g.rng, ty);
  if (v && g.rng.chance(0.7)) return v.name;
  return lvl >= 3 ? lit(g, ty) : expr(g, sc, ty, lvl);
}

/** `ClassName(args)`. */
export function newObj(g: Gen, sc: Scope, cls: ClassSig, lvl = 1): string {
  return callExpr(g, sc, {
    prefix: "",
    fn: { name: cls.name, params: cls.init, ret: "obj", retCls: cls },
  }, lvl);
}

/** Types that have a len(). */
const SIZED: ReadonlySet<Ty> = new Set(["ilist", "slist", "grid", "dict", "iset", "sset", "str"]);

function v(sc: Scope, rng: Rng, ty: Ty): string {
  return sc.pick(rng, ty)!.name;
}

/** An expression of type ty. `lvl` bounds nesting (≥ 2: atoms only). */
export function expr(g: Gen, sc: Scope, ty: Ty, lvl = 0): string {
  const rng = g.rng;
  const has = (t: Ty) => sc.has(t);
  const deep = lvl >= 2;
  const canCall = !deep && hasCallable(g, sc, ty);
  const call = () => callExpr(g, sc, rng.pick(callables(g, sc, ty)), lvl + 1);
  switch (ty) {
    case "int": {
      const atom = (not: string) => {
        const w = sc.pick(rng, "int");
        return w && w.name !== not && rng.chance(0.6) ? w.name : String(1 + rng.int(10));
      };
      const binop = () => {
        const a = v(sc, rng, "int");
        return `${a} ${rng.pick(["+", "-", "*", "+", "//", "%"])} ${atom(a)}`;
      };
      return alt(rng, [
        [3, true, () => intLit(rng)],
        [6, has("int"), () => v(sc, rng, "int")],
        [
          2,
          sc.vars.some((x) => SIZED.has(x.ty)),
          () => `len(${rng.pick(sc.vars.filter((x) => SIZED.has(x.ty))).name})`,
        ],
        [4, has("int") && !deep, binop],
        [1.5, has("ilist"), () => `${rng.pick(["sum", "max", "min"])}(${v(sc, rng, "ilist")})`],
        [1, has("dict"), () => {
          const d = v(sc, rng, "dict");
          const k = has("str") && rng.chance(0.5) ? v(sc, rng, "str") : wordLit(g);
          return rng.chance(0.6) ? `${d}.get(${k}, 0)` : `${d}[${k}]`;
        }],
        [1, has("ilist"), () => `${v(sc, rng, "ilist")}[${rng.pick(["0", "-1", "1", "0"])}]`],
        [1.5, canCall, call],
        [0.4, has("str"), () => `int(${v(sc, rng, "str")})`],
        [0.4, has("float"), () => `round(${v(sc, rng, "float")})`],
        [0.5, g.imports.has("random"), () => `random.randint(${rng.int(3)}, ${intLit(rng)})`],
        [0.4, g.imports.has("math") && has("float"), () => `math.floor(${v(sc, rng, "float")})`],
      ]);
    }
    case "float":
      return alt(rng, [
        [3, true, () => floatLit(rng)],
        [4, has("float"), () => v(sc, rng, "float")],
        [
          2,
          has("int"),
          () =>
            `${v(sc, rng, "int")} / ${
              has("int") && rng.chance(0.5) ? v(sc, rng, "int") : intLit(rng)
            }`,
        ],
        [2, has("float") && !deep, () => `${v(sc, rng, "float")} * ${floatLit(rng)}`],
        [1.5, has("ilist"), () => {
          const xs = v(sc, rng, "ilist");
          return `sum(${xs}) / len(${xs})`;
        }],
        [1, has("int"), () => `float(${v(sc, rng, "int")})`],
        [1, canCall, call],
        [0.6, g.imports.has("math") && has("int"), () => `math.sqrt(${v(sc, rng, "int")})`],
        [0.5, g.imports.has("random"), () => "random.random()"],
        [0.4, g.imports.has("time"), () => "time.time()"],
      ]);
    case "str":
      return alt(rng, [
        [5, true, () => strLit(g)],
        [5, has("str"), () => v(sc, rng, "str")],
        [3, has("str"), () => {
          const s = v(sc, rng, "str");
          return rng.pick([
            `${s}.upper()`,
            `${s}.lower()`,
            `${s}.strip()`,
            `${s}.title()`,
            `${s}.capitalize()`,
            `${s}.replace(${wordLit(g)}, ${wordLit(g)})`,
            `${s}[:${1 + rng.int(5)}]`,
            `${s}[::-1]`,
          ]);
        }],
        [
          2,
          has("str") && !deep,
          () => `${v(sc, rng, "str")} + ${rng.chance(0.5) ? strLit(g) : v(sc, rng, "str")}`,
        ],
        [2, has("int"), () => `str(${v(sc, rng, "int")})`],
        [2, has("slist"), () => `${sepLit(g)}.join(${v(sc, rng, "slist")})`],
        [2, !deep, () => fstring(g, sc)],
        [1, has("slist"), () => `${v(sc, rng, "slist")}[${rng.pick(["0", "-1", "0", "1"])}]`],
        [1.5, canCall, call],
        [
          0.5,
          g.imports.has("os") && has("str"),
          () => `os.path.join(${g.q(rng.pick(["data", "out", "files"]))}, ${v(sc, rng, "str")})`,
        ],
        [
          0.5,
          g.imports.has("random") && has("slist"),
          () => `random.choice(${v(sc, rng, "slist")})`,
        ],
      ]);
    case "bool":
      return alt(rng, [
        [3, true, () => rng.chance(0.5) ? "True" : "False"],
        [4, has("bool"), () => v(sc, rng, "bool")],
        [5, true, () => cond(g, sc, lvl + 1)],
        [1.5, canCall, call],
      ]);
    case "ilist": {
      const xs = () => v(sc, rng, "ilist");
      return alt(rng, [
        [4, true, () => intListLit(rng)],
        [4, has("ilist"), xs],
        [
          1.5,
          true,
          () =>
            rng.chance(0.6)
              ? `list(range(${
                has("int") && rng.chance(0.5) ? v(sc, rng, "int") : 1 + rng.int(10)
              }))`
              : `list(range(${rng.int(3)}, ${intLit(rng)}))`,
        ],
        [3, (has("ilist") || has("slist")) && !deep, () => listComp(g, sc, "ilist")],
        [
          1.5,
          has("ilist"),
          () => rng.chance(0.7) ? `sorted(${xs()})` : `sorted(${xs()}, reverse=True)`,
        ],
        [1, has("ilist"), () => `${xs()}[${rng.pick(["1:", ":3", ":-1", "::2", "1:4"])}]`],
        [1, has("dict"), () => `list(${v(sc, rng, "dict")}.values())`],
        [1, canCall, call],
      ]);
    }
    case "slist":
      return alt(rng, [
        [4, true, () => strListLit(g)],
        [4, has("slist"), () => v(sc, rng, "slist")],
        [
          2.5,
          has("str"),
          () =>
            rng.chance(0.5)
              ? `${v(sc, rng, "str")}.split()`
              : `${v(sc, rng, "str")}.split(${sepLit(g)})`,
        ],
        [3, has("slist") && !deep, () => listComp(g, sc, "slist")],
        [1.5, has("slist"), () => {
          const w = rng.pick(["w", "s", "x", "name"]);
          const key = rng.pick([`len(${w})`, `${w}.lower()`, `${w}[-1]`]);
          return rng.chance(0.6)
            ? `sorted(${v(sc, rng, "slist")})`
            : `sorted(${v(sc, rng, "slist")}, key=lambda ${w}: ${key})`;
        }],
        [1, has("dict"), () => `list(${v(sc, rng, "dict")}.keys())`],
        [1, has("sset"), () => `sorted(${v(sc, rng, "sset")})`],
        [1, canCall, call],
      ]);
    case "grid":
      return alt(rng, [
        [5, true, () => nestedListLit(g)],
        [3, has("grid"), () => v(sc, rng, "grid")],
        [1.5, true, () => {
          const i = rng.pick(["_", "i", "row"]);
          return `[[${rng.int(2)}] * ${1 + rng.int(5)} for ${i} in range(${1 + rng.int(5)})]`;
        }],
        [1, has("ilist"), () => {
          const xs = v(sc, rng, "ilist");
          return `[${xs}[i:i + 2] for i in range(0, len(${xs}), 2)]`;
        }],
        [0.8, canCall, call],
      ]);
    case "dict":
      return alt(rng, [
        [5, true, () => dictLit(g)],
        [1.5, true, () => "{}"],
        [3, has("dict"), () => v(sc, rng, "dict")],
        [2, has("slist") && !deep, () => {
          const xs = v(sc, rng, "slist");
          const w = rng.pick(["w", "word", "k", "name", "s"]);
          return `{${w}: ${
            rng.pick([`len(${w})`, "0", "1", `${xs}.count(${w})`])
          } for ${w} in ${xs}}`;
        }],
        [
          1,
          has("slist") && has("ilist"),
          () => `dict(zip(${v(sc, rng, "slist")}, ${v(sc, rng, "ilist")}))`,
        ],
        [1, canCall, call],
      ]);
    case "iset":
      return alt(rng, [
        [4, true, () => "set()"],
        [2, has("ilist"), () => `set(${v(sc, rng, "ilist")})`],
        [1, has("ilist") && !deep, () => {
          const x = rng.pick(["x", "n"]);
          return `{${x} % ${2 + rng.int(5)} for ${x} in ${v(sc, rng, "ilist")}}`;
        }],
        [1, canCall, call],
      ]);
    case "sset":
      return alt(rng, [
        [4, true, () => "set()"],
        [2, has("slist"), () => `set(${v(sc, rng, "slist")})`],
        [1, has("str"), () => `set(${v(sc, rng, "str")}.split())`],
        [1, canCall, call],
      ]);
    case "obj":
      return "None";
  }
}

/** `[f(x) for x in xs if c]` producing a list of type ty. */
function listComp(g: Gen, sc: Scope, ty: "ilist" | "slist"): string {
  const rng = g.rng;
  const srcTy: Ty = sc.has(ty) && rng.chance(0.75)
    ? ty
    : (ty === "ilist" && sc.has("slist") ? "slist" : ty);
  const src = sc.pick(rng, srcTy)!;
  const x = rng.pick(
    elemNames(src.name, srcTy).filter((n) => !sc.used.has(n) && !B.RESERVED.has(n)).concat(["x"]),
  );
  let body: string;
  if (srcTy === "slist") {
    body = ty === "slist"
      ? rng.pick([
        `${x}.upper()`,
        `${x}.strip()`,
        `${x}.lower()`,
        `${x}.title()`,
        `${x}[::-1]`,
        x,
        `${x} + ${strLit(g)}`,
      ])
      : rng.pick([`len(${x})`, `len(${x}) * 2`]);
  } else {
    body = rng.pick([
      `${x} * 2`,
      `${x} + 1`,
      `${x} * ${x}`,
      x,
      `${x} - ${intLit(rng)}`,
      `${x} // 2`,
      `abs(${x})`,
    ]);
  }
  let filter = "";
  if (rng.chance(0.4)) {
    filter = srcTy === "slist"
      ? " if " +
        rng.pick([
          `${x}`,
          `len(${x}) > ${1 + rng.int(5)}`,
          `${x}.startswith(${g.q(rng.pick(B.WORDS)[0])})`,
          `${x} != ${wordLit(g)}`,
        ])
      : " if " +
        rng.pick([`${x} > ${rng.int(10)}`, `${x} % 2 == 0`, `${x} != 0`, `${x} < ${intLit(rng)}`]);
  }
  return `[${body} for ${x} in ${src.name}${filter}]`;
}

/** An f-string: text with `{name}` holes (no quotes inside the braces). */
export function fstring(g: Gen, sc: Scope): string {
  const rng = g.rng;
  const holes = sc.vars.filter((x) => x.ty !== "obj" || x.cls);
  const hole = (): string => {
    if (holes.length === 0) return `${intLit(rng)} + ${intLit(rng)}`;
    const x = rng.chance(0.45) ? holes[holes.length - 1] : rng.pick(holes);
    if (x.ty === "float" && rng.chance(0.5)) return `${x.name}:.${rng.pick(["1", "2", "2", "3"])}f`;
    if (["ilist", "slist", "grid", "dict", "iset", "sset"].includes(x.ty) && rng.chance(0.4)) {
      return `len(${x.name})`;
    }
    if (x.ty === "int" && rng.chance(0.12)) return `${x.name} ${rng.pick(["+ 1", "* 2", "- 1"])}`;
    return x.name;
  };
  const q = g.quote();
  let s: string;
  switch (rng.int(7)) {
    case 0:
      s = `${rng.pick(B.LABELS)}: {${hole()}}`;
      break;
    case 1:
      s = `{${hole()}} ${rng.pick(B.PHRASES)}`;
      break;
    case 2:
      s = `${rng.pick(B.LABELS)} {${hole()}} ${rng.pick(B.PHRASES)}`;
      break;
    case 3:
      s = `{${hole()}}${rng.pick([": ", " - ", " = ", ", ", " "])}{${hole()}}`;
      break;
    case 4:
      s = `${rng.pick(["Hello", "Hi", "Dear", "Welcome", "Goodbye"])}, {${hole()}}!`;
      break;
    case 5:
      s = `${rng.pick(B.WORDS)} {${hole()}} ${rng.pick(B.WORDS)} {${hole()}}`;
      break;
    default:
      s = `{${hole()}}`;
  }
  return `f${q}${s}${q}`;
}

/** A condition; `==` is the most common comparison (if_equals). */
export function cond(g: Gen, sc: Scope, lvl = 0): string {
  const rng = g.rng;
  const has = (t: Ty) => sc.has(t);
  const hasEq = has("int") || has("str") || has("bool");
  return alt(rng, [
    [6, hasEq, () => {
      const t = rng.pick((["int", "str", "int", "str", "bool"] as Ty[]).filter(has));
      const a = v(sc, rng, t);
      const others = sc.vars.filter((x) => x.ty === t && x.name !== a);
      const b = others.length && rng.chance(0.4)
        ? rng.pick(others).name
        : t === "str" && rng.chance(0.7)
        ? wordLit(g)
        : lit(g, t);
      return `${a} ${rng.chance(0.8) ? "==" : "!="} ${b}`;
    }],
    [4, has("int") || has("float"), () => {
      const t: Ty = has("int") && (!has("float") || rng.chance(0.7)) ? "int" : "float";
      const a = v(sc, rng, t);
      const w = sc.pick(rng, t);
      const rhs = w && w.name !== a && rng.chance(0.4)
        ? w.name
        : t === "int"
        ? intLit(rng)
        : floatLit(rng);
      return `${a} ${rng.pick(["<", ">", "<=", ">="])} ${rhs}`;
    }],
    [2.5, has("ilist") || has("slist") || has("iset") || has("sset") || has("dict"), () => {
      const c = sc.vars.filter((x) => ["ilist", "slist", "iset", "sset", "dict"].includes(x.ty));
      const coll = rng.pick(c);
      const et: Ty = coll.ty === "ilist" || coll.ty === "iset" ? "int" : "str";
      const item = has(et) && rng.chance(0.7)
        ? v(sc, rng, et)
        : et === "str"
        ? wordLit(g)
        : intLit(rng);
      return `${item} ${rng.chance(0.7) ? "in" : "not in"} ${coll.name}`;
    }],
    [2, has("bool"), () => `${rng.chance(0.7) ? "" : "not "}${v(sc, rng, "bool")}`],
    [2.5, has("bool"), () => `${v(sc, rng, "bool")} == ${rng.chance(0.65) ? "True" : "False"}`],
    [1.5, sc.vars.some((x) => ["ilist", "slist", "dict", "str"].includes(x.ty)), () => {
      const c = sc.vars.filter((x) => ["ilist", "slist", "dict", "str"].includes(x.ty));
      const x = rng.pick(c).name;
      return rng.pick([
        `len(${x}) > 0`,
        `len(${x}) == 0`,
        `not ${x}`,
        x,
        `len(${x}) > ${1 + rng.int(5)}`,
      ]);
    }],
    [1, has("str"), () => {
      const s = v(sc, rng, "str");
      return rng.pick([
        `${s}.startswith(${wordLit(g)})`,
        `${s}.endswith(${g.q(rng.pick(B.EXTENSIONS))})`,
        `${s}.isdigit()`,
        `${s}.isalpha()`,
      ]);
    }],
    [1.2, has("int"), () => `${v(sc, rng, "int")} % ${rng.pick(["2", "2", "3", "5", "10"])} == 0`],
    [
      2,
      sc.vars.some((x) => x.nullable),
      () =>
        `${rng.pick(sc.vars.filter((x) => x.nullable)).name} is ${
          rng.chance(0.6) ? "" : "not "
        }None`,
    ],
    [
      1,
      lvl < 2 && hasCallable(g, sc, "bool"),
      () =>
        `${rng.chance(0.75) ? "" : "not "}${
          callExpr(g, sc, rng.pick(callables(g, sc, "bool")), 2)
        }`,
    ],
    [1, lvl < 1, () => `${cond(g, sc, 2)} ${rng.chance(0.6) ? "and" : "or"} ${cond(g, sc, 2)}`],
    [0.5, g.imports.has("os") && has("str"), () => `os.path.exists(${v(sc, rng, "str")})`],
    [0.3, true, () => `${intLit(rng)} ${rng.pick(["<", ">", "=="])} ${intLit(rng)}`],
  ]);
}

/** The loop variable names that suit iterating over `coll`. */
export function loopVar(g: Gen, sc: Scope, coll: Var): string {
  const ty: Ty = coll.ty === "dict" ? "str" : coll.ty;
  return g.freeOf(sc, elemNames(coll.name, coll.ty), ty === "grid" ? "ilist" : ty);
}

/** Element type of a collection type. */
export function elemTy(ty: Ty): Ty {
  switch (ty) {
    case "ilist":
    case "iset":
      return "int";
    case "slist":
    case "sset":
    case "dict":
    case "str":
      return "str";
    case "grid":
      return "ilist";
    default:
      return "int";
  }
}
