/**
 * A study's config file (docs/study.md): the grid of runs, the eval, prune and stability settings
 * and the Slurm options, validated with zod (an unknown key is an error), then expanded into one
 * RunPlan per grid point. Every grid point is checked with train's own flag parser and the
 * trainer's own checks (validateRunConfig, the top-k floor of checkSparsityFeasible), and the prune
 * settings with prune's parser, so a study that starts has no run that thinwire would refuse.
 */
import { z } from "zod";
import { UserError } from "../errors.ts";
import { paramLayout } from "../model/params.ts";
import { parsePruneFlags } from "../prune/cli_prune.ts";
import { parseTrainFlags } from "../train/cli_train.ts";
import { PRESETS } from "../train/presets.ts";
import { checkTrainingFits, type RunConfig, validateRunConfig } from "../run/config.ts";
import { checkSparsityFeasible } from "../train/sparsify.ts";
import { getTask } from "../../tasks/index.ts";

/** A command's flags as data: {"dense-grad-every": 16, "freeze-norm": true} → --dense-grad-every 16 --freeze-norm. */
const flagMap = z.record(
  z.string().regex(/^[a-z][a-z0-9-]*$/, "a flag name without dashes, like dense-grad-every"),
  z.union([z.string(), z.number().finite(), z.literal(true)]),
);
const posInt = z.number().int().min(1);
const seedInt = z.number().int().min(0);
const nameRe = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const groupSchema = z.strictObject({
  /** Runs are compared by family: each sparse family against each dense one. */
  family: z.string().regex(nameRe, "letters, digits, '.', '_' or '-'"),
  dense: z.boolean().default(false),
  /** Width expansion factors (d_model = the preset's × ef). */
  ef: z.array(z.number().positive()).nonempty().default([1]),
  /** Nonzero budgets: the block matrices' L0 fraction at ef 1 (sparse only). */
  pfrac: z.array(z.number().positive()).nonempty().optional(),
  /** Training lengths (default: the preset's). */
  steps: z.array(posInt).nonempty().optional(),
  /** Training seeds (default: the study's). */
  seeds: z.array(seedInt).nonempty().optional(),
  /** Any other train flag, the same for every run of the group. */
  train: flagMap.default({}),
});

export const studySchema = z.strictObject({
  /** Names the default root, studies/<name> (default: the config file's name). */
  name: z.string().regex(nameRe, "letters, digits, '.', '_' or '-'").optional(),
  description: z.string().optional(),
  preset: z.string().default("small"),
  /** Compute threads of every job (Slurm: --cpus-per-task). */
  threads: z.number().int().min(1).max(64).default(2),
  seeds: z.array(seedInt).nonempty().default([1]),
  grid: z.array(groupSchema).nonempty(),
  eval: z.strictObject({ pairs: posInt.default(200) }).prefault({}),
  /** prune flags for every run's `prune --all` (and the stability runs). */
  prune: flagMap.default({}),
  stability: z.strictObject({
    /** Pruning seeds per circuit, counting the study's own seed 0 (1 = no stability runs). */
    seeds: posInt.default(1),
    /** Tasks whose circuits are pruned again ("all": every circuit found). */
    tasks: z.union([z.literal("all"), z.array(z.string()).nonempty()]).default([
      "single_double_quote",
    ]),
    /** Runs (by name) whose circuits are pruned again (default: every run). */
    runs: z.array(z.string()).nonempty().optional(),
  }).prefault({}),
  /** sbatch options for --engine slurm. */
  slurm: z.strictObject({
    partition: z.string().optional(),
    account: z.string().optional(),
    /** Wall-time limit per array task, per stage or for all (sbatch --time). */
    time: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
    /** Memory per array task (sbatch --mem). */
    mem: z.string().optional(),
    /** At most this many tasks of a stage's array at once (--array=0-N%max). */
    max_parallel: posInt.optional(),
    /** Further sbatch options, verbatim ("--qos=short"). */
    options: z.array(z.string().startsWith("--")).default([]),
  }).prefault({}),
});

export type StudyConfig = z.infer<typeof studySchema>;

/** One run of the grid. */
export interface RunPlan {
  /** Folder name under <root>/runs/, unique in the study: family-e<ef>[-p<pfrac>]-n<steps>-s<seed>. */
  name: string;
  family: string;
  dense: boolean;
  ef: number;
  /** Residual width (d_model) and the block matrices' pfrac (dense: ef², every weight kept). */
  dModel: number;
  pfrac: number;
  steps: number;
  seed: number;
  /** The run config train will build from trainArgs (validated). */
  rc: RunConfig;
  /** train's flags for this run, without --out and --threads (the plan adds them). */
  trainArgs: string[];
}

/** A validated study: the config and its runs. */
export interface Study {
  name: string;
  config: StudyConfig;
  runs: RunPlan[];
  /** prune's flags from the config (validated), shared by every prune job. */
  pruneArgs: string[];
}

/** Flags the study sets itself, per command: a config giving one of them is refused. */
const STUDY_TRAIN_FLAGS = [
  "preset",
  "dense",
  "ef",
  "pfrac",
  "steps",
  "seed",
  "out",
  "resume",
  "threads",
  "quiet",
  "help",
];
const STUDY_PRUNE_FLAGS = ["model", "task", "all", "seed", "out-dir", "threads", "help"];

/** {"k": 1, "f": true} → ["--k", "1", "--f"]. */
export function flagArgs(flags: Record<string, string | number | true>): string[] {
  return Object.entries(flags).flatMap(([k, v]) => v === true ? [`--${k}`] : [`--${k}`, `${v}`]);
}

/** The first zod issue as one line: "grid.0.ef: Expected array" / "unknown key 'x'". */
function issueLine(e: z.ZodError): string {
  const i = e.issues[0];
  const path = i.path.map(String).join(".");
  const what = i.code === "unrecognized_keys"
    ? `unknown key${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `'${k}'`).join(", ")}`
    : i.message;
  return path ? `${path}: ${what}` : what;
}

/** Reads and validates a study config file; `where` prefixes every error. */
export async function loadStudy(path: string): Promise<Study> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new UserError(`${path}: cannot be read (${(e as Error).message.split("\n")[0]})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message.split("\n")[0]})`);
  }
  const base = path.replace(/\\/g, "/").split("/").pop()!.replace(/\.json$/, "");
  return parseStudy(json, path, base);
}

/**
 * Validates a parsed config and expands its grid; `where` names the file in errors, `fallbackName`
 * is the study's name when the config gives none.
 */
export function parseStudy(json: unknown, where: string, fallbackName: string): Study {
  const parsed = studySchema.safeParse(json);
  if (!parsed.success) throw new UserError(`${where}: ${issueLine(parsed.error)}`);
  const config = parsed.data;
  const bad = (why: string): never => {
    throw new UserError(`${where}: ${why}`);
  };
  const name = config.name ?? fallbackName;
  if (!nameRe.test(name)) bad(`study name '${name}' must be letters, digits, '.', '_' or '-'`);
  if (!(config.preset in PRESETS)) {
    bad(`unknown preset '${config.preset}' (presets: ${Object.keys(PRESETS).join(", ")})`);
  }

  const runs: RunPlan[] = [];
  const kindOf = new Map<string, boolean>();
  config.grid.forEach((g, gi) => {
    const at = `grid.${gi}`;
    for (const k of Object.keys(g.train)) {
      if (STUDY_TRAIN_FLAGS.includes(k)) {
        bad(`${at}.train: '${k}' is set by the study (use the group's own keys or the top level)`);
      }
    }
    if (g.dense && g.pfrac) {
      bad(`${at}: pfrac does not apply to dense runs (they keep every weight)`);
    }
    const kind = kindOf.get(g.family);
    if (kind !== undefined && kind !== g.dense) {
      bad(`${at}: family '${g.family}' mixes dense and sparse runs`);
    }
    kindOf.set(g.family, g.dense);
    for (const ef of g.ef) {
      for (const pfrac of g.pfrac ?? [undefined]) {
        for (const steps of g.steps ?? [undefined]) {
          for (const seed of g.seeds ?? config.seeds) {
            const args = [
              "--preset",
              config.preset,
              ...(g.dense ? ["--dense"] : []),
              "--ef",
              `${ef}`,
              ...(pfrac === undefined ? [] : ["--pfrac", `${pfrac}`]),
              ...(steps === undefined ? [] : ["--steps", `${steps}`]),
              "--seed",
              `${seed}`,
              ...flagArgs(g.train),
            ];
            const point = `${g.family} ef ${ef}` + (pfrac === undefined ? "" : ` pfrac ${pfrac}`) +
              (steps === undefined ? "" : ` steps ${steps}`) + ` seed ${seed}`;
            runs.push(planRun(g.family, g.dense, args, `${at} (${point})`, bad));
          }
        }
      }
    }
  });
  const seen = new Set<string>();
  for (const r of runs) {
    if (seen.has(r.name)) {
      bad(`two grid points make the run ${r.name}: give them different families or values`);
    }
    seen.add(r.name);
  }

  const pruneArgs = flagArgs(config.prune);
  for (const k of Object.keys(config.prune)) {
    if (STUDY_PRUNE_FLAGS.includes(k)) bad(`prune: '${k}' is set by the study`);
  }
  try {
    parsePruneFlags(["--model", "runs/x", "--all", ...pruneArgs]);
  } catch (e) {
    if (e instanceof UserError) bad(`prune: ${e.message.replace(/^prune: /, "")}`);
    throw e;
  }
  const st = config.stability;
  if (st.tasks !== "all") {
    for (const t of st.tasks) {
      try {
        getTask(t);
      } catch (e) {
        if (e instanceof UserError) bad(`stability.tasks: ${e.message}`);
        throw e;
      }
    }
  }
  for (const r of st.runs ?? []) {
    if (!seen.has(r)) {
      bad(
        `stability.runs: no run '${r}' in the grid (runs: ${runs.map((x) => x.name).join(", ")})`,
      );
    }
  }
  if (config.slurm.time !== undefined && typeof config.slurm.time === "object") {
    for (const k of Object.keys(config.slurm.time)) {
      if (!(STAGES as readonly string[]).includes(k)) {
        bad(`slurm.time: unknown stage '${k}' (stages: ${STAGES.join(", ")})`);
      }
    }
  }
  return { name, config, runs, pruneArgs };
}

/** The stages of a study, in order: each job depends on its run's job of the stage before. */
export const STAGES = ["train", "eval", "prune", "stability"] as const;
export type Stage = typeof STAGES[number];

function planRun(
  family: string,
  dense: boolean,
  args: string[],
  point: string,
  bad: (why: string) => never,
): RunPlan {
  let rc: RunConfig;
  try {
    // --out is required by nothing here, but given so the parser never invents a default path.
    const parsed = parseTrainFlags([...args, "--out", "x"]);
    rc = parsed!.rc;
    validateRunConfig(rc);
    checkTrainingFits(rc);
    checkSparsityFeasible(paramLayout(rc.model), rc);
  } catch (e) {
    if (e instanceof UserError) bad(`${point}: ${e.message.replace(/^train: /, "")}`);
    throw e;
  }
  const ef = rc.model.ef;
  const name = `${family}-e${ef}` + (dense ? "" : `-p${rc.train.pfrac}`) +
    `-n${rc.train.steps}-s${rc.train.seed}`;
  return {
    name,
    family,
    dense,
    ef,
    dModel: Math.round(rc.model.baseDModel * ef),
    pfrac: rc.train.pfrac,
    steps: rc.train.steps,
    seed: rc.train.seed,
    rc,
    trainArgs: args,
  };
}

/** Which families are compared: every sparse family against every dense one. */
export function comparisons(study: Study): { sparse: string; dense: string }[] {
  const fam = new Map<string, boolean>();
  for (const r of study.runs) fam.set(r.family, r.dense);
  const sparse = [...fam].filter(([, d]) => !d).map(([f]) => f);
  const dense = [...fam].filter(([, d]) => d).map(([f]) => f);
  return sparse.flatMap((s) => dense.map((d) => ({ sparse: s, dense: d })));
}
