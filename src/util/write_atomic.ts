/**
 * Writing a command's output files. A regular file is written atomically: a temp file beside it,
 * fsync, then rename, so a process killed at any moment leaves either the old file or the new one,
 * never half of one. What is not a regular file is never replaced by a rename: a symbolic link's
 * target is written (the link stays a link), and a device or a FIFO (`/dev/stdout`, `/dev/null`)
 * gets the bytes written through to it, as a shell redirection would. A folder is refused.
 *
 * Problems are one-line UserErrors naming the path: exit code 2 for a path the user gave wrong
 * (a folder, a missing parent), 1 for a write that failed (disk full, permission); a failed write
 * removes its temp file.
 */
import { UserError } from "../errors.ts";

const firstLine = (e: unknown) => (e as Error).message.split("\n")[0];

/** What writing to `path` means: atomic replace of `target`, or write-through to a non-file. */
async function destination(path: string): Promise<{ target: string; through: boolean }> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { target: path, through: false };
    throw new UserError(`${path}: cannot be written (${firstLine(e)})`);
  }
  let target = path;
  if (info.isSymlink) {
    try {
      target = await Deno.realPath(path);
      info = await Deno.stat(target);
    } catch (e) {
      // A dangling link: its target does not exist yet, so it is created where the link points.
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new UserError(`${path}: cannot be written (${firstLine(e)})`);
      }
      target = await Deno.readLink(path);
      if (!target.startsWith("/")) target = `${path.replace(/[^/]*$/, "")}${target}`;
      return { target, through: false };
    }
  }
  if (info.isDirectory) throw new UserError(`${path}: is a folder, not a file`);
  return { target, through: !info.isFile };
}

/**
 * Checks, before long work, that `path` can take a command's output: not a folder, and its
 * parent folder exists. `flag` names the option in the message (e.g. "--json").
 */
export async function checkWritable(path: string, flag: string): Promise<void> {
  const { target } = await destination(path);
  const parent = target.includes("/") ? target.replace(/\/[^/]*$/, "") || "/" : ".";
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(parent);
  } catch {
    throw new UserError(`${flag} ${path}: the folder ${parent} does not exist`);
  }
  if (!info.isDirectory) throw new UserError(`${flag} ${path}: ${parent} is not a folder`);
}

/** Writes `data` to `path` (see the file comment). */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const { target, through } = await destination(path);
  if (through) {
    try {
      const f = await Deno.open(target, { write: true });
      try {
        let off = 0;
        while (off < bytes.length) off += await f.write(bytes.subarray(off));
      } finally {
        f.close();
      }
    } catch (e) {
      throw new UserError(`${path}: writing failed (${firstLine(e)})`, 1);
    }
    return;
  }
  const tmp = `${target}.${Deno.pid}.tmp`;
  let f: Deno.FsFile;
  try {
    f = await Deno.open(tmp, { write: true, create: true, truncate: true });
  } catch (e) {
    const missing = e instanceof Deno.errors.NotFound;
    throw new UserError(
      missing
        ? `${path}: the folder it would go in does not exist`
        : `${path}: cannot be written (${firstLine(e)})`,
      missing ? 2 : 1,
    );
  }
  try {
    try {
      let off = 0;
      while (off < bytes.length) off += await f.write(bytes.subarray(off));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, target);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new UserError(`${path}: writing failed (${firstLine(e)}); nothing was changed`, 1);
  }
}
