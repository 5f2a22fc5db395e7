/**
 * include/linux/uaccess.h: moving bytes between the kernel and the calling process's memory
 * (user buffers and mmap'd regions). A bad address is `-EFAULT`, never a crash.
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import type { Task } from "./sched.ts";
import type { UserMemory } from "./mmap.ts";
import type { MachineContext } from "./context.ts";
import type { file } from "./file_table.ts";

/** Per machine: payload bytes moved by copy_from_user/copy_to_user (see below). */
const payload_bytes = new WeakMap<MachineContext, number>();

/** Which files' mappings hold payload: set by the dma-buf core when it loads. */
let is_payload_file: (f: file) => boolean = () => false;

/**
 * Hooks the payload counter: copies from or to user memory that maps a file for which `test`
 * is true count as payload. The dma-buf core (`dma_buf.ts`) registers `is_dma_buf_file`, so
 * this file does not depend on it.
 */
export function uaccess_count_payload(test: (f: file) => boolean): void {
  is_payload_file = test;
}

/**
 * Bytes that `copy_from_user`/`copy_to_user` moved from or to user memory that maps a dma-buf
 * (the model's own counter, not a Linux one): zero means no payload crossed the user/kernel
 * boundary by copy — drivers reached it through the sg table or a vmap instead.
 */
export function uaccess_payload_bytes(m: MachineContext): number {
  return payload_bytes.get(m) ?? 0;
}

function account(current: Task, m: UserMemory, n: number): void {
  if (m.file && is_payload_file(m.file)) {
    payload_bytes.set(current.machine, uaccess_payload_bytes(current.machine) + n);
  }
}

/**
 * `copy_from_user(to, from, n)`: `n` bytes at user address `from`, copied.
 *
 * @throws {KernelError} EFAULT when any of the bytes is not mapped.
 */
export function copy_from_user(current: Task, from: number, n: number): Uint8Array {
  if (n === 0) return new Uint8Array(0);
  const m = current.mm.resolve(from);
  if (!m || m.bytes.length < n) fail(Errno.EFAULT, "copy_from_user: bad address");
  account(current, m, n);
  return m.bytes.slice(0, n);
}

/**
 * `copy_from_user(to, from, n)` into a kernel buffer: fills `to` from user address `from`.
 *
 * @throws {KernelError} EFAULT when any of the bytes is not mapped.
 */
export function copy_from_user_into(current: Task, to: Uint8Array, from: number, n: number): void {
  if (n === 0) return;
  const m = current.mm.resolve(from);
  if (!m || m.bytes.length < n) fail(Errno.EFAULT, "copy_from_user: bad address");
  account(current, m, n);
  to.set(n === m.bytes.length ? m.bytes : m.bytes.subarray(0, n));
}

/**
 * `copy_to_user(to, from, n)`: writes the first `n` bytes of `data` at user address `to`.
 *
 * @throws {KernelError} EFAULT when any byte is not mapped or not writable.
 */
export function copy_to_user(current: Task, to: number, data: Uint8Array, n = data.length): void {
  if (n === 0) return;
  const m = current.mm.resolve(to);
  if (!m || !m.writable || m.bytes.length < n) {
    fail(Errno.EFAULT, "copy_to_user: bad address");
  }
  if (n === data.length) m.bytes.set(data);
  else for (let i = 0; i < n; i++) m.bytes[i] = data[i];
  account(current, m, n);
  m.written?.();
}

/**
 * `strndup_user(s, n)`: a NUL-terminated string of at most `n - 1` bytes.
 *
 * @throws {KernelError} EFAULT for a NULL or unmapped pointer, EINVAL when no NUL is found
 *   within `n` bytes.
 */
export function strndup_user(current: Task, s: number, n: number): string {
  const m = current.mm.resolve(s);
  if (!m) fail(Errno.EFAULT, "strndup_user: bad address");
  const limit = Math.min(n, m.bytes.length);
  const nul = m.bytes.subarray(0, limit).indexOf(0);
  if (nul < 0) {
    // strnlen_user ran off the mapping before n bytes: a fault; else the string is too long.
    if (limit < n) fail(Errno.EFAULT, "strndup_user: bad address");
    fail(Errno.EINVAL, "strndup_user: string too long");
  }
  return new TextDecoder().decode(m.bytes.subarray(0, nul));
}

/**
 * The tail of an ioctl that hands a new fd back inside its argument (`SW_SYNC_IOC_CREATE_FENCE`,
 * `SYNC_IOC_MERGE`, `DMA_BUF_IOCTL_EXPORT_SYNC_FILE`). The kernel takes an fd with
 * `get_unused_fd_flags(O_CLOEXEC)`, writes it into the argument, `copy_to_user()`s the argument
 * and calls `fd_install()` only when that succeeded (else `put_unused_fd()` + `fput()`). Here:
 * installs `f` close-on-exec (dropping `f` when no fd is free), lets `setFd` write the fd into
 * `data`, copies `data` to `arg`, and closes the fd again when that faults — the caller never
 * sees a new fd after an error. Returns the fd.
 *
 * @throws {KernelError} EMFILE when the fd table is full, EFAULT when `arg` is not writable.
 */
export function fd_install_copy_to_user(
  current: Task,
  f: file,
  arg: number,
  data: Uint8Array,
  setFd: (fd: number) => void,
): number {
  const fd = current.files.fd_install_or_fput(f, true);
  setFd(fd);
  try {
    copy_to_user(current, arg, data);
  } catch (e) {
    current.files.close_fd(fd);
    throw e;
  }
  return fd;
}
