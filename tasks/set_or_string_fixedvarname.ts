/**
 * set_or_string_fixedvarname: as set_or_string, but the variable is always named `result`, so the
 * type must be fetched by that name (docs/method.md §4, "Variable type").
 */
import type { Task } from "./types.ts";
import { setOrStringPair } from "./set_or_string_common.ts";

export const setOrStringFixedVarname: Task = {
  name: "set_or_string_fixedvarname",
  description: 'result = set() vs result = "" earlier: .add vs += at the use of result',
  generate: (rng) => setOrStringPair(rng, "result"),
};
