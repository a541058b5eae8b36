/**
 * The generator's state: the value types it tracks, the variables in scope (so a set only ever
 * gets `.add` and a string only `+=`), the functions and classes defined so far, the document's
 * style knobs, and the output lines.
 */
import type { Rng } from "../../util/rng.ts";
import { RESERVED } from "./banks.ts";
import { nameFor } from "./names.ts";
import type { Ty } from "./types.ts";

export type { Ty } from "./types.ts";

/** A variable (or a readable attribute such as `self.name` or `cart.total`). */
export interface Var {
  name: string;
  ty: Ty;
  /** Instance class when ty is "obj". */
  cls?: ClassSig;
  /** Not to be rebound here (loop variables, globals inside functions, attributes of objects). */
  ro?: boolean;
  /** A parameter whose default is None. */
  nullable?: boolean;
}

export interface Param {
  name: string;
  ty: Ty;
  /** Default value as Python source, if any. */
  def?: string;
  cls?: ClassSig;
}

/** A callable: module function, lambda or method. */
export interface FnSig {
  name: string;
  params: Param[];
  ret: Ty | null;
  retCls?: ClassSig;
  /** Role of a file path parameter, if the function reads or writes a file. */
  file?: "r" | "w";
}

export interface ClassSig {
  name: string;
  init: Param[];
  fields: Var[];
  methods: FnSig[];
}

/** Variables visible in one function (or the module), with block-local marks. */
export class Scope {
  vars: Var[] = [];
  /** Every name bound in this function, so a name never changes type. */
  used = new Set<string>();
  /** Lambdas and nested helpers defined in this scope. */
  fns: FnSig[] = [];

  mark(): number {
    return this.vars.length;
  }
  reset(mark: number): void {
    this.vars.length = mark;
  }
  add(v: Var): Var {
    this.vars.push(v);
    this.used.add(v.name);
    return v;
  }
  has(ty: Ty, writable = false): boolean {
    for (const v of this.vars) if (v.ty === ty && !(writable && v.ro)) return true;
    return false;
  }
  /** A variable of type ty; recent ones are favoured, as code tends to use what it just made. */
  pick(rng: Rng, ty: Ty, writable = false): Var | null {
    const c: Var[] = [];
    for (const v of this.vars) if (v.ty === ty && !(writable && v.ro)) c.push(v);
    if (c.length === 0) return null;
    return rng.chance(0.45) ? c[c.length - 1] : rng.pick(c);
  }
}

/** Per-document style knobs, drawn once per document so documents differ in texture. */
export interface Style {
  /** Probability that a string literal uses single quotes. */
  single: number;
  /** Probability of a comment line before a statement. */
  comment: number;
  /** Probability that a function gets a docstring. */
  docstring: number;
  /** Blank lines between top-level definitions. */
  blankLines: number;
}

/** One document being generated. */
export class Gen {
  lines: string[] = [];
  fns: FnSig[] = [];
  classes: ClassSig[] = [];
  imports = new Set<string>();
  /** Module-level names (functions, classes, globals): local names never shadow them. */
  globals = new Set<string>();
  /** Module constants (UPPER_CASE), visible read-only in every function. */
  consts: Var[] = [];
  style: Style;

  constructor(readonly rng: Rng) {
    this.style = {
      single: rng.pick([0.1, 0.3, 0.5, 0.7, 0.9]),
      comment: rng.pick([0, 0.04, 0.08, 0.15]),
      docstring: rng.pick([0, 0.3, 0.6, 0.9]),
      blankLines: rng.chance(0.75) ? 2 : 1,
    };
  }

  emit(depth: number, text: string): void {
    this.lines.push("    ".repeat(depth) + text);
  }

  blank(n = 1): void {
    for (let i = 0; i < n; i++) {
      if (this.lines.length && this.lines[this.lines.length - 1] !== "") this.lines.push("");
    }
  }

  /** The quote character for the next string literal. */
  quote(): string {
    return this.rng.chance(this.style.single) ? "'" : '"';
  }

  /** A string literal with the given contents (which hold no quotes of either kind). */
  q(contents: string): string {
    const c = this.quote();
    return c + contents + c;
  }

  /** A name for a new variable of type ty, unused in `sc` and at module level. */
  fresh(sc: Scope, ty: Ty): string {
    for (let tries = 0; tries < 30; tries++) {
      const n = nameFor(this.rng, ty);
      if (this.free(sc, n)) return n;
    }
    const base = nameFor(this.rng, ty);
    for (let k = 2;; k++) if (this.free(sc, base + k)) return base + k;
  }

  /** True when `name` can be bound as a new variable in `sc`. */
  free(sc: Scope, name: string): boolean {
    return !RESERVED.has(name) && !sc.used.has(name) && !this.globals.has(name);
  }

  /** The first of `names` that is free in `sc`, else a fresh name of type ty. */
  freeOf(sc: Scope, names: readonly string[], ty: Ty): string {
    for (const n of names) if (this.free(sc, n)) return n;
    return this.fresh(sc, ty);
  }
}
