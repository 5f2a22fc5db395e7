/**
 * fs/file_table.c and include/linux/fs.h in miniature: `struct file`, `struct inode`,
 * `struct file_operations`, and the reference counting of files (`get_file`, `fput`).
 *
 * @module
 */
import type { Task } from "./sched.ts";
import type { poll_table } from "./wait.ts";
import type { vm_area_struct } from "./mmap.ts";
import { O_ACCMODE } from "../uapi/constants.ts";

/** `FMODE_READ`. */
export const FMODE_READ = 0x1;
/** `FMODE_WRITE`. */
export const FMODE_WRITE = 0x2;
/** `FMODE_LSEEK`. */
export const FMODE_LSEEK = 0x4;
/** `FMODE_PREAD`. */
export const FMODE_PREAD = 0x8;
/** `FMODE_PWRITE`. */
export const FMODE_PWRITE = 0x10;
/** `FMODE_CAN_READ`. */
export const FMODE_CAN_READ = 0x20000;
/** `FMODE_CAN_WRITE`. */
export const FMODE_CAN_WRITE = 0x40000;
/** `FMODE_OPENED`. */
export const FMODE_OPENED = 0x80000;

/** `O_LARGEFILE` on x86_64, which `open(2)` forces on 64-bit kernels. */
export const O_LARGEFILE = 0o100000;

/** `OPEN_FMODE(flags)`: FMODE_READ/FMODE_WRITE from the access mode. */
export function OPEN_FMODE(flags: number): number {
  return (flags + 1) & O_ACCMODE;
}

/** The kind of an inode, for the few places that check `S_ISREG` and friends. */
export type InodeKind = "anon" | "chr" | "reg";

/** `struct inode` (only what the model needs). */
export interface inode {
  /** Inode number. */
  readonly i_ino: number;
  /** File type. */
  readonly kind: InodeKind;
  /** Size in bytes. */
  i_size: number;
  /** Mount id of the file system it lives on, as fdinfo `mnt_id:` shows. */
  readonly mnt_id: number;
}

/** `struct file_operations`: every op is optional, as in C. */
export interface file_operations {
  /** `open`: called once the file exists; may set `private_data` or throw. */
  open?(inode: inode, file: file, current: Task): void;
  /** `llseek`; absent means the VFS default for the inode kind. */
  llseek?(file: file, offset: number, whence: number): number;
  /** `unlocked_ioctl`; `arg` is the user address (0 for NULL). Returns the ioctl's value. */
  unlocked_ioctl?(file: file, cmd: number, arg: number, current: Task): number;
  /** `mmap`: fill in the VMA (its memory) or throw. */
  mmap?(file: file, vma: vm_area_struct): void;
  /** `poll`: returns the ready mask. */
  poll?(file: file, events: number, pt?: poll_table): number;
  /** `release`: the last reference was put. */
  release?(inode: inode, file: file): void;
  /** `show_fdinfo`: text appended to `/proc/<pid>/fdinfo/<fd>`. */
  show_fdinfo?(file: file): string;
}

/** `struct file`. */
export class file {
  /** The file's operations. */
  readonly f_op: file_operations;
  /** `f_flags`: the open flags kept by the file (access mode, O_NONBLOCK, O_LARGEFILE…). */
  f_flags: number;
  /** `f_mode`: FMODE_* bits. */
  f_mode: number;
  /** `f_count`: references (fd table slots, VMAs, in-kernel gets). */
  f_count = 1;
  /** `f_pos`. */
  f_pos = 0;
  /** The inode. */
  readonly f_inode: inode;
  /** What `readlink(/proc/self/fd/N)` shows (`d_path`, or a `dname` callback). */
  readonly d_path: () => string;
  /** The driver's pointer. */
  private_data: unknown;

  /**
   * `alloc_file_pseudo()` / `do_dentry_open()` result.
   *
   * @param f_op The operations.
   * @param ino The inode.
   * @param flags `f_flags`.
   * @param mode `f_mode`.
   * @param d_path The path shown by readlink.
   * @param private_data The driver's pointer.
   */
  constructor(
    f_op: file_operations,
    ino: inode,
    flags: number,
    mode: number,
    d_path: () => string,
    private_data: unknown = null,
  ) {
    this.f_op = f_op;
    this.f_inode = ino;
    this.f_flags = flags;
    this.f_mode = mode;
    this.d_path = d_path;
    this.private_data = private_data;
  }
}

/** `get_file(f)`: takes a reference. */
export function get_file(f: file): file {
  f.f_count++;
  return f;
}

/**
 * `fput(f)`: drops a reference; the last one runs `f_op->release` (`__fput`).
 *
 * @returns True when this was the last reference.
 */
export function fput(f: file): boolean {
  if (--f.f_count > 0) return false;
  f.f_op.release?.(f.f_inode, f);
  return true;
}

/** `file_count(f)`. */
export function file_count(f: file): number {
  return f.f_count;
}
