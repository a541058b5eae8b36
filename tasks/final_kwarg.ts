/**
 * final_kwarg: in a `def` whose previous parameter has a default, the last parameter needs one
 * too (`=None`); with no defaults before it, the signature can close (`):\n`).
 */
import type { Task } from "./types.ts";
import * as B from "./banks.ts";
import { fillers, fresh, newScope } from "./context.ts";

const OTHER_DEFAULTS = ["0", "1", "True", "False", '""', "10"];

export const finalKwarg: Task = {
  name: "final_kwarg",
  description: "=None vs ):\\n after the last parameter: needed if the one before has a default",
  generate(rng) {
    const s = newScope(rng);
    const inClass = rng.chance(0.35);
    let text = fillers(s, "", 1 + rng.int(2), { blocks: false });
    let ind = "";
    if (inClass) {
      text += `\nclass ${fresh(s, B.className)}:\n`;
      if (rng.chance(0.5)) text += `    ${fresh(s)} = ${B.intLit(rng)}\n\n`;
      ind = "    ";
    } else if (rng.chance(0.5)) text += "\n";
    const n = 2 + rng.int(3);
    const params = Array.from({ length: n }, () => fresh(s));
    const head = `${text}${ind}def ${fresh(s, B.funcName)}(${inClass ? "self, " : ""}`;
    const dflt = rng.chance(0.75) ? "None" : rng.pick(OTHER_DEFAULTS);
    const withDefault = [...params.slice(0, n - 2), `${params[n - 2]}=${dflt}`, params[n - 1]];
    const last = params[n - 1], body = `${ind}    `;
    return {
      prompts: [head + withDefault.join(", "), head + params.join(", ")],
      answers: ["=None", "):\n"],
      endings: [
        `):\n${body}if ${last} is None:\n${body}    ${last} = ${
          params[0]
        }\n${body}return ${last}\n`,
        `${body}return ${params[0]} + ${last}\n`,
      ],
    };
  },
};
