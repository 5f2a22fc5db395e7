/**
 * debugfs `dma_buf/bufinfo` (`dma_buf_debug_show`, 6.1 ≡ 6.12): every dma-buf of the system
 * with its flags, mode, reference count, fences and attached devices. Root only (debugfs).
 *
 * @module
 */
import { errnoError } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import { denoFsReader, type FsReader, join } from "./reader.ts";

/** A fence on a buffer's reservation object. */
export interface BufinfoFence {
  /** `kernel`, `write`, `read` or `bookkeep`. */
  usage: string;
  /** The fence driver's name. */
  driver: string;
  /** The timeline's name. */
  timeline: string;
  /** The sequence number. */
  seqno: number;
  /** Whether the fence has signalled. */
  signalled: boolean;
}

/** One buffer as bufinfo lists it. */
export interface BufinfoBuffer {
  /** Size in bytes. */
  size: number;
  /** The file's `f_flags` (printed in hex). */
  flags: number;
  /** The file's `f_mode` (printed in hex). */
  mode: number;
  /** The file's reference count. */
  count: number;
  /** The exporter's name. */
  exporter: string;
  /** The inode number. */
  inode: number;
  /** The name, `null` when none was set (`<none>`). */
  name: string | null;
  /** The fences, in the order printed. */
  fences: BufinfoFence[];
  /** The names of the attached devices. */
  attachments: string[];
}

/** The whole bufinfo file. */
export interface Bufinfo {
  /** The buffers, newest first as the kernel prints them. */
  buffers: BufinfoBuffer[];
  /** The trailer's object count. */
  totalObjects: number;
  /** The trailer's byte count. */
  totalBytes: number;
}

const ROW = /^(\d+)\t([0-9a-f]+)\t([0-9a-f]+)\t(\d+)\t([^\t]*)\t(\d+)\t(.*)$/;
const FENCE = /^\t(\S+) fence:(\S*) (.*) seq (\d+) (un)?signalled$/;
const TRAILER = /^Total (\d+) objects, (\d+) bytes$/;

function malformed(line: number, text: string): Error {
  return errnoError(Errno.EINVAL, "parseBufinfo", {
    detail: `line ${line} is not in the bufinfo format: ${JSON.stringify(text)}`,
  });
}

/**
 * Parses the text of `dma_buf/bufinfo`.
 *
 * @param text The file's content.
 * @returns The buffers and the trailer's totals.
 * @throws {ErrnoError} `EINVAL` for a line that fits nowhere in the format.
 *
 * @example A buffer with one attached device
 * ```ts
 * import { parseBufinfo } from "@dmabuf/dmabuf/accounting";
 * import assert from "node:assert/strict";
 *
 * const info = parseBufinfo(
 *   "\nDma-buf Objects:\nsize    \tflags   \tmode    \tcount   \texp_name\tino     \tname\n" +
 *     "01048576\t00000002\t00080007\t00000001\tsystem\t00000001\t<none>\n" +
 *     "\tAttached Devices:\n\tvgem\nTotal 1 devices attached\n\n" +
 *     "\nTotal 1 objects, 1048576 bytes\n",
 * );
 * assert.equal(info.buffers[0].inode, 1);
 * assert.equal(info.buffers[0].mode, 0x80007);
 * assert.equal(info.buffers[0].name, null);
 * assert.deepEqual(info.buffers[0].attachments, ["vgem"]);
 * assert.equal(info.totalBytes, 1048576);
 * ```
 */
export function parseBufinfo(text: string): Bufinfo {
  const out: Bufinfo = { buffers: [], totalObjects: 0, totalBytes: 0 };
  let current: BufinfoBuffer | undefined;
  let inDevices = false;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === "" || line === "Dma-buf Objects:" || line.startsWith("size    \t")) continue;
    let m: RegExpExecArray | null;
    if ((m = ROW.exec(line))) {
      current = {
        size: Number(m[1]),
        flags: Number.parseInt(m[2], 16),
        mode: Number.parseInt(m[3], 16),
        count: Number(m[4]),
        exporter: m[5],
        inode: Number(m[6]),
        name: m[7] === "<none>" ? null : m[7],
        fences: [],
        attachments: [],
      };
      out.buffers.push(current);
      inDevices = false;
    } else if (current && line === "\tAttached Devices:") {
      inDevices = true;
    } else if (current && !inDevices && (m = FENCE.exec(line))) {
      current.fences.push({
        usage: m[1],
        driver: m[2],
        timeline: m[3],
        seqno: Number(m[4]),
        signalled: m[5] === undefined,
      });
    } else if (current && inDevices && line.startsWith("\t")) {
      current.attachments.push(line.slice(1));
    } else if (current && /^Total \d+ devices attached$/.test(line)) {
      inDevices = false;
    } else if ((m = TRAILER.exec(line))) {
      out.totalObjects = Number(m[1]);
      out.totalBytes = Number(m[2]);
    } else {
      throw malformed(i + 1, line);
    }
  }
  return out;
}

/** Where {@linkcode readBufinfo} looks, and through what. */
export interface DebugfsOptions {
  /** The debugfs mount point; default `"/sys/kernel/debug"`. */
  debugfsRoot?: string;
  /** The file access; default the Deno file system. */
  reader?: FsReader;
}

/**
 * Reads and parses `<debugfsRoot>/dma_buf/bufinfo`.
 *
 * @param options The debugfs root and the reader.
 * @returns The parsed file.
 * @throws {Deno.errors.NotFound} When debugfs is not mounted or has no dma_buf directory.
 * @throws {Deno.errors.PermissionDenied} When not root.
 *
 * @example A missing debugfs is ENOENT
 * ```ts
 * import { readBufinfo } from "@dmabuf/dmabuf/accounting";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => readBufinfo({ debugfsRoot: "/nonexistent" }), { code: "ENOENT" });
 * ```
 */
export function readBufinfo(options: DebugfsOptions = {}): Bufinfo {
  const reader = options.reader ?? denoFsReader();
  return parseBufinfo(
    reader.readText(join(options.debugfsRoot ?? "/sys/kernel/debug", "dma_buf/bufinfo")),
  );
}
