/**
 * System-wide dma-buf accounting, as Android's `dmabuf_dump` does it: walk every process's
 * fdinfo and maps, group the references by buffer inode, and charge each buffer to the processes
 * that hold it (RSS: its whole size to each; PSS: size / number of processes holding it).
 *
 * @module
 */
import { denoFsReader, errnoOf, type FsReader, isGone, join } from "./reader.ts";
import { type FdRef, PTRACE_HINT, readFdRefs } from "./fdrefs.ts";
import { type MapRef, readMapRefs } from "./maprefs.ts";
import { readSysfsBuffers, type SysfsBuffer } from "./sysfs.ts";
import { type BufinfoBuffer, readBufinfo } from "./bufinfo.ts";
import { errnoName } from "../uapi/errno.ts";
import {
  type ExportedBuffer,
  exportedBuffers,
  type ExporterTotal,
  exporterTotals,
} from "./exported.ts";

/** Options for {@linkcode dmabufDump}. */
export interface DumpOptions {
  /** Only this process; default: every numeric entry of the proc root. */
  pid?: number;
  /** The procfs mount point; default `"/proc"`. */
  procRoot?: string;
  /** The sysfs mount point for buffer stats; default `"/sys"`. `null` skips sysfs. */
  sysfsRoot?: string | null;
  /** The debugfs mount point for bufinfo; default `"/sys/kernel/debug"`. `null` skips it. */
  debugfsRoot?: string | null;
  /** The file access; default the Deno file system (pass a `Kernel` for the real `/proc`). */
  reader?: FsReader;
}

/** Where a buffer's size and exporter came from. */
export type SizeSource = "fdinfo" | "sysfs" | "debugfs" | "maps";

/** One buffer and who holds it. Keys are stable for `--json`. */
export interface DmaBufferReport {
  /** The inode, unique per buffer and boot. */
  inode: number;
  /** Size in bytes (for a buffer only mapped and absent from sysfs/debugfs: the mapped bytes). */
  size: number;
  /** Where `size` came from. */
  sizeFrom: SizeSource;
  /** The exporter's name, `"<unknown>"` for a mapped-only buffer without sysfs/debugfs. */
  exporter: string;
  /** The buffer's name, `null` when none is known. */
  name: string | null;
  /** The file's reference count (fdinfo `count`), `null` when no fd was seen and no bufinfo. */
  count: number | null;
  /** pid → number of fds referring to the buffer. */
  fdRefs: Record<string, number>;
  /** pid → number of mappings (VMAs) of the buffer. */
  mapRefs: Record<string, number>;
  /** The pids holding the buffer through an fd or a mapping, ascending. */
  pids: number[];
  /** `size / pids.length`, rounded down. */
  pss: number;
}

/** One process's dma-buf holdings. */
export interface ProcessReport {
  /** The pid. */
  pid: number;
  /** `comm`, or `"<unknown>"`. */
  name: string;
  /** The sum of the sizes of the buffers it holds. */
  rss: number;
  /** The sum of its buffers' PSS. */
  pss: number;
  /** Its buffers, by inode. */
  buffers: { inode: number; fds: number; maps: number }[];
}

/** A process that could not be read, and why. */
export interface UnreadableProcess {
  /** The pid. */
  pid: number;
  /** The errno name, e.g. `"EACCES"`. */
  code: string;
  /** Why, in words: `"requires PTRACE_MODE_READ or root"` for EACCES/EPERM. */
  reason: string;
  /** The file that failed. */
  path: string;
}

/** The result of {@linkcode dmabufDump}. */
export interface DmabufDump {
  /**
   * Which processes were scanned: `"all"`, the one asked for (`"pid"`), or only the reader's
   * own (`"self"`) when the proc root lists no processes (the simulated kernel).
   */
  scope: "all" | "pid" | "self";
  /** Every buffer seen, by inode. */
  buffers: DmaBufferReport[];
  /** Every process holding at least one buffer, by pid. */
  processes: ProcessReport[];
  /** Processes that could not be read (possibly in part). */
  unreadable: UnreadableProcess[];
  /** Processes that exited while being read. */
  vanished: number[];
  /** Whether sysfs stats and debugfs bufinfo were read, or the errno name why not. */
  sources: { sysfs: string; debugfs: string };
  /**
   * Every buffer the kernel exported (sysfs stats joined with bufinfo), held by a process or
   * only by the kernel; `null` when neither source was readable.
   */
  exported: ExportedBuffer[] | null;
  /** {@linkcode DmabufDump.exported} per exporter, largest first; `null` likewise. */
  exporters: ExporterTotal[] | null;
  /** Totals. */
  totals: {
    /** Buffers held by processes. */
    buffers: number;
    /** The sum of their sizes (`userspace_rss` in dmabuf_dump). */
    userspaceRss: number;
    /** The sum of the processes' PSS. */
    userspacePss: number;
    /** Every exported buffer's bytes (sysfs or debugfs), `null` when neither was readable. */
    exportedBytes: number | null;
    /** `exportedBytes - userspaceRss`: buffers only the kernel holds; `null` likewise. */
    kernelRss: number | null;
  };
}

interface Acc {
  inode: number;
  size: number;
  sizeFrom: SizeSource;
  exporter: string;
  name: string | null;
  count: number | null;
  fdRefs: Map<number, number>;
  mapRefs: Map<number, number>;
  mappedBytes: Map<number, number>;
}

function entry(all: Map<number, Acc>, inode: number): Acc {
  let a = all.get(inode);
  if (!a) {
    a = {
      inode,
      size: 0,
      sizeFrom: "maps",
      exporter: "<unknown>",
      name: null,
      count: null,
      fdRefs: new Map(),
      mapRefs: new Map(),
      mappedBytes: new Map(),
    };
    all.set(inode, a);
  }
  return a;
}

function addFd(all: Map<number, Acc>, pid: number, r: FdRef): void {
  const a = entry(all, r.inode);
  a.size = r.size;
  a.sizeFrom = "fdinfo";
  a.exporter = r.exporter;
  a.name = r.name ?? a.name;
  a.count = r.count;
  a.fdRefs.set(pid, (a.fdRefs.get(pid) ?? 0) + 1);
}

function addMap(all: Map<number, Acc>, pid: number, r: MapRef): void {
  const a = entry(all, r.inode);
  a.mapRefs.set(pid, (a.mapRefs.get(pid) ?? 0) + 1);
  a.mappedBytes.set(pid, (a.mappedBytes.get(pid) ?? 0) + r.length);
  if (a.name === null && r.name !== "") a.name = r.name;
}

function readName(reader: FsReader, procRoot: string, pid: number): string {
  try {
    return reader.readText(join(procRoot, pid, "comm")).replace(/\n$/, "") || "<unknown>";
  } catch {
    return "<unknown>";
  }
}

/**
 * The pids to scan: every numeric entry of the proc root. A proc root that cannot be listed but
 * has a `self` link (the simulated kernel shows only the calling process) gives that one pid.
 */
function pids(reader: FsReader, procRoot: string): { pids: number[]; scope: "all" | "self" } {
  let names: string[];
  try {
    names = reader.readDir(procRoot);
  } catch (e) {
    const self = selfPid(reader, procRoot);
    if (self === undefined) throw e;
    return { pids: [self], scope: "self" };
  }
  const pids = names.filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  return { pids, scope: "all" };
}

function selfPid(reader: FsReader, procRoot: string): number | undefined {
  try {
    const pid = Number(reader.readLink?.(join(procRoot, "self")));
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function source<T>(root: string | null | undefined, read: () => T): [T | undefined, string] {
  if (root === null) return [undefined, "skipped"];
  try {
    return [read(), "ok"];
  } catch (e) {
    const n = errnoOf(e);
    return [undefined, n === undefined ? (e as Error).name : errnoName(n)];
  }
}

function unreadable(pid: number, e: unknown): UnreadableProcess {
  const n = errnoOf(e);
  const code = n === undefined ? (e as Error).name : errnoName(n);
  const reason = code === "EACCES" || code === "EPERM" ? PTRACE_HINT : (e as Error).message;
  return { pid, code, reason, path: (e as { path?: string }).path ?? "" };
}

function finish(
  all: Map<number, Acc>,
  stats: Map<number, { size: number; exporter: string }>,
  from: SizeSource,
  counts: Map<number, number>,
): DmaBufferReport[] {
  return [...all.values()].sort((a, b) => a.inode - b.inode).map((a) => {
    if (a.sizeFrom === "maps") {
      const s = stats.get(a.inode);
      if (s) {
        a.size = s.size;
        a.exporter = s.exporter;
        a.sizeFrom = from;
      } else a.size = Math.max(0, ...a.mappedBytes.values());
      a.count ??= counts.get(a.inode) ?? null;
    }
    const holders = new Set([...a.fdRefs.keys(), ...a.mapRefs.keys()]);
    const pidList = [...holders].sort((x, y) => x - y);
    return {
      inode: a.inode,
      size: a.size,
      sizeFrom: a.sizeFrom,
      exporter: a.exporter,
      name: a.name,
      count: a.count,
      fdRefs: Object.fromEntries([...a.fdRefs].sort((x, y) => x[0] - y[0])),
      mapRefs: Object.fromEntries([...a.mapRefs].sort((x, y) => x[0] - y[0])),
      pids: pidList,
      pss: pidList.length ? Math.floor(a.size / pidList.length) : 0,
    };
  });
}

/**
 * Accounts every dma-buf held by a process: fds from `/proc/<pid>/fdinfo`, mappings from
 * `/proc/<pid>/maps`, sizes of mapped-only buffers from sysfs stats or debugfs bufinfo when
 * readable. Processes that may not be read are listed with the reason, not fatal; processes
 * and fds that disappear during the scan are skipped.
 *
 * @param options Which process, the roots and the reader.
 * @returns Buffers, processes, unreadable processes and totals.
 * @throws {Deno.errors.NotFound} When the proc root can be neither listed nor followed to `self`.
 *
 * @example Two processes sharing one buffer
 * ```ts
 * import { dmabufDump } from "@dmabuf/dmabuf/accounting";
 * import assert from "node:assert/strict";
 *
 * const fdinfo = "pos:\t0\nflags:\t02\nmnt_id:\t9\nino:\t5\nsize:\t8192\ncount:\t2\nexp_name:\tsystem\n";
 * const files: Record<string, string> = {
 *   "/p/10/fdinfo/3": fdinfo, "/p/10/maps": "", "/p/10/comm": "a\n",
 *   "/p/11/fdinfo/4": fdinfo, "/p/11/maps": "", "/p/11/comm": "b\n",
 * };
 * const reader = {
 *   readDir: (p: string) => ({ "/p": ["10", "11", "self"], "/p/10/fdinfo": ["3"], "/p/11/fdinfo": ["4"] })[p] ?? [],
 *   readText: (p: string) => files[p],
 * };
 * const dump = dmabufDump({ procRoot: "/p", reader, sysfsRoot: null, debugfsRoot: null });
 * assert.deepEqual(dump.buffers[0].pids, [10, 11]);
 * assert.equal(dump.buffers[0].pss, 4096);
 * assert.deepEqual(dump.processes.map((p) => [p.name, p.rss, p.pss]), [["a", 8192, 4096], ["b", 8192, 4096]]);
 * ```
 */
export function dmabufDump(options: DumpOptions = {}): DmabufDump {
  const reader = options.reader ?? denoFsReader();
  const procRoot = options.procRoot ?? "/proc";
  const all = new Map<number, Acc>();
  const bad: UnreadableProcess[] = [];
  const vanished: number[] = [];
  const held = new Set<number>();
  const scan = options.pid !== undefined
    ? { pids: [options.pid], scope: "pid" as const }
    : pids(reader, procRoot);
  for (const pid of scan.pids) {
    const proc = { procRoot, reader };
    for (const step of ["fdinfo", "maps"] as const) {
      try {
        if (step === "fdinfo") { for (const r of readFdRefs(pid, proc)) addFd(all, pid, r); }
        else for (const r of readMapRefs(pid, proc)) addMap(all, pid, r);
      } catch (e) {
        if (isGone(e) && options.pid === undefined) {
          if (!vanished.includes(pid)) vanished.push(pid);
        } else bad.push(unreadable(pid, e));
        break;
      }
    }
    held.add(pid);
  }
  const [sysfs, sysfsState] = source(
    options.sysfsRoot,
    () => readSysfsBuffers({ sysfsRoot: options.sysfsRoot ?? "/sys", reader }),
  );
  const [bufinfo, debugfsState] = source(
    options.debugfsRoot,
    () => readBufinfo({ debugfsRoot: options.debugfsRoot ?? "/sys/kernel/debug", reader }),
  );
  const stats = new Map<number, { size: number; exporter: string }>();
  for (const b of (sysfs ?? bufinfo?.buffers ?? []) as (SysfsBuffer | BufinfoBuffer)[]) {
    stats.set(b.inode, { size: b.size, exporter: b.exporter });
  }
  const counts = new Map((bufinfo?.buffers ?? []).map((b) => [b.inode, b.count]));
  const buffers = finish(all, stats, sysfs ? "sysfs" : "debugfs", counts);
  const exported = exportedBuffers(
    sysfs,
    bufinfo,
    new Map(buffers.map((b) => [b.inode, b.pids])),
  );
  const processes: ProcessReport[] = [];
  for (const pid of [...held].sort((a, b) => a - b)) {
    const mine = buffers.filter((b) => b.pids.includes(pid));
    if (mine.length === 0) continue;
    processes.push({
      pid,
      name: readName(reader, procRoot, pid),
      rss: mine.reduce((s, b) => s + b.size, 0),
      pss: mine.reduce((s, b) => s + b.pss, 0),
      buffers: mine.map((b) => ({
        inode: b.inode,
        fds: b.fdRefs[pid] ?? 0,
        maps: b.mapRefs[pid] ?? 0,
      })),
    });
  }
  const userspaceRss = buffers.reduce((s, b) => s + b.size, 0);
  const exportedBytes = sysfs
    ? sysfs.reduce((s, b) => s + b.size, 0)
    : bufinfo
    ? bufinfo.totalBytes
    : null;
  return {
    scope: scan.scope,
    buffers,
    processes,
    unreadable: bad,
    vanished: vanished.filter((p) => !bad.some((b) => b.pid === p)),
    sources: { sysfs: sysfsState, debugfs: debugfsState },
    exported,
    exporters: exported && exporterTotals(exported),
    totals: {
      buffers: buffers.length,
      userspaceRss,
      userspacePss: processes.reduce((s, p) => s + p.pss, 0),
      exportedBytes,
      kernelRss: exportedBytes === null ? null : exportedBytes - userspaceRss,
    },
  };
}
