/**
 * if_ternary: a statement `if c` opens a block (`:\n`); the same `if c` inside an expression
 * (`y = a if c`) is a conditional expression and continues with ` else`.
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, nextLine, prelude, type Scope, someNum, someVar } from "./context.ts";

/** A condition ending in a letter or digit (so `:\n` and ` else` stay separate pre-tokens). */
function condition(s: Scope): string {
  const v = someVar(s);
  switch (s.rng.int(6)) {
    case 0:
      return `${someNum(s)} > ${B.intLit(s.rng)}`;
    case 1:
      return `${someNum(s)} == ${B.intLit(s.rng)}`;
    case 2:
      return `${v} is None`;
    case 3:
      return `not ${v}`;
    case 4:
      return `${v} in ${fresh(s, B.pluralName)}`;
    default:
      return v;
  }
}

export const ifTernary: Task = {
  name: "if_ternary",
  description: "if c → :\\n (statement) vs y = a if c → else (conditional expression)",
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s);
    const cond = condition(s);
    const value = () => rng.chance(0.6) ? B.intLit(rng) : someVar(s);
    const lhs = f.where !== "top" && rng.chance(0.3) ? "return" : `${fresh(s)} =`;
    const ind = f.ind;
    return {
      prompts: [`${f.text}${ind}if ${cond}`, `${f.text}${ind}${lhs} ${value()} if ${cond}`],
      answers: [":\n", " else"],
      endings: [
        `${ind}    ${fresh(s)} = ${value()}\n${nextLine(s, ind)}`,
        ` ${value()}\n${nextLine(s, ind)}`,
      ],
    };
  },
};
