/**
 * fs/char_dev.c + drivers/base/devtmpfs.c in miniature: character device nodes under `/dev`,
 * opened through `chrdev_open` into a `struct file` that carries the driver's fops.
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import {
  file,
  type file_operations,
  FMODE_CAN_READ,
  FMODE_CAN_WRITE,
  FMODE_LSEEK,
  FMODE_OPENED,
  FMODE_PREAD,
  FMODE_PWRITE,
  type inode,
  O_LARGEFILE,
  OPEN_FMODE,
} from "./file_table.ts";
import type { Task } from "./sched.ts";
import { O_ACCMODE, O_CLOEXEC, O_EXCL, O_RDONLY, O_WRONLY } from "../uapi/constants.ts";

/** A device node (`struct cdev` + its devtmpfs inode). */
export interface cdev {
  /** Absolute path, e.g. `/dev/dma_heap/system`. */
  readonly path: string;
  /** The operations. */
  readonly fops: file_operations;
  /** The devtmpfs inode. */
  readonly inode: inode;
  /** Driver data (`container_of` target), handed to `open`. */
  readonly data: unknown;
}

/** `O_CREAT`. */
const O_CREAT = 0o100;
/** `O_NOCTTY`. */
const O_NOCTTY = 0o400;
/** `O_TRUNC`. */
const O_TRUNC = 0o1000;
/** Flags `open(2)` drops from `f_flags` (`O_CREAT|O_EXCL|O_NOCTTY|O_TRUNC`). */
const OPEN_DROPPED = O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC;

/**
 * `chrdev_open()` → `do_dentry_open()`: makes the file and calls the driver's `open`.
 *
 * @throws {KernelError} What the driver's open throws.
 */
export function chrdev_open(c: cdev, flags: number, current: Task): file {
  const mode = OPEN_FMODE(flags) | FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE | FMODE_OPENED |
    ((flags & O_ACCMODE) !== O_WRONLY ? FMODE_CAN_READ : 0) |
    ((flags & O_ACCMODE) !== O_RDONLY ? FMODE_CAN_WRITE : 0);
  const f = new file(
    c.fops,
    c.inode,
    (flags & ~OPEN_DROPPED & ~O_CLOEXEC) | O_LARGEFILE,
    mode,
    () => c.path,
    c.data,
  );
  if (c.fops.open) {
    try {
      c.fops.open(c.inode, f, current);
    } catch (e) {
      f.f_count = 0;
      throw e;
    }
  }
  return f;
}

/** `nonseekable_open()`: the file cannot seek (`lseek` → ESPIPE). */
export function nonseekable_open(f: file): void {
  f.f_mode &= ~(FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE);
}

/**
 * The node tree of one in-memory file system of device-like files: `/dev` (devtmpfs), or
 * debugfs under `/sys/kernel/debug`.
 */
export class Devtmpfs {
  readonly #nodes = new Map<string, cdev>();
  readonly #dirs: Map<string, Set<string>>;
  /** Mount id of the file system. */
  readonly mnt_id: number;
  /** Where it is mounted (`/dev`). */
  readonly root: string;
  readonly #next_ino: () => number;

  /**
   * An empty tree.
   *
   * @param mnt_id Mount id shown in fdinfo.
   * @param next_ino `get_next_ino()` of the machine.
   * @param root Mount point (default `/dev`).
   */
  constructor(mnt_id: number, next_ino: () => number, root = "/dev") {
    this.mnt_id = mnt_id;
    this.#next_ino = next_ino;
    this.root = root;
    this.#dirs = new Map([[root, new Set()]]);
  }

  /**
   * `device_create()` + devtmpfs node (or `debugfs_create_file()`): `<root>/<nodename>`.
   *
   * @throws {KernelError} EEXIST when the node exists.
   */
  add(nodename: string, fops: file_operations, data: unknown): cdev {
    const path = `${this.root}/${nodename}`;
    if (this.#nodes.has(path)) fail(Errno.EEXIST);
    const parts = nodename.split("/").filter(Boolean);
    let dir = this.root;
    for (let i = 0; i < parts.length; i++) {
      this.#dirs.get(dir)!.add(parts[i]);
      dir += "/" + parts[i];
      if (i < parts.length - 1 && !this.#dirs.has(dir)) this.#dirs.set(dir, new Set());
    }
    const c: cdev = {
      path,
      fops,
      data,
      inode: { i_ino: this.#next_ino(), kind: "chr", i_size: 0, mnt_id: this.mnt_id },
    };
    this.#nodes.set(path, c);
    return c;
  }

  /** Removes a node (`device_destroy`). */
  remove(path: string): void {
    if (!this.#nodes.delete(path)) return;
    const i = path.lastIndexOf("/");
    this.#dirs.get(path.slice(0, i))?.delete(path.slice(i + 1));
  }

  /** The node at `path`, or undefined. */
  lookup(path: string): cdev | undefined {
    return this.#nodes.get(path);
  }

  /** Entries of a directory under `/dev`, or undefined when it is not one. */
  readdir(path: string): string[] | undefined {
    const set = this.#dirs.get(path);
    return set ? [...set].sort() : undefined;
  }
}
