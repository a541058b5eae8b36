/**
 * Identifier generation: variable names by type (composed from the banks), plural/singular
 * forms, function, method, class and lambda names. Every name avoids RESERVED.
 */
import type { Rng } from "../../util/rng.ts";
import * as B from "./banks.ts";
import type { Ty } from "./types.ts";

/** English plural of a bank noun. */
export function plural(noun: string): string {
  if (noun === "leaf") return "leaves";
  if (/[^aeiou]y$/.test(noun)) return noun.slice(0, -1) + "ies";
  if (/(s|x|z|ch|sh)$/.test(noun)) return noun + "es";
  return noun + "s";
}

/** Singular of a plural name's last word, or "" when it does not look plural. */
export function singular(name: string): string {
  const w = name.slice(Math.max(name.lastIndexOf("_"), name.lastIndexOf(".")) + 1);
  if (w === "indices") return "index";
  if (w === "leaves") return "leaf";
  if (w.endsWith("ies") && w.length > 4) return w.slice(0, -3) + "y";
  if (/(ss|x|z|ch|sh)es$/.test(w)) return w.slice(0, -2);
  if (w.endsWith("s") && !w.endsWith("ss") && w.length > 2) return w.slice(0, -1);
  return "";
}

function noun(rng: Rng): string {
  return rng.pick(B.NOUNS);
}

/** A candidate name for a variable of type `ty` (may collide; `fresh` retries). */
export function nameFor(rng: Rng, ty: Ty): string {
  const r = rng.float();
  switch (ty) {
    case "int":
      if (r < 0.5) return rng.pick(B.INT_NAMES);
      if (r < 0.65) return `${noun(rng)}_count`;
      if (r < 0.75) return `num_${plural(noun(rng))}`;
      if (r < 0.9) {
        return `${rng.pick(["max", "min", "total", "best", "last", "first"])}_${noun(rng)}`;
      }
      return `${noun(rng)}_${rng.pick(["id", "index", "size", "total", "score", "number"])}`;
    case "float":
      if (r < 0.6) return rng.pick(B.FLOAT_NAMES);
      return `${rng.pick(["avg", "mean"])}_${noun(rng)}`;
    case "str":
      if (r < 0.45) return rng.pick(B.STR_NAMES);
      if (r < 0.6) return rng.pick(B.NEUTRAL_NAMES);
      if (r < 0.85) {
        return `${noun(rng)}_${rng.pick(["name", "label", "text", "key", "str", "title"])}`;
      }
      return `${rng.pick(B.MODIFIERS)}_${rng.pick(["name", "word", "line", "label", "text"])}`;
    case "bool":
      if (r < 0.6) return rng.pick(B.BOOL_NAMES);
      if (r < 0.8) return `is_${rng.pick(B.ADJECTIVES)}`;
      if (r < 0.9) return `has_${plural(noun(rng))}`;
      return `${noun(rng)}_${rng.pick(["found", "ok", "done", "seen", "ready"])}`;
    case "ilist":
      if (r < 0.45) return rng.pick(B.INT_PLURALS);
      if (r < 0.75) return `${noun(rng)}_${rng.pick(B.INT_PLURALS)}`;
      return `${rng.pick(B.MODIFIERS)}_${rng.pick(B.INT_PLURALS)}`;
    case "slist":
      if (r < 0.35) return rng.pick(B.STR_PLURALS);
      if (r < 0.7) return plural(noun(rng));
      return `${rng.pick(B.MODIFIERS)}_${plural(noun(rng))}`;
    case "grid":
      if (r < 0.6) return rng.pick(B.GRID_NAMES);
      return `${noun(rng)}_${rng.pick(["grid", "rows", "matrix", "pairs", "groups", "table"])}`;
    case "dict":
      if (r < 0.45) return rng.pick(B.DICT_NAMES);
      if (r < 0.7) {
        return `${noun(rng)}_${rng.pick(["counts", "map", "totals", "lookup", "index"])}`;
      }
      return `${plural(noun(rng))}_by_${noun(rng)}`;
    case "iset":
    case "sset":
      if (r < 0.4) return rng.pick(B.SET_NAMES);
      if (r < 0.7) return rng.pick(B.NEUTRAL_NAMES);
      return `${rng.pick(["seen", "unique", "visited", "known", "used"])}_${plural(noun(rng))}`;
    case "obj":
      return `${rng.pick(B.MODIFIERS)}_${noun(rng)}`;
  }
}

/** Element variable names to try for a loop over `listName`. */
export function elemNames(listName: string, ty: Ty): string[] {
  const s = singular(listName);
  const generic = ty === "slist" || ty === "sset"
    ? ["word", "item", "name", "s", "w", "text", "entry", "token"]
    : ty === "grid"
    ? ["row", "group", "pair", "chunk", "line", "block"]
    : ty === "dict"
    ? ["key", "k", "name", "word"]
    : ["x", "n", "value", "num", "item", "v", "score", "elem"];
  return s ? [s, ...generic] : generic;
}

/** Function name for a function returning `ret` (null: a procedure). */
export function fnName(rng: Rng, ret: Ty | null): string {
  const n = noun(rng), ns = plural(n);
  switch (ret) {
    case null:
      return rng.chance(0.7)
        ? `${rng.pick(B.PROC_VERBS)}_${rng.chance(0.5) ? ns : n}`
        : `run_${n}_${rng.pick(["step", "check", "loop"])}`;
    case "int":
      return rng.pick([
        `count_${ns}`,
        `compute_${n}`,
        `total_${n}`,
        `get_${n}_count`,
        `sum_${ns}`,
        `max_${n}`,
        `calc_${n}`,
        `score_${n}`,
        `find_${n}_index`,
      ]);
    case "float":
      return rng.pick([
        `average_${n}`,
        `mean_${n}`,
        `compute_${n}_ratio`,
        `get_${n}_rate`,
        `scale_${n}`,
      ]);
    case "str":
      return rng.pick([
        `format_${n}`,
        `get_${n}_name`,
        `make_${n}_label`,
        `describe_${n}`,
        `build_${n}_message`,
        `join_${ns}`,
        `clean_${n}`,
        `normalize_${n}`,
      ]);
    case "bool":
      return rng.pick([
        `is_${rng.pick(B.ADJECTIVES)}`,
        `has_${ns}`,
        `is_valid_${n}`,
        `check_${n}`,
        `contains_${n}`,
        `is_${n}_${rng.pick(B.ADJECTIVES)}`,
      ]);
    case "ilist":
      return rng.pick([
        `get_${ns}`,
        `filter_${ns}`,
        `sort_${ns}`,
        `double_${ns}`,
        `scale_${ns}`,
        `collect_${n}_scores`,
      ]);
    case "slist":
      return rng.pick([
        `split_${n}`,
        `get_${n}_names`,
        `list_${ns}`,
        `extract_${ns}`,
        `tokenize_${n}`,
      ]);
    case "dict":
      return rng.pick([
        `build_${n}_map`,
        `group_${ns}`,
        `index_${ns}`,
        `make_${n}_table`,
        `tally_${ns}`,
        `count_${n}_words`,
      ]);
    case "iset":
    case "sset":
      return rng.pick([`unique_${ns}`, `collect_${n}_set`, `find_unique_${ns}`, `get_seen_${ns}`]);
    case "grid":
      return rng.pick([`make_${n}_grid`, `build_${n}_matrix`, `chunk_${ns}`, `pair_${ns}`]);
    case "obj":
      return `make_${n}`;
  }
}

/** CamelCase class name. */
export function className(rng: Rng): string {
  const cap = (s: string) => s.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  const r = rng.float();
  if (r < 0.55) return cap(noun(rng));
  if (r < 0.8) return cap(rng.pick(B.MODIFIERS)) + cap(noun(rng));
  return cap(noun(rng)) +
    rng.pick([
      "Manager",
      "List",
      "Tracker",
      "Store",
      "Counter",
      "Queue",
      "Book",
      "Log",
      "Item",
      "Record",
    ]);
}

/** snake_case of a CamelCase name. */
export function snake(camel: string): string {
  return camel.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}
