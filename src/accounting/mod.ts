/**
 * System-wide dma-buf accounting — a `dmabuf_dump` for everyone: who holds which buffer, through
 * fds or mappings, with RSS and PSS per process. Every reader takes its root (`/proc`, `/sys`,
 * debugfs) and a reader as parameters, so it runs on real Linux (pass the Linux `Kernel`), on the
 * simulated kernel, or on a synthetic tree in a directory.
 *
 * ```ts
 * import { dmabufDump } from "./mod.ts";
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
export type { DmaBufInfo } from "../dmabuf/fdinfo.ts";
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
