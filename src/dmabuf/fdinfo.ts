/**
 * Parser of `/proc/<pid>/fdinfo/<fd>` for dma-buf fds (`dma_buf_show_fdinfo`, 6.1 ≡ 6.12).
 *
 * @module
 */

/** What the kernel reports about one dma-buf fd. */
export interface DmaBufInfo {
  /** Buffer size in bytes. */
  size: number;
  /** References to the buffer's file: fds (also in other processes), mmaps, kernel users. */
  count: number;
  /** The exporter's name (`exp_name`): `"system"`, `"reserved"`, `"udmabuf"`, … */
  exporter: string;
  /** The name set with `DMA_BUF_SET_NAME`, or `undefined` if none was ever set. */
  name: string | undefined;
  /** The inode number, unique per buffer and boot. */
  inode: number;
  /** The file status flags, with `O_CLOEXEC` when the fd has it. */
  flags: number;
  /** The internal dmabuf mount id. */
  mntId: number;
  /** The file position (always 0 for dma-bufs). */
  pos: number;
}

/**
 * Parses fdinfo text. Returns `undefined` when the text is not a dma-buf's (no `exp_name:`
 * line), which is how `dmabuf_dump` tells dma-bufs from other fds.
 *
 * @param text The whole content of an fdinfo file.
 * @returns The parsed fields, or `undefined` for a non-dma-buf fd.
 *
 * @example Parsing the fdinfo of a system-heap buffer
 * ```ts
 * import { parseFdinfo } from "./fdinfo.ts";
 * import assert from "node:assert/strict";
 *
 * const info = parseFdinfo(
 *   "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t7\nsize:\t1048576\ncount:\t1\nexp_name:\tsystem\n",
 * );
 * assert.equal(info?.size, 1048576);
 * assert.equal(info?.exporter, "system");
 * assert.equal(info?.flags, 0o2000002);
 * assert.equal(info?.name, undefined);
 * ```
 */
export function parseFdinfo(text: string): DmaBufInfo | undefined {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const tab = line.indexOf(":");
    if (tab <= 0) continue;
    const key = line.slice(0, tab);
    // Values follow ":\t"; a name may itself contain tabs or colons, so cut once.
    fields.set(key, line.slice(tab + 1).replace(/^\t/, ""));
  }
  const exporter = fields.get("exp_name");
  if (exporter === undefined) return undefined;
  const num = (k: string) => Number.parseInt(fields.get(k) ?? "0", 10);
  return {
    size: num("size"),
    count: num("count"),
    exporter,
    name: fields.get("name"),
    inode: num("ino"),
    flags: Number.parseInt(fields.get("flags") ?? "0", 8),
    mntId: num("mnt_id"),
    pos: num("pos"),
  };
}
