/**
 * fs/file.c: the per-process fd table (`struct files_struct`): lowest-free fd allocation,
 * `fd_install`, `close_fd`, `fget`, close-on-exec bits.
 *
 * The lowest free fd is found with a min-heap of released fds below the high-water mark (lazy
 * deletion), so allocation stays O(log n) with any number of open files.
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import { type file, fput, get_file } from "./file_table.ts";

/** `struct files_struct`. */
export class files_struct {
  readonly #fd: (file | undefined)[] = [];
  readonly #cloexec: boolean[] = [];
  /** Released fds below `#high`, as a binary min-heap (may hold stale, re-used entries). */
  readonly #free: number[] = [];
  /** Every fd >= #high is free. */
  #high = 0;
  /** `RLIMIT_NOFILE`: fds must be below this. */
  readonly rlimit_nofile: number;
  /** Number of open fds. */
  count = 0;

  /**
   * An empty table.
   *
   * @param rlimit_nofile The `RLIMIT_NOFILE` soft limit.
   */
  constructor(rlimit_nofile: number) {
    this.rlimit_nofile = rlimit_nofile;
  }

  #heap_push(v: number): void {
    const h = this.#free;
    let i = h.length;
    h.push(v);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p] <= v) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = v;
  }

  #heap_pop(): number {
    const h = this.#free;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i, mv = last;
        if (l < h.length && h[l] < mv) (m = l), (mv = h[l]);
        if (r < h.length && h[r] < mv) (m = r), (mv = h[r]);
        if (m === i) break;
        h[i] = h[m];
        i = m;
      }
      h[i] = last;
    }
    return top;
  }

  /**
   * `get_unused_fd_flags(flags)` + `fd_install(fd, file)` in one step: installs `f` (taking over
   * the caller's reference) at the lowest free fd.
   *
   * @throws {KernelError} EMFILE when the table is full.
   */
  fd_install(f: file, cloexec: boolean): number {
    let fd = -1;
    while (this.#free.length > 0) {
      const c = this.#heap_pop();
      if (c < this.#high && this.#fd[c] === undefined) {
        fd = c;
        break;
      }
    }
    if (fd < 0) {
      if (this.#high >= this.rlimit_nofile) fail(Errno.EMFILE);
      fd = this.#high++;
    }
    this.#set(fd, f, cloexec);
    return fd;
  }

  /**
   * {@linkcode fd_install}, and on failure `fput(f)`: what every syscall that makes a file and
   * returns its fd does (`get_unused_fd_flags()`, then `fput()` of the new file when no fd is
   * free). The caller's reference is gone either way.
   *
   * @throws {KernelError} EMFILE when the table is full.
   */
  fd_install_or_fput(f: file, cloexec: boolean): number {
    try {
      return this.fd_install(f, cloexec);
    } catch (e) {
      fput(f);
      throw e;
    }
  }

  /** Closes every fd (`exit_files()` at process exit). */
  exit_files(): void {
    for (const fd of this.open_fds()) this.close_fd(fd);
  }

  /**
   * `f_dupfd(from, file, flags)`: installs a new reference to `f` at the lowest free fd >= `from`.
   *
   * @throws {KernelError} EINVAL when `from` is out of range, EMFILE when nothing is free.
   */
  f_dupfd(from: number, f: file, cloexec: boolean): number {
    if (from < 0 || from >= this.rlimit_nofile) fail(Errno.EINVAL);
    if (from === 0) return this.fd_install(get_file(f), cloexec);
    let fd = from;
    while (fd < this.#high && this.#fd[fd] !== undefined) fd++;
    if (fd >= this.rlimit_nofile) fail(Errno.EMFILE);
    if (fd >= this.#high) {
      for (let i = this.#high; i < fd; i++) this.#heap_push(i);
      this.#high = fd + 1;
    }
    this.#set(fd, get_file(f), cloexec);
    return fd;
  }

  #set(fd: number, f: file, cloexec: boolean): void {
    this.#fd[fd] = f;
    this.#cloexec[fd] = cloexec;
    this.count++;
  }

  /** `files_lookup_fd_raw(fd)`: the file at `fd` without taking a reference, or undefined. */
  lookup(fd: number): file | undefined {
    return Number.isInteger(fd) && fd >= 0 ? this.#fd[fd] : undefined;
  }

  /**
   * `fdget(fd)`-style look-up for syscalls.
   *
   * @throws {KernelError} EBADF when `fd` is not open.
   */
  fdget(fd: number): file {
    const f = this.lookup(fd);
    if (!f) fail(Errno.EBADF);
    return f;
  }

  /** `fget(fd)`: the file at `fd` with a new reference, or undefined. */
  fget(fd: number): file | undefined {
    const f = this.lookup(fd);
    return f ? get_file(f) : undefined;
  }

  /** Whether close-on-exec is set on `fd`. */
  close_on_exec(fd: number): boolean {
    return this.#cloexec[fd] === true;
  }

  /** `__set_close_on_exec` / `__clear_close_on_exec`. */
  set_close_on_exec(fd: number, on: boolean): void {
    if (this.#fd[fd] !== undefined) this.#cloexec[fd] = on;
  }

  /**
   * `close_fd(fd)`: empties the slot and drops its reference.
   *
   * @throws {KernelError} EBADF when `fd` is not open.
   */
  close_fd(fd: number): void {
    const f = this.fdget(fd);
    this.#fd[fd] = undefined;
    this.#cloexec[fd] = false;
    this.count--;
    if (fd === this.#high - 1) this.#high--;
    else this.#heap_push(fd);
    // Trailing free fds may now sit below #high in the heap; that is fine (lazy deletion).
    fput(f);
  }

  /** The open fds in ascending order (for `/proc/self/fd`). */
  open_fds(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.#high; i++) if (this.#fd[i] !== undefined) out.push(i);
    return out;
  }
}
