/**
 * Shared generator of set_or_string and set_or_string_fixedvarname: a variable is initialised as
 * `set()` or as a string, other variables and lines follow, and at its use site the next token is
 * `.add` for a set and ` +=` for a string.
 */
import type { Rng } from "../src/util/rng.ts";
import type { TaskPair } from "./types.ts";
import * as B from "./banks.ts";
import { fillerLine, fresh, newScope, nextLine, prelude } from "./context.ts";

const DISTRACTOR_INITS = ["set()", '""', "[]", "0", "{}", "''"];

/** One pair; `fixedName` pins the variable's name (otherwise drawn from the banks). */
export function setOrStringPair(rng: Rng, fixedName?: string): TaskPair {
  const s = newScope(rng);
  if (fixedName) s.used.add(fixedName);
  const f = prelude(s, { lines: [0, 2] });
  const v = fixedName ?? fresh(s);
  const str = rng.pick(['""', '""', "''", `"${rng.pick(B.WORDS)}"`]);
  // Lines between the initialisation and the use: distractor variables of other types, fillers.
  const between: string[] = [];
  for (let k = rng.int(3); k > 0; k--) {
    between.push(
      rng.chance(0.6)
        ? `${f.ind}${fresh(s)} = ${rng.pick(DISTRACTOR_INITS)}\n`
        : fillerLine(s, f.ind, { blocks: false }),
    );
  }
  const pre = rng.chance(0.3) ? `${f.ind}${fresh(s)} = ${rng.pick(DISTRACTOR_INITS)}\n` : "";
  const rest = between.join("");
  let use: string, elem: string;
  const form = rng.int(3);
  if (form === 0) {
    elem = fresh(s, (r) => r.pick(B.NOUNS));
    use = `${f.ind}for ${elem} in ${fresh(s, B.pluralName)}:\n${f.ind}    ${v}`;
  } else if (form === 1) {
    elem = fresh(s);
    use = `${f.ind}if ${elem}:\n${f.ind}    ${v}`;
  } else {
    elem = rng.chance(0.5) ? fresh(s) : `"${rng.pick(B.WORDS)}"`;
    use = `${f.ind}${v}`;
  }
  const after = form === 2 ? f.ind : f.ind + "    ";
  const tail = nextLine(s, after);
  const head = f.text + pre;
  return {
    prompts: [
      `${head}${f.ind}${v} = set()\n${rest}${use}`,
      `${head}${f.ind}${v} = ${str}\n${rest}${use}`,
    ],
    answers: [".add", " +="],
    endings: [`(${elem})\n${tail}`, ` ${elem}\n${tail}`],
  };
}
