/**
 * class_init: in `__init__`, a line `self.<name> =` is completed by copying `<name>` from the
 * parameters; the pair differs only in which not-yet-assigned parameter the line names.
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fillers, fresh, newScope } from "./context.ts";

export const classInit: Task = {
  name: "class_init",
  description: "self.<p> = in __init__: copy the parameter name <p>",
  generate(rng) {
    const s = newScope(rng);
    let text = fillers(s, "", 1 + rng.int(2), { blocks: false }) + (rng.chance(0.5) ? "\n" : "");
    const n = 2 + rng.int(3);
    const params = Array.from({ length: n }, () => fresh(s, (r) => r.pick(B.COPY_NAMES)));
    // Two distinct unassigned parameters; the others are assigned first, in order, with a few
    // non-copying attribute lines (`self.total = 0`) mixed in.
    const [t0, t1] = rng.shuffle(params.slice()).slice(0, 2);
    const ind = "        ";
    const lines: string[] = [];
    for (const p of params) {
      if (p !== t0 && p !== t1 && rng.chance(0.8)) lines.push(`${ind}self.${p} = ${p}\n`);
      if (rng.chance(0.2)) {
        lines.push(`${ind}self.${fresh(s)} = ${rng.pick(["0", "[]", "None", "{}"])}\n`);
      }
    }
    text += `class ${fresh(s, B.className)}:\n    def __init__(self, ${params.join(", ")}):\n`;
    text += lines.join("") + `${ind}self.`;
    const other = (p: string) => `\n${ind}self.${p} = ${p}\n`;
    return {
      prompts: [`${text}${t0} =`, `${text}${t1} =`],
      answers: [` ${t0}`, ` ${t1}`],
      endings: [other(t1), other(t0)],
    };
  },
};
