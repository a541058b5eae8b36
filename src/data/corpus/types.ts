/** The value types the corpus generator tracks (src/data/corpus/scope.ts). */

/**
 * Value types: int, float, str, bool, list of int, list of str, list of int lists, dict str→int,
 * set of int, set of str, instance of a generated class.
 */
export type Ty =
  | "int"
  | "float"
  | "str"
  | "bool"
  | "ilist"
  | "slist"
  | "grid"
  | "dict"
  | "iset"
  | "sset"
  | "obj";
