/**
 * System-wide dma-buf accounting — a `dmabuf_dump` for everyone: who holds which buffer, through
 * fds or mappings, with RSS and PSS per process. Every reader takes its root (`/proc`, `/sys`,
 * debugfs) and a reader as parameters, so it runs on real Linux (pass the Linux `Kernel`), on the
 * simulated kernel, or on a synthetic tree in a directory.
 *
 * Semantics, as in Android's libdmabufinfo:
 * - An fd is a dma-buf iff its fdinfo has `exp_name:`; a buffer is identified by its inode.
 * - A process holds a buffer through an fd or a mapping; its RSS counts the whole buffer, its PSS
 *   `size / number of processes holding it` (fd-only holders count, unlike a reverted 2022
 *   Android change that charged mappings only).
 * - `count` is the kernel's reference count of the buffer's file (fds anywhere, mappings,
 *   in-kernel users), as fdinfo and bufinfo print it.
 * - A buffer seen only in `maps` is sized from sysfs or bufinfo when readable, else from its
 *   mappings (which may cover part of it): `sizeFrom` says which.
 * - Files that vanish during the scan (`ENOENT`: fd closed, process exited) are skipped; refused
 *   ones (`EACCES`/`EPERM`) are reported per process — reading another user's process requires
 *   PTRACE_MODE_READ or root.
 * - Not done: the `stat` fallback for kernels whose fdinfo lacks `ino:` (before 5.14); such fds
 *   are skipped.
 *
 * ```ts
 * import { dmabufDump } from "@dmabuf/dmabuf/accounting";
 * import assert from "node:assert/strict";
 *
 * const reader = { readDir: () => [], readText: () => "" };
 * const dump = dmabufDump({ procRoot: "/empty", reader, sysfsRoot: null, debugfsRoot: null });
 * assert.equal(dump.totals.buffers, 0);
 * ```
 *
 * @module
 */
export { denoFsReader, type FsReader } from "./reader.ts";
export { type DmaBufInfo, parseFdinfo } from "../dmabuf/fdinfo.ts";
export { type FdRef, type ProcOptions, PTRACE_HINT, readFdRefs } from "./fdrefs.ts";
export { type MapRef, parseMaps, readMapRefs } from "./maprefs.ts";
export {
  type Bufinfo,
  type BufinfoBuffer,
  type BufinfoFence,
  type DebugfsOptions,
  parseBufinfo,
  readBufinfo,
} from "./bufinfo.ts";
export {
  type ExportedBuffer,
  exportedBuffers,
  type ExporterTotal,
  exporterTotals,
} from "./exported.ts";
export { readSysfsBuffers, type SysfsBuffer, type SysfsOptions } from "./sysfs.ts";
export {
  type DmabufDump,
  dmabufDump,
  type DmaBufferReport,
  type DumpOptions,
  type ProcessReport,
  type SizeSource,
  type UnreadableProcess,
} from "./dump.ts";
