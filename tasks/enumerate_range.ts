/**
 * enumerate_range: `for i, x in` (two loop variables) continues with ` enumerate`, `for i in`
 * (an index alone) with ` range`.
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, prelude } from "./context.ts";

export const enumerateRange: Task = {
  name: "enumerate_range",
  description: "for i, x in → enumerate vs for i in → range",
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s, { lines: [0, 2] });
    const xs = fresh(s, B.pluralName);
    const elems = Array.from({ length: 1 + rng.int(5) }, () => B.intLit(rng)).join(", ");
    const ind = f.ind, body = ind + "    ";
    const text = f.text + `${ind}${xs} = [${elems}]\n`;
    const i = fresh(s, (r) => r.pick(B.INDEX_NAMES)), x = fresh(s, (r) => r.pick(B.NOUNS));
    return {
      prompts: [`${text}${ind}for ${i}, ${x} in`, `${text}${ind}for ${i} in`],
      answers: [" enumerate", " range"],
      endings: [
        `(${xs}):\n${body}print(${i}, ${x})\n`,
        `(len(${xs})):\n${body}print(${i}, ${xs}[${i}])\n`,
      ],
    };
  },
};
