/**
 * bracket_brace: after the first string of a literal, a dict (`{"key`) continues with `":` and a
 * list (`["key`) with `",`; the pair differs only in the opening bracket.
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, nextLine, prelude } from "./context.ts";

export const bracketBrace: Task = {
  name: "bracket_brace",
  description: '{"k → ": (dict) vs ["k → ", (list)',
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s, { brackets: false });
    const [k0, k1, k2] = [0, 1, 2].map(() => rng.pick(B.WORDS));
    const form = rng.pick(["assign", "assign", "call", f.where === "top" ? "print" : "return"]);
    let head: string, close: string;
    if (form === "assign") [head, close] = [`${fresh(s)} = `, ""];
    else if (form === "call") [head, close] = [`${B.funcName(rng)}(`, ")"];
    else if (form === "print") [head, close] = ["print(", ")"];
    else [head, close] = ["return ", ""];
    const v = () => rng.chance(0.7) ? B.intLit(rng) : `"${rng.pick(B.WORDS)}"`;
    const more = rng.chance(0.5) ? `, "${k2}"` : "";
    // Nothing follows a return in its block.
    const tail = form === "return" ? "" : nextLine(s, f.ind);
    const pre = `${f.text}${f.ind}${head}`;
    return {
      prompts: [`${pre}{"${k0}`, `${pre}["${k0}`],
      answers: ['":', '",'],
      endings: [
        ` ${v()}, "${k1}": ${v()}${more ? `${more}: ${v()}` : ""}}${close}\n${tail}`,
        ` "${k1}"${more}]${close}\n${tail}`,
      ],
    };
  },
};
