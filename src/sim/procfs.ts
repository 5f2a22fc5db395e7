/**
 * fs/proc/ (fd.c, task_mmu.c) and the debugfs file of dma-buf: the text files and links user
 * space reads to account for buffers. `/proc` lists every live process; `/proc/self` is the
 * calling one. Another process's `fd`, `fdinfo` and `maps` need ptrace read access (EACCES);
 * `comm` is world-readable. `/sys/kernel/debug/dma_buf/bufinfo` is `dma_buf_debug_show`.
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import { fput, get_file } from "./file_table.ts";
import { type dma_buf, dma_buf_debug_show } from "./dma_buf.ts";
import { VM_READ, VM_SHARED, VM_WRITE } from "./mmap.ts";
import { PAGE_SIZE } from "./mm.ts";
import type { DriverContext } from "./driver_context.ts";
import type { Task } from "./sched.ts";
import { ptrace_may_access } from "./pid.ts";
import { O_CLOEXEC } from "../uapi/constants.ts";
import { UDMABUF_SIZE_LIMIT_MB } from "../uapi/udmabuf.ts";

/** Who is reading: the calling task and its machine. */
export interface ProcNode {
  /** The calling task (`/proc/self`). */
  readonly task: Task;
  /** Its machine (with the dma-buf core, for debugfs and sysfs). */
  readonly machine: DriverContext;
}

const BUFINFO = "/sys/kernel/debug/dma_buf/bufinfo";
const SYSFS_BUFFERS = "/sys/kernel/dmabuf/buffers";
const UDMABUF_SIZE_LIMIT = "/sys/module/udmabuf/parameters/size_limit_mb";

/** The buffer of `/sys/kernel/dmabuf/buffers/<ino>`, or undefined. */
function sysfs_buffer(node: ProcNode, dir: string): dma_buf | undefined {
  const m = /^\/sys\/kernel\/dmabuf\/buffers\/(\d+)$/.exec(dir);
  return m ? node.machine.dma_buf.sysfs_stats?.get(Number(m[1])) : undefined;
}

/**
 * Splits `/proc/self/...`, `/proc/thread-self/...` or `/proc/<pid>/...` into the task and the
 * rest, or undefined when the path is not under a pid. Every live process of the machine is
 * visible (as to root). The model's processes have one thread, so `thread-self` (fs/proc/
 * thread_self.c: the calling thread, whose `comm` sw_sync names a timeline after) is `self`.
 */
function pid_path(node: ProcNode, path: string): { task: Task; rest: string } | undefined {
  const m = /^\/proc\/(self|thread-self|\d+)(\/.*)?$/.exec(path);
  if (!m) return undefined;
  const task = m[1] === "self" || m[1] === "thread-self"
    ? node.task
    : node.machine.tasks.get(Number(m[1]));
  if (!task) fail(Errno.ENOENT);
  return { task, rest: m[2] ?? "" };
}

/**
 * `proc_fd_access_allowed()` / `mm_access()`: another process's `fd`, `fdinfo` and `maps` need
 * ptrace read access (same uid and dumpable, or root); EACCES otherwise, as Linux.
 */
function may_read(node: ProcNode, task: Task): void {
  if (task === node.task) return;
  const caller = node.task, target = task;
  if (caller.uid === undefined || target.uid === undefined) return; // a task without credentials
  if (!ptrace_may_access(caller, target)) fail(Errno.EACCES);
}

function fd_of(rest: string, prefix: string): number | undefined {
  if (!rest.startsWith(prefix)) return undefined;
  const s = rest.slice(prefix.length);
  return /^(0|[1-9]\d*)$/.test(s) ? Number(s) : -1;
}

/**
 * `seq_show()` of `/proc/<pid>/fdinfo/<fd>`: four lines, then the file's `show_fdinfo`.
 * Takes a temporary reference like procfs does, which `dma_buf_show_fdinfo` subtracts.
 */
export function proc_fdinfo(task: Task, fd: number): string {
  const f = task.files.lookup(fd);
  if (!f) fail(Errno.ENOENT);
  get_file(f);
  try {
    const flags = f.f_flags | (task.files.close_on_exec(fd) ? O_CLOEXEC : 0);
    let s = `pos:\t${f.f_pos}\nflags:\t0${
      flags.toString(8)
    }\nmnt_id:\t${f.f_inode.mnt_id}\nino:\t${f.f_inode.i_ino}\n`;
    if (f.f_op.show_fdinfo) s += f.f_op.show_fdinfo(f);
    return s;
  } finally {
    fput(f);
  }
}

/** `show_val_kb()`: the label padded to 16 columns, the value right-aligned in 8, " kB". */
function show_val_kb(label: string, pages: number): string {
  return `${label.padEnd(16)}${String((pages * PAGE_SIZE) / 1024).padStart(8)} kB\n`;
}

/**
 * `meminfo_proc_show()`, the lines the model can back: RAM handed to the page allocator
 * (including the CMA areas, as Linux counts them), what is free, and the CMA totals.
 */
export function meminfo_proc_show(m: DriverContext): string {
  let cmaTotal = 0, cmaFree = 0;
  for (const c of m.cma_areas) {
    cmaTotal += c.count;
    cmaFree += c.count - c.used;
  }
  const total = m.zone.managed_pages + cmaTotal, free = m.zone.nr_free + cmaFree;
  return show_val_kb("MemTotal:", total) + show_val_kb("MemFree:", free) +
    show_val_kb("MemAvailable:", free) + show_val_kb("CmaTotal:", cmaTotal) +
    show_val_kb("CmaFree:", cmaFree);
}

/** `show_map_vma()` lines of `/proc/<pid>/maps`. */
export function proc_maps(task: Task): string {
  let s = "";
  for (const v of task.mm.vmas()) {
    const perms = (v.vm_flags & VM_READ ? "r" : "-") + (v.vm_flags & VM_WRITE ? "w" : "-") + "-" +
      (v.vm_flags & VM_SHARED ? "s" : "p");
    const f = v.vm_file;
    const head = `${v.vm_start.toString(16).padStart(8, "0")}-${
      v.vm_end.toString(16).padStart(8, "0")
    } ${perms} ${(v.vm_pgoff * PAGE_SIZE).toString(16).padStart(8, "0")} 00:${
      (f?.f_inode.mnt_id ?? 0).toString(16).padStart(2, "0")
    } ${f?.f_inode.i_ino ?? 0} `;
    s += f ? head.padEnd(73) + f.d_path() + "\n" : head + "\n";
  }
  return s;
}

/**
 * `getdents` of a procfs or debugfs directory.
 *
 * @throws {KernelError} ENOENT when there is no such directory.
 */
export function proc_readdir(node: ProcNode, path: string): string[] {
  if (path === "/sys/kernel/debug/dma_buf") return ["bufinfo"];
  if (path === "/sys/kernel/debug") {
    return ["dma_buf", ...node.machine.debugfs.readdir(path)!].sort();
  }
  const debugfs = node.machine.debugfs.readdir(path);
  if (debugfs) return debugfs;
  const stats = node.machine.dma_buf.sysfs_stats;
  if (stats && path === SYSFS_BUFFERS) return [...stats.keys()].map(String).sort();
  if (
    stats && sysfs_buffer(node, path) && !path.endsWith("/size") && !path.endsWith("/exporter_name")
  ) {
    return ["exporter_name", "size"];
  }
  if (path === "/proc" || path === "/proc/") {
    return ["meminfo", "self", ...[...node.machine.tasks.keys()].map(String)].sort();
  }
  const p = pid_path(node, path);
  if (p?.rest === "" || p?.rest === "/") return ["comm", "fd", "fdinfo", "maps"];
  if (p?.rest === "/fd" || p?.rest === "/fdinfo") {
    may_read(node, p.task);
    return p.task.files.open_fds().map(String).sort();
  }
  if (p && ((fd_of(p.rest, "/fd/") ?? -1) >= 0 || (fd_of(p.rest, "/fdinfo/") ?? -1) >= 0)) {
    fail(Errno.ENOTDIR);
  }
  fail(Errno.ENOENT);
}

/**
 * Reads a procfs or debugfs text file.
 *
 * @throws {KernelError} ENOENT when there is no such file.
 */
export function proc_readtext(node: ProcNode, path: string): string {
  if (path === BUFINFO) return dma_buf_debug_show(node.machine.dma_buf);
  // drivers/dma-buf/udmabuf.c: module_param(size_limit_mb, int, 0644), while the module is loaded.
  if (path === UDMABUF_SIZE_LIMIT && node.machine.dev.lookup("/dev/udmabuf")) {
    return `${UDMABUF_SIZE_LIMIT_MB}\n`;
  }
  if (path === "/proc/meminfo") return meminfo_proc_show(node.machine);
  if (path.startsWith(SYSFS_BUFFERS + "/")) {
    const d = sysfs_buffer(node, path.slice(0, path.lastIndexOf("/")));
    if (d && path.endsWith("/exporter_name")) return `${d.exp_name}\n`;
    if (d && path.endsWith("/size")) return `${d.size}\n`;
    if (sysfs_buffer(node, path)) fail(Errno.EISDIR);
    fail(Errno.ENOENT);
  }
  if (path === "/proc" || path === "/sys/kernel/debug/dma_buf") fail(Errno.EISDIR);
  const p = pid_path(node, path);
  if (p === undefined) fail(Errno.ENOENT);
  if (p.rest === "/maps") {
    may_read(node, p.task);
    return proc_maps(p.task);
  }
  if (p.rest === "/comm") return `${p.task.comm}\n`;
  const fd = fd_of(p.rest, "/fdinfo/");
  if (fd !== undefined) {
    if (fd < 0) fail(Errno.ENOENT);
    may_read(node, p.task);
    return proc_fdinfo(p.task, fd);
  }
  if (p.rest === "/fd" || p.rest === "/fdinfo" || p.rest === "") fail(Errno.EISDIR);
  fail(Errno.ENOENT);
}

/**
 * `readlink` of `/proc/<pid>/fd/<fd>` (the file's path) or `/proc/self` (the pid).
 *
 * @throws {KernelError} ENOENT for a closed fd or unknown path, EINVAL for a non-link.
 */
export function proc_readlink(node: ProcNode, path: string): string {
  if (path === "/proc/self") return String(node.task.pid);
  if (path === "/proc/thread-self") return `${node.task.pid}/task/${node.task.pid}`;
  const p = pid_path(node, path);
  if (p === undefined) fail(Errno.ENOENT);
  const fd = fd_of(p.rest, "/fd/");
  if (fd !== undefined) {
    may_read(node, p.task);
    const f = fd >= 0 ? p.task.files.lookup(fd) : undefined;
    if (!f) fail(Errno.ENOENT);
    return f.d_path();
  }
  if (["", "/fd", "/fdinfo", "/maps", "/comm"].includes(p.rest)) fail(Errno.EINVAL);
  fail(Errno.ENOENT);
}
