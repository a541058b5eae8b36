/**
 * Word banks for the task generators: nouns and modifiers that compose into hundreds of snake_case
 * identifiers, verbs for function names, words for string contents, file-name roles, and the short
 * names a task may ask the model to copy. Entries contain no quotes, are valid Python identifiers
 * and are neither keywords nor builtins (tests/tasks_test.ts checks this with Python itself).
 */
import type { Rng } from "../src/util/rng.ts";

/** Singular nouns; variable names are composed from these. */
// deno-fmt-ignore
export const NOUNS: readonly string[] = [
  "account", "address", "agent", "alarm", "album", "amount", "angle", "animal", "answer", "apple",
  "area", "article", "artist", "asset", "badge", "bag", "ball", "band", "bank", "basket", "batch",
  "beam", "bell", "bill", "bird", "blade", "block", "board", "boat", "bonus", "book", "border",
  "bottle", "branch", "brick", "bridge", "bucket", "budget", "bug", "button", "cabin", "cake",
  "camera", "candle", "car", "card", "cargo", "cart", "castle", "cell", "chair", "channel",
  "chapter", "chart", "check", "chip", "chunk", "circle", "city", "claim", "client", "clock",
  "cloud", "coach", "coin", "column", "comment", "contact", "coupon", "course", "crew", "crop",
  "cup", "curve", "customer", "cycle", "deal", "deck", "degree", "device", "dice", "digit", "dish",
  "doctor", "dog", "door", "draft", "drink", "driver", "edge", "egg", "email", "engine", "entry",
  "event", "exam", "farm", "fee", "field", "file", "flag", "flight", "floor", "flower", "folder",
  "font", "forest", "form", "frame", "fruit", "game", "garden", "gate", "gift", "goal", "grade",
  "graph", "guest", "habit", "hall", "handle", "hat", "hero", "hill", "hint", "hotel", "house",
  "icon", "idea", "image", "invoice", "island", "item", "job", "key", "kitten", "lake", "lamp",
  "lane", "layer", "leaf", "lesson", "letter", "level", "light", "limit", "line", "link", "loan",
  "lock", "mark", "market", "meal", "member", "menu", "message", "meter", "metric", "mirror",
  "model", "monkey", "month", "moon", "motor", "movie", "nest", "node", "note", "number", "offer",
  "office", "order", "owner", "packet", "page", "panel", "parcel", "park", "part", "party",
  "patient", "pattern", "payment", "peak", "pen", "phone", "photo", "piece", "pixel", "planet",
  "plant", "plate", "player", "pocket", "poem", "point", "port", "post", "pot", "price", "prize",
  "product", "profile", "project", "puzzle", "query", "quiz", "rabbit", "race", "rate", "reading",
  "recipe", "record", "region", "report", "request", "review", "reward", "ring", "river", "road",
  "robot", "rock", "role", "room", "root", "route", "row", "rule", "sample", "scene", "school",
  "score", "screen", "seat", "sector", "seed", "sensor", "server", "session", "shape", "sheet",
  "shelf", "ship", "shop", "signal", "skill", "slot", "song", "source", "space", "speaker",
  "spell", "spot", "square", "stage", "stamp", "star", "station", "step", "stock", "stone",
  "store", "story", "street", "student", "style", "tag", "task", "team", "teacher", "term", "text",
  "theme", "ticket", "tile", "topic", "tower", "town", "track", "trade", "train", "tree", "trip",
  "truck", "turn", "unit", "user", "valve", "vendor", "video", "village", "visit", "voice", "vote",
  "wagon", "wall", "wave", "week", "wheel", "window", "word", "worker", "yard", "zone",
];

/** Prefixes for compound names (`max_score`, `new_order`). */
// deno-fmt-ignore
export const MODIFIERS: readonly string[] = [
  "active", "avg", "base", "best", "big", "clean", "current", "daily", "default", "extra", "final",
  "first", "good", "high", "initial", "last", "left", "local", "low", "main", "max", "min", "new",
  "next", "old", "other", "prev", "raw", "right", "second", "selected", "short", "small", "start",
  "target", "temp", "top", "total", "valid", "weekly",
];

/** Suffixes for compound names (`order_count`, `user_name`). */
// deno-fmt-ignore
export const SUFFIXES: readonly string[] = [
  "count", "total", "id", "name", "size", "value", "score", "index", "level", "limit", "sum",
  "rate", "list", "data", "info", "key", "num", "len", "max", "min",
];

/** Verbs for function names (`load_orders`, `check_user`). */
// deno-fmt-ignore
export const VERBS: readonly string[] = [
  "add", "apply", "build", "calc", "check", "clean", "clear", "collect", "combine", "compute",
  "convert", "copy", "count", "create", "decode", "draw", "encode", "fetch", "fill", "find", "fix",
  "format", "get", "handle", "init", "join", "list", "load", "make", "merge", "move", "parse",
  "pick", "prepare", "process", "push", "read", "remove", "render", "reset", "resolve", "run",
  "save", "scale", "scan", "score", "send", "set", "show", "sort", "split", "start", "store",
  "sum", "track", "trim", "update", "validate", "walk", "write",
];

/** Plain lowercase words for string contents. */
// deno-fmt-ignore
export const WORDS: readonly string[] = [
  "hello", "world", "apple", "banana", "cherry", "orange", "lemon", "grape", "melon", "peach",
  "red", "green", "blue", "yellow", "purple", "silver", "golden", "dark", "bright", "quiet",
  "north", "south", "east", "west", "up", "down", "left", "right", "inside", "outside", "done",
  "ready", "waiting", "loading", "saving", "finished", "started", "stopped", "failed", "passed",
  "alice", "bob", "carol", "dave", "erin", "frank", "grace", "henry", "irene", "jack", "karen",
  "laura", "mike", "nora", "oliver", "paul", "quinn", "rosa", "steve", "tina", "uma", "victor",
  "cat", "dog", "horse", "tiger", "eagle", "shark", "whale", "zebra", "panda", "koala", "otter",
  "spring", "summer", "autumn", "winter", "morning", "evening", "night", "today", "tomorrow",
  "small", "large", "tiny", "huge", "fast", "slow", "hot", "cold", "warm", "fresh", "empty",
  "paris", "london", "tokyo", "cairo", "delhi", "lima", "oslo", "rome", "vienna", "sydney",
  "total", "count", "score", "level", "value", "result", "answer", "number", "price", "amount",
  "error", "warning", "info", "notice", "status", "update", "report", "summary", "details",
  "river", "mountain", "forest", "desert", "ocean", "valley", "island", "garden", "bridge",
  "coffee", "tea", "bread", "cheese", "pizza", "pasta", "soup", "salad", "cookie", "candy",
  "piano", "guitar", "violin", "drum", "flute", "song", "dance", "movie", "story", "poem",
  "window", "door", "table", "chair", "lamp", "clock", "mirror", "pillow", "blanket", "basket",
  "yes", "no", "maybe", "always", "never", "again", "first", "second", "third", "last", "welcome",
  "goodbye", "thanks", "please", "sorry", "hurry", "careful", "enjoy", "remember",
];

/** Capitalised words that open messages. */
// deno-fmt-ignore
export const LABELS: readonly string[] = [
  "Total", "Count", "Result", "Average", "Name", "Error", "Warning", "Done", "Found", "Missing",
  "Loaded", "Saved", "Value", "Score", "Best", "Size", "Status", "Step", "Level", "Round",
  "Winner", "Hello", "Welcome", "Checking", "Reading", "Writing", "Updated", "Removed", "Added",
  "Answer", "Output", "Input", "Report", "Summary", "Price", "Balance", "User", "Player", "Task",
];

/** Module names for import lines. */
// deno-fmt-ignore
export const MODULES: readonly string[] = [
  "math", "os", "sys", "random", "json", "re", "time", "string", "collections", "itertools",
  "functools", "datetime", "csv", "statistics", "heapq", "copy", "pathlib", "textwrap",
];

/** No-argument methods for `y = x.m()` lines. */
// deno-fmt-ignore
export const METHODS: readonly string[] = [
  "copy", "strip", "lower", "upper", "split", "keys", "values", "items", "pop", "title",
];

/** (read, write) pairs of path variable names, for with_open. */
// deno-fmt-ignore
export const READ_WRITE_NAMES: readonly (readonly [string, string])[] = [
  ["input_path", "output_path"], ["in_path", "out_path"], ["src_path", "dst_path"],
  ["source_file", "target_file"], ["infile", "outfile"], ["input_file", "output_file"],
  ["read_path", "write_path"], ["load_path", "save_path"], ["in_file", "out_file"],
  ["source_path", "dest_path"], ["data_in", "data_out"], ["input_name", "output_name"],
];

/** (read, write) pairs of file-name stems, for with_open. */
// deno-fmt-ignore
export const READ_WRITE_STEMS: readonly (readonly [string, string])[] = [
  ["input", "output"], ["data", "results"], ["config", "report"], ["source", "target"],
  ["questions", "answers"], ["raw", "cleaned"], ["notes", "summary"], ["train", "predictions"],
  ["words", "counts"], ["in", "out"], ["settings", "backup"], ["records", "export"],
];

/** (read, write) pairs of function verbs (`load_orders` vs `save_orders`), for with_open. */
// deno-fmt-ignore
export const READ_WRITE_VERBS: readonly (readonly [string, string])[] = [
  ["load", "save"], ["read", "write"], ["parse", "dump"], ["import", "export"], ["get", "store"],
  ["fetch", "record"], ["restore", "backup"], ["check", "report"],
];

/** File extensions (with the dot). */
export const EXTENSIONS: readonly string[] = [".txt", ".txt", ".csv", ".json", ".log", ".dat"];

/**
 * Letters-only names (with a leading space they are one pre-token) that tasks ask the model to
 * copy: class_init, var_swap, else_elif. Each must be a single token of the default tokenizer.
 */
// deno-fmt-ignore
export const COPY_NAMES: readonly string[] = [
  "x", "y", "a", "b", "c", "i", "j", "k", "n", "m", "count", "total", "name", "value", "result",
  "items", "key", "size", "index", "text", "line", "word", "score", "level", "price", "age",
  "width", "height", "speed", "color", "city", "title", "label", "message", "status", "mode",
  "left", "right", "start", "end", "step", "amount", "balance", "user", "item", "row", "col",
  "number", "depth", "length", "weight", "point", "letter", "year", "path", "tag", "order", "book",
  "note", "token", "entry", "record",
];

/** Names a loop or while condition reads naturally with (for_while). */
// deno-fmt-ignore
export const LOOP_NAMES: readonly string[] = [
  "node", "item", "line", "task", "job", "current", "chunk", "batch", "entry", "token", "step",
  "count", "n", "remaining", "pending", "left", "head", "cursor", "page", "block", "frame",
  "event",
];

/** Index variable names (enumerate_range). */
// deno-fmt-ignore
export const INDEX_NAMES: readonly string[] = [
  "i", "j", "k", "idx", "index", "n", "pos", "num", "t",
];

/** The English plural of a bank noun. */
export function plural(noun: string): string {
  if (/[^aeiou]y$/.test(noun)) return noun.slice(0, -1) + "ies";
  if (/(s|x|z|ch|sh)$/.test(noun)) return noun + "es";
  if (noun === "leaf" || noun === "shelf") return noun.slice(0, -1) + "ves";
  return noun + "s";
}

/** A snake_case variable name: `noun`, `modifier_noun`, `noun_suffix` (hundreds of forms). */
export function varName(rng: Rng): string {
  const r = rng.float();
  const n = rng.pick(NOUNS);
  if (r < 0.4) return n;
  if (r < 0.7) return `${rng.pick(MODIFIERS)}_${n}`;
  return `${n}_${rng.pick(SUFFIXES)}`;
}

/** A snake_case plural name for a collection (`orders`, `new_tickets`). */
export function pluralName(rng: Rng): string {
  const n = plural(rng.pick(NOUNS));
  return rng.chance(0.6) ? n : `${rng.pick(MODIFIERS)}_${n}`;
}

/** A function name: `verb_noun` or `verb_nouns`. */
export function funcName(rng: Rng): string {
  const n = rng.pick(NOUNS);
  return `${rng.pick(VERBS)}_${rng.chance(0.5) ? plural(n) : n}`;
}

/** A CamelCase class name. */
export function className(rng: Rng): string {
  const cap = (s: string) => s.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  const n = cap(rng.pick(NOUNS));
  return rng.chance(0.6) ? n : cap(rng.pick(MODIFIERS)) + n;
}

/** A message of 1-4 words, optionally opening with a capitalised label. */
export function words(rng: Rng, max = 4): string {
  const k = 1 + rng.int(max);
  const out: string[] = [];
  if (rng.chance(0.4)) out.push(rng.pick(LABELS));
  while (out.length < k) out.push(rng.pick(WORDS));
  return out.join(" ");
}

/** A small integer literal (0-999, mostly small). */
export function intLit(rng: Rng): string {
  const r = rng.float();
  return String(r < 0.5 ? rng.int(10) : r < 0.85 ? rng.int(100) : rng.int(1000));
}

/** Every bank of identifiers (for the test that asks Python whether they are valid names). */
export const IDENTIFIER_BANKS: Readonly<Record<string, readonly string[]>> = {
  NOUNS,
  MODIFIERS,
  SUFFIXES,
  VERBS,
  COPY_NAMES,
  LOOP_NAMES,
  INDEX_NAMES,
  MODULES,
  READ_WRITE_NAMES: READ_WRITE_NAMES.flat(),
};
