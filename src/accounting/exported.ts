/**
 * Every buffer the kernel has exported, held by a process or not (`dmabuf_dump -b`): from sysfs
 * buffer stats and debugfs bufinfo, with who holds each one.
 *
 * @module
 */
import type { Bufinfo } from "./bufinfo.ts";
import type { SysfsBuffer } from "./sysfs.ts";

/** One exported buffer. */
export interface ExportedBuffer {
  /** The inode. */
  inode: number;
  /** Size in bytes. */
  size: number;
  /** The exporter's name. */
  exporter: string;
  /** The name, `null` when none is set or only sysfs was readable. */
  name: string | null;
  /** The file's reference count (bufinfo), `null` when only sysfs was readable. */
  count: number | null;
  /** Attached devices (bufinfo), `null` when only sysfs was readable. */
  attachments: string[] | null;
  /** The processes holding it (fds or mappings); empty: only the kernel holds it. */
  pids: number[];
}

/** One exporter's buffers. */
export interface ExporterTotal {
  /** The exporter's name. */
  exporter: string;
  /** How many buffers. */
  buffers: number;
  /** Their bytes. */
  bytes: number;
}

/**
 * Joins sysfs stats and bufinfo by inode and adds the holders found in `/proc`.
 *
 * @param sysfs Buffers from sysfs, if readable.
 * @param bufinfo The bufinfo file, if readable.
 * @param holders inode → pids holding it.
 * @returns The buffers by inode, or `null` when neither source was readable.
 *
 * @example A kernel-only buffer
 * ```ts
 * import { exportedBuffers } from "@dmabuf/dmabuf/accounting";
 * import assert from "node:assert/strict";
 *
 * const out = exportedBuffers([{ inode: 3, exporter: "system", size: 4096 }], undefined, new Map());
 * assert.deepEqual(out, [{
 *   inode: 3, size: 4096, exporter: "system", name: null, count: null, attachments: null, pids: [],
 * }]);
 * ```
 */
export function exportedBuffers(
  sysfs: SysfsBuffer[] | undefined,
  bufinfo: Bufinfo | undefined,
  holders: Map<number, number[]>,
): ExportedBuffer[] | null {
  if (!sysfs && !bufinfo) return null;
  const all = new Map<number, ExportedBuffer>();
  for (const b of sysfs ?? []) {
    all.set(b.inode, {
      inode: b.inode,
      size: b.size,
      exporter: b.exporter,
      name: null,
      count: null,
      attachments: null,
      pids: holders.get(b.inode) ?? [],
    });
  }
  for (const b of bufinfo?.buffers ?? []) {
    const e = all.get(b.inode);
    const fromBufinfo = { name: b.name, count: b.count, attachments: b.attachments };
    if (e) Object.assign(e, fromBufinfo);
    else {
      all.set(b.inode, {
        inode: b.inode,
        size: b.size,
        exporter: b.exporter,
        ...fromBufinfo,
        pids: holders.get(b.inode) ?? [],
      });
    }
  }
  return [...all.values()].sort((a, b) => a.inode - b.inode);
}

/**
 * Totals per exporter, largest first.
 *
 * @param buffers Exported buffers.
 * @returns One row per exporter.
 *
 * @example Two exporters
 * ```ts
 * import { exporterTotals } from "@dmabuf/dmabuf/accounting";
 * import assert from "node:assert/strict";
 *
 * const t = exporterTotals([
 *   { inode: 1, size: 4096, exporter: "system", name: null, count: 1, attachments: [], pids: [] },
 *   { inode: 2, size: 8192, exporter: "reserved", name: null, count: 1, attachments: [], pids: [] },
 *   { inode: 3, size: 4096, exporter: "system", name: null, count: 1, attachments: [], pids: [] },
 * ]);
 * assert.deepEqual(t, [
 *   { exporter: "reserved", buffers: 1, bytes: 8192 },
 *   { exporter: "system", buffers: 2, bytes: 8192 },
 * ]);
 * ```
 */
export function exporterTotals(buffers: ExportedBuffer[]): ExporterTotal[] {
  const by = new Map<string, ExporterTotal>();
  for (const b of buffers) {
    const t = by.get(b.exporter) ?? { exporter: b.exporter, buffers: 0, bytes: 0 };
    t.buffers++;
    t.bytes += b.size;
    by.set(b.exporter, t);
  }
  return [...by.values()].sort((a, b) => b.bytes - a.bytes || a.exporter.localeCompare(b.exporter));
}
