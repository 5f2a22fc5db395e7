/**
 * `/proc/<pid>/maps`: which dma-bufs a process has mapped (`ReadDmaBufMapRefs` in Android's
 * libdmabufinfo). A dma-buf mapping's path is `/dmabuf:<name>` (`dmabuffs_dname`) and its inode
 * column is the buffer's inode.
 *
 * @module
 */
import { denoFsReader, join } from "./reader.ts";
import { checkPid, procError, type ProcOptions } from "./fdrefs.ts";

/** One mapping (VMA) of a dma-buf. */
export interface MapRef {
  /** The buffer's inode (the maps line's inode column). */
  inode: number;
  /** The buffer's name as the path shows it (at most 31 characters), `""` when unnamed. */
  name: string;
  /** The first address. */
  start: number;
  /** One past the last address. */
  end: number;
  /** `end - start`: the mapped bytes, which may be only part of the buffer. */
  length: number;
  /** The file offset of `start`. */
  offset: number;
  /** The permissions column, e.g. `"rw-s"`. */
  perms: string;
}

const LINE = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+([0-9a-f]+)\s+\S+\s+(\d+)\s+(\/dmabuf:?.*)$/;

/**
 * Parses maps text and keeps the dma-buf mappings.
 *
 * @param text The content of a `/proc/<pid>/maps` file.
 * @returns The dma-buf mappings in file order.
 *
 * @example One named mapping among others
 * ```ts
 * import { parseMaps } from "@dmabuf/dmabuf/accounting";
 * import assert from "node:assert/strict";
 *
 * const refs = parseMaps(
 *   "7f0000000000-7f0000100000 rw-s 00000000 00:0f 42    /dmabuf:frame 0\n" +
 *     "7f0000200000-7f0000201000 r--p 00000000 08:01 1234  /usr/lib/libc.so.6\n",
 * );
 * assert.equal(refs.length, 1);
 * assert.equal(refs[0].inode, 42);
 * assert.equal(refs[0].name, "frame 0");
 * assert.equal(refs[0].length, 1 << 20);
 * ```
 */
export function parseMaps(text: string): MapRef[] {
  const refs: MapRef[] = [];
  for (const line of text.split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const start = Number.parseInt(m[1], 16);
    const end = Number.parseInt(m[2], 16);
    refs.push({
      inode: Number(m[5]),
      name: m[6].replace(/^\/dmabuf:?/, ""),
      start,
      end,
      length: end - start,
      offset: Number.parseInt(m[4], 16),
      perms: m[3],
    });
  }
  return refs;
}

/**
 * Lists the dma-buf mappings of a process from `<procRoot>/<pid>/maps`.
 *
 * @param pid A process id, or `"self"`.
 * @param options The proc root and the reader.
 * @returns The mappings in address order; empty when none.
 * @throws {Deno.errors.PermissionDenied} `EACCES`/`EPERM` (requires PTRACE_MODE_READ or root).
 * @throws {Deno.errors.NotFound} `ENOENT` when the process does not exist (or exited).
 *
 * @example A synthetic maps file
 * ```ts
 * import { readMapRefs } from "@dmabuf/dmabuf/accounting";
 * import assert from "node:assert/strict";
 *
 * const reader = {
 *   readDir: () => [],
 *   readText: () => "7f0000000000-7f0000001000 rw-s 00000000 00:0f 9 /dmabuf:\n",
 * };
 * const refs = readMapRefs(5, { procRoot: "/p", reader });
 * assert.deepEqual(refs.map((r) => [r.inode, r.name, r.length]), [[9, "", 4096]]);
 * ```
 */
export function readMapRefs(pid: number | "self", options: ProcOptions = {}): MapRef[] {
  checkPid(pid);
  const reader = options.reader ?? denoFsReader();
  const path = join(options.procRoot ?? "/proc", pid, "maps");
  try {
    return parseMaps(reader.readText(path));
  } catch (e) {
    throw procError(e, "open", path);
  }
}
