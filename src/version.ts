/**
 * thinwire's version: the `version` of deno.json, its one source (written into every run's
 * config.json).
 */
import denoJson from "../deno.json" with { type: "json" };

export const VERSION: string = denoJson.version;
