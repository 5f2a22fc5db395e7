/**
 * Parser of `/proc/<pid>/fdinfo/<fd>` for dma-buf fds (`dma_buf_show_fdinfo`, 6.1 ≡ 6.12).
 *
 * @module
 */
import { typeArg } from "../errors.ts";

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
 * import { parseFdinfo } from "@dmabuf/dmabuf/accounting";
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
  typeArg("parseFdinfo", "text", text, "string");
  let exporter: string | undefined;
  let name: string | undefined;
  let size = 0, count = 0, inode = 0, flags = 0, mntId = 0, pos = 0;
  for (let at = 0; at < text.length;) {
    let end = text.indexOf("\n", at);
    if (end < 0) end = text.length;
    const colon = text.indexOf(":", at);
    if (colon > at && colon < end) {
      // Values follow ":\t"; a name may itself contain tabs or colons, so cut once.
      const v = colon + 1 < end && text.charCodeAt(colon + 1) === 9 ? colon + 2 : colon + 1;
      switch (text.slice(at, colon)) {
        case "pos":
          pos = Number.parseInt(text.slice(v, end), 10);
          break;
        case "flags":
          flags = Number.parseInt(text.slice(v, end), 8);
          break;
        case "mnt_id":
          mntId = Number.parseInt(text.slice(v, end), 10);
          break;
        case "ino":
          inode = Number.parseInt(text.slice(v, end), 10);
          break;
        case "size":
          size = Number.parseInt(text.slice(v, end), 10);
          break;
        case "count":
          count = Number.parseInt(text.slice(v, end), 10);
          break;
        case "exp_name":
          exporter = text.slice(v, end);
          break;
        case "name":
          name = text.slice(v, end);
          break;
      }
    }
    at = end + 1;
  }
  if (exporter === undefined) return undefined;
  return { size, count, exporter, name, inode, flags, mntId, pos };
}
