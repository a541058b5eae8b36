/**
 * bracket_counting: a list literal opened with `[[` closes with `]]\n`, one opened with `[` with
 * `]\n`; the pair differs only in the opening (OA's example uses these two tokens).
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, nextLine, prelude, someVar } from "./context.ts";

export const bracketCounting: Task = {
  name: "bracket_counting",
  description: "x = [[1, 2 → ]]\\n vs x = [1, 2 → ]\\n (list nesting depth)",
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s, { brackets: false });
    const n = 1 + rng.int(rng.chance(0.3) ? 16 : 6);
    const names = rng.chance(0.25) && s.vars.length > 0;
    const elems = Array.from({ length: n }, () => names ? someVar(s) : B.intLit(rng)).join(", ");
    const head = f.where !== "top" && rng.chance(0.3) ? "return " : `${fresh(s)} = `;
    const tail = head === "return " ? "" : nextLine(s, f.ind, { brackets: false });
    const pre = `${f.text}${f.ind}${head}`;
    return {
      prompts: [`${pre}[[${elems}`, `${pre}[${elems}`],
      answers: ["]]\n", "]\n"],
      endings: [tail, tail],
    };
  },
};
