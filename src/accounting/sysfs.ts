/**
 * `/sys/kernel/dmabuf/buffers/<ino>/{exporter_name,size}` (CONFIG_DMABUF_SYSFS_STATS, deprecated
 * but still in 6.1 and 6.12; Android's `ReadDmaBufSysfsStats`).
 *
 * @module
 */
import { errnoError } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import { denoFsReader, type FsReader, isGone, join } from "./reader.ts";

/** One buffer's sysfs stats. */
export interface SysfsBuffer {
  /** The inode (the directory's name). */
  inode: number;
  /** The exporter's name. */
  exporter: string;
  /** Size in bytes. */
  size: number;
}

/** Where {@linkcode readSysfsBuffers} looks, and through what. */
export interface SysfsOptions {
  /** The sysfs mount point; default `"/sys"`. */
  sysfsRoot?: string;
  /** The file access; default the Deno file system. */
  reader?: FsReader;
}

/**
 * Reads every buffer's stats. Buffers released during the scan (`ENOENT`) are skipped.
 *
 * @param options The sysfs root and the reader.
 * @returns The buffers by ascending inode.
 * @throws {Deno.errors.NotFound} When the kernel has no `CONFIG_DMABUF_SYSFS_STATS`.
 * @throws {ErrnoError} `EINVAL` when a size file does not hold a number.
 *
 * @example A synthetic sysfs tree
 * ```ts
 * import { readSysfsBuffers } from "@dmabuf/dmabuf/accounting";
 * import assert from "node:assert/strict";
 *
 * const files: Record<string, string> = {
 *   "/s/kernel/dmabuf/buffers/12/exporter_name": "system\n",
 *   "/s/kernel/dmabuf/buffers/12/size": "65536\n",
 * };
 * const reader = { readDir: () => ["12"], readText: (p: string) => files[p] };
 * assert.deepEqual(readSysfsBuffers({ sysfsRoot: "/s", reader }), [
 *   { inode: 12, exporter: "system", size: 65536 },
 * ]);
 * ```
 */
export function readSysfsBuffers(options: SysfsOptions = {}): SysfsBuffer[] {
  const reader = options.reader ?? denoFsReader();
  const dir = join(options.sysfsRoot ?? "/sys", "kernel/dmabuf/buffers");
  const out: SysfsBuffer[] = [];
  for (const name of reader.readDir(dir)) {
    if (!/^\d+$/.test(name)) continue;
    let exporter: string, sizeText: string;
    try {
      exporter = reader.readText(join(dir, name, "exporter_name")).replace(/\n$/, "");
      sizeText = reader.readText(join(dir, name, "size")).trim();
    } catch (e) {
      if (isGone(e)) continue; // released between readdir and open
      throw e;
    }
    if (!/^\d+$/.test(sizeText)) {
      throw errnoError(Errno.EINVAL, "readSysfsBuffers", {
        path: join(dir, name, "size"),
        detail: `not a size: ${JSON.stringify(sizeText)}`,
      });
    }
    out.push({ inode: Number(name), exporter, size: Number(sizeText) });
  }
  return out.sort((a, b) => a.inode - b.inode);
}
