/**
 * indent_for: after a `for ...:` line the body is indented one level deeper than the `for`. The
 * pair differs only in the `for` line's indentation (after a block, so both levels are legal);
 * the answer is the indentation pre-token, which is the body's spaces minus the one that the
 * regex attaches to the next word.
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fresh, newScope, nextLine, prelude, someNum } from "./context.ts";

export const indentFor: Task = {
  name: "indent_for",
  description: "the body indentation after a for line at depth d vs d+1",
  generate(rng) {
    const s = newScope(rng);
    const f = prelude(s, { where: ["top", "def", "def", "method"] });
    const ind = f.ind, inner = ind + "    ";
    const opener = rng.chance(0.5)
      ? `${ind}if ${someNum(s)} > ${B.intLit(rng)}:\n`
      : `${ind}for ${fresh(s, (r) => r.pick(B.NOUNS))} in ${fresh(s, B.pluralName)}:\n`;
    const text = f.text + opener + nextLine(s, inner);
    const x = fresh(s, (r) => r.pick(B.NOUNS)), xs = fresh(s, B.pluralName);
    const head = `for ${x} in ${xs}:\n`;
    const body = rng.pick([
      `print(${x})`,
      `${B.funcName(rng)}(${x})`,
      `${someNum(s)} += ${x}`,
      `if ${x} > ${B.intLit(rng)}:`,
    ]);
    const after = (depth: string) =>
      ` ${body}\n` + (body.endsWith(":") ? `${depth}    ${B.funcName(rng)}(${x})\n` : "");
    const sp = (n: number) => " ".repeat(n);
    return {
      prompts: [`${text}${ind}${head}`, `${text}${inner}${head}`],
      answers: [sp(ind.length + 3), sp(ind.length + 7)],
      endings: [after(inner), after(inner + "    ")],
    };
  },
};
