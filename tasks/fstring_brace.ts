/**
 * fstring_brace: inside `print(f"...` the value is interpolated, so the next token is ` {`;
 * inside `print("...` it is passed as a second argument, so the string closes with `",`.
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, nextLine, prelude } from "./context.ts";

export const fstringBrace: Task = {
  name: "fstring_brace",
  description: 'print(f"text → { vs print("text → ", (interpolate or pass the value)',
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s, { strings: false });
    const v = fresh(s);
    let text = f.text + `${f.ind}${v} = ${rng.pick([B.intLit(rng), `${B.funcName(rng)}()`])}\n`;
    if (rng.chance(0.4)) text += nextLine(s, f.ind, { strings: false });
    const msg = B.words(rng);
    const tail = nextLine(s, f.ind, { strings: false });
    return {
      prompts: [`${text}${f.ind}print(f"${msg}`, `${text}${f.ind}print("${msg}`],
      answers: [" {", '",'],
      endings: [`${v}}")\n${tail}`, ` ${v})\n${tail}`],
    };
  },
};
