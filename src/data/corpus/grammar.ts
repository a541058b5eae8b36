/**
 * The corpus grammar's production weights, in one place (docs/corpus.md lists the same tables).
 * Each table maps a production name to its relative weight; `choose` draws one by weight among
 * the productions whose guard allows them at that point.
 */
import type { Rng } from "../../util/rng.ts";

/** A weight table: production name → relative weight. */
export type Weights = Readonly<Record<string, number>>;

/** What a document is made of. */
export const DOC_KINDS: Weights = {
  module: 6, // imports, constants, functions and classes, then a main block
  script: 2, // top-level statements only
  classes: 2, // one or two classes, then code that uses them
};

/** Module-level items (after imports), drawn until the document's line budget is spent. */
export const TOP_ITEMS: Weights = {
  function: 10, // def f(args, k=None): body, return
  predicate: 4, // def is_x(...) -> bool, ending in return True / return False
  reader: 3, // def load_x(path): with open(path, "r") as f: ...
  writer: 3, // def save_x(path, xs): with open(path, "w") as f: ...
  class: 5, // class C: __init__ with self.x = x lines, then methods
  constant: 2, // NAME = literal
  lambda: 3, // name = lambda x: ...
  script: 3, // top-level statements at depth 0
};

/** How the document ends. */
export const MAIN_KINDS: Weights = {
  main_function: 4, // def main(): ... + if __name__ == "__main__": main()
  main_guard: 3, // if __name__ == "__main__": statements
  top_level: 3, // bare statements at depth 0
};

/** Statements inside a block. Compound ones recurse up to a depth limit. */
export const STMTS: Weights = {
  assign: 10, // x = <expr>
  aug_assign: 4, // x += <expr>
  print: 9, // print("..."), print(x), print("label:", x)
  fstring_print: 6, // print(f"... {x} ...")
  if: 7, // if c:
  if_else: 5, // if c: ... else: ...
  if_elif: 5, // if c: ... elif c: ... [else: ...]
  if_equals: 4, // if x == y: ...
  var_if: 4, // flag = True ... if flag == True:
  for_each: 6, // for x in xs:
  for_enumerate: 5, // for i, x in enumerate(xs):
  for_range: 5, // for i in range(n):
  for_items: 2, // for k, v in d.items():
  for_nested: 3, // for row in grid: for x in row:
  while_cond: 3, // while i < n: ... i += 1
  while_true: 4, // while True: ... break
  comprehension: 4, // [f(x) for x in xs if c]
  ternary: 5, // y = a if c else b
  set_build: 5, // s = set() ... s.add(x)
  string_build: 5, // s = "" ... s += x
  list_build: 3, // xs = [] ... xs.append(x)
  dict_count: 2, // d = {} ... d[k] = d.get(k, 0) + 1
  dict_literal: 3, // d = {"a": 1, "b": 2}
  list_literal: 3, // xs = ["a", "b"]
  nested_list: 4, // g = [[1, 2], [3]]
  swap: 3, // a, b = b, a
  with_read: 2, // with open("x.txt", "r") as f:
  with_write: 2, // with open("x.txt", "w") as f:
  open_close: 2, // f = open("x.txt", "r") ... f.close()
  lambda: 3, // f = lambda x: ...
  call: 5, // helper(a, b, k=v)
  list_method: 3, // xs.append(x), xs.sort(), xs.pop()
  string_method: 3, // s = s.strip().lower()
  try_except: 1, // try: ... except ValueError: ...
  comment: 3, // # ...
};

/** Function parameter defaults (final_kwarg wants None to dominate). */
export const DEFAULTS: Weights = {
  none: 6, // =None
  typed: 4, // =0, ="", =True (lists, dicts and objects always default to None)
};

/** How a string literal is written. */
export const STRING_FORMS: Weights = {
  words: 6, // "apple banana"
  label: 4, // "Total:"
  sentence: 2, // "Total is ready"
  key: 3, // "name"
  file: 1, // "data.txt"
  apostrophe: 1, // "don't stop" or 'the "x" one': the other quote inside
};

/** Draws a production name by weight among those `allowed` (all when omitted). */
export function choose(rng: Rng, table: Weights, allowed?: (name: string) => boolean): string {
  let entries = compiled.get(table);
  if (!entries) compiled.set(table, entries = Object.entries(table));
  let total = 0;
  for (const [k, w] of entries) if (!allowed || allowed(k)) total += w;
  if (total <= 0) throw new Error("choose: no production allowed");
  let r = rng.float() * total;
  let last = "";
  for (const [k, w] of entries) {
    if (allowed && !allowed(k)) continue;
    last = k;
    r -= w;
    if (r < 0) return k;
  }
  return last;
}

const compiled = new WeakMap<Weights, [string, number][]>();

/** Every weight table, by name (for docs/corpus.md and its test). */
export const TABLES: Readonly<Record<string, Weights>> = {
  DOC_KINDS,
  TOP_ITEMS,
  MAIN_KINDS,
  STMTS,
  DEFAULTS,
  STRING_FORMS,
};
