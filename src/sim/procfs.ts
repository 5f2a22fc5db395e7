/**
 * fs/proc/ (base.c, fd.c, task_mmu.c) and the debugfs file of dma-buf: the text files and links
 * user space reads to account for buffers. `/proc` lists every live process of the machine;
 * `/proc/self` is the caller. Another process's `fd`, `fdinfo` and `maps` need ptrace read
 * access (EACCES otherwise, as Linux); `comm` is world-readable. An exited process is ENOENT.
 * `/sys/kernel/debug/dma_buf/bufinfo` is `dma_buf_debug_show`.
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import { fput, get_file } from "./file_table.ts";
import { dma_buf_debug_show } from "./dma_buf.ts";
import { VM_READ, VM_SHARED, VM_WRITE } from "./mmap.ts";
import { PAGE_SIZE } from "./mm.ts";
import type { SimMachine } from "./machine.ts";
import type { Task } from "./sched.ts";
import { type pid_task, ptrace_may_access } from "./pid.ts";
import { O_CLOEXEC } from "../uapi/constants.ts";

/** Who is reading: the calling task and its machine. */
export interface ProcNode {
  /** The calling task (`/proc/self`). */
  readonly task: Task;
  /** Its machine. */
  readonly machine: SimMachine;
}

const BUFINFO = "/sys/kernel/debug/dma_buf/bufinfo";

/** A process's directory: the task and the rest of the path. */
interface TaskPath {
  task: Task;
  rest: string;
}

/** Splits `/proc/self/...` or `/proc/<pid>/...` into the task and the rest, or undefined. */
function task_path(node: ProcNode, path: string): TaskPath | undefined {
  const m = /^\/proc\/(self|\d+)(\/.*)?$/.exec(path);
  if (!m) return undefined;
  const task = m[1] === "self" || Number(m[1]) === node.task.pid
    ? node.task
    : node.machine.find_task_by_vpid(Number(m[1]));
  if (!task) fail(Errno.ENOENT);
  return { task, rest: m[2] ?? "" };
}

/** `proc_fd_access_allowed()` / `mm_access()`: EACCES without ptrace read access. */
function may_read(node: ProcNode, task: Task): void {
  if (task === node.task) return;
  const caller = node.machine.find_task_by_vpid(node.task.pid) as pid_task | undefined;
  if (!caller || !ptrace_may_access(caller, task as unknown as pid_task)) fail(Errno.EACCES);
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
  if (path === "/sys/kernel/debug") return ["dma_buf"];
  if (path === "/proc" || path === "/proc/") {
    return [...node.machine.processes.map((p) => String(p.pid)), "self"].sort();
  }
  const tp = task_path(node, path);
  const rest = tp?.rest;
  if (rest === "" || rest === "/") return ["comm", "fd", "fdinfo", "maps"];
  if (tp && (rest === "/fd" || rest === "/fdinfo")) {
    may_read(node, tp.task);
    return tp.task.files.open_fds().map(String).sort();
  }
  if (rest !== undefined && (fd_of(rest, "/fd/") ?? -1) >= 0) fail(Errno.ENOTDIR);
  fail(Errno.ENOENT);
}

/**
 * Reads a procfs or debugfs text file.
 *
 * @throws {KernelError} ENOENT when there is no such file.
 */
export function proc_readtext(node: ProcNode, path: string): string {
  if (path === BUFINFO) return dma_buf_debug_show(node.machine.dma_buf);
  const tp = task_path(node, path);
  if (tp === undefined) fail(Errno.ENOENT);
  const rest = tp.rest;
  if (rest === "/comm") return `${tp.task.comm.slice(0, 15)}\n`;
  if (rest === "/maps") {
    may_read(node, tp.task);
    return proc_maps(tp.task);
  }
  const fd = fd_of(rest, "/fdinfo/");
  if (fd !== undefined) {
    if (fd < 0) fail(Errno.ENOENT);
    may_read(node, tp.task);
    return proc_fdinfo(tp.task, fd);
  }
  if (rest === "/fd" || rest === "/fdinfo" || rest === "") fail(Errno.EISDIR);
  fail(Errno.ENOENT);
}

/**
 * `readlink` of `/proc/<pid>/fd/<fd>` (the file's path) or `/proc/self` (the pid).
 *
 * @throws {KernelError} ENOENT for a closed fd or unknown path, EINVAL for a non-link.
 */
export function proc_readlink(node: ProcNode, path: string): string {
  if (path === "/proc/self") return String(node.task.pid);
  const tp = task_path(node, path);
  if (tp === undefined) fail(Errno.ENOENT);
  const rest = tp.rest;
  const fd = fd_of(rest, "/fd/");
  if (fd !== undefined) {
    may_read(node, tp.task);
    const f = fd >= 0 ? tp.task.files.lookup(fd) : undefined;
    if (!f) fail(Errno.ENOENT);
    return f.d_path();
  }
  if (["", "/fd", "/fdinfo", "/maps", "/comm"].includes(rest)) fail(Errno.EINVAL);
  fail(Errno.ENOENT);
}
