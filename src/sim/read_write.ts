/**
 * fs/read_write.c: `lseek(2)`, and `read(2)` of a whole procfs, debugfs or sysfs text file (the
 * only files the model reads as text).
 *
 * @module
 */
import { Errno, fail, is_int } from "./errno.ts";
import { FMODE_LSEEK } from "./file_table.ts";
import { proc_readtext, type ProcNode } from "./procfs.ts";
import type { Task } from "./sched.ts";

/**
 * `ksys_lseek()`: the file's `llseek`.
 *
 * @throws {KernelError} EBADF for a closed fd, ESPIPE for a file that cannot seek, EINVAL for
 * bad arguments or the driver's refusal.
 */
export function ksys_lseek(current: Task, fd: number, offset: number, whence: number): number {
  const f = current.files.fdget(fd);
  if (!(f.f_mode & FMODE_LSEEK) || !f.f_op.llseek) fail(Errno.ESPIPE);
  if (!is_int(offset) || !is_int(whence)) fail(Errno.EINVAL);
  return f.f_op.llseek(f, offset, whence);
}

/**
 * Opens, reads to the end and closes a text file.
 *
 * @throws {KernelError} EISDIR for a directory, ENOENT for a missing file, EACCES without ptrace
 * access to another process's files.
 */
export function read_text_file(node: ProcNode, path: string): string {
  if (node.machine.dev.readdir(path)) fail(Errno.EISDIR);
  return proc_readtext(node, path);
}
