/**
 * A process of the simulated machine: the `Kernel` syscall boundary of `src/kernel/types.ts`,
 * as thin as `LinuxKernel` is. Each method runs one syscall body from the subsystem file Linux
 * keeps it in (`open.ts`, `ioctl.ts`, `fcntl.ts`, `read_write.ts`, `readdir.ts`, `stat.ts`,
 * `select.ts`, `mmap.ts`, `shmem.ts`, `socket.ts`, `pid.ts`) and turns a
 * {@linkcode KernelError} into the library's typed errno error.
 *
 * @module
 */
import type {
  Kernel,
  MappedRegion,
  PollRequest,
  ReceivedMessage,
  UserBuffer,
} from "../kernel/types.ts";
import { errnoError } from "../errors.ts";
import { Errno, fail, is_int, KernelError } from "./errno.ts";
import { files_struct } from "./file.ts";
import { get_file } from "./file_table.ts";
import { do_mmap, exit_mmap, mm_struct, mmap_check_args, vm_munmap } from "./mmap.ts";
import { PAGE_SIZE } from "./mm.ts";
import type { SimMachine } from "./machine.ts";
import type { Task } from "./sched.ts";
import { chrdev_open } from "./char_dev.ts";
import { sys_memfd_create } from "./shmem.ts";
import type { ProcNode } from "./procfs.ts";
import { do_sys_ftruncate, do_sys_open, path_lookup_limits } from "./open.ts";
import { unix_unlink } from "./af_unix.ts";
import { do_vfs_ioctl } from "./ioctl.ts";
import { do_fcntl } from "./fcntl.ts";
import { ksys_lseek, read_text_file } from "./read_write.ts";
import { iterate_dir } from "./readdir.ts";
import { do_readlinkat } from "./stat.ts";
import { do_poll, do_sys_poll, poll_async } from "./select.ts";
import { uaccess_payload_bytes } from "./uaccess.ts";
import {
  __sys_accept4,
  __sys_bind,
  __sys_connect,
  __sys_listen,
  __sys_recvmsg,
  __sys_sendmsg,
  __sys_socket,
  __sys_socketpair,
} from "./socket.ts";
import { sys_pidfd_getfd, sys_pidfd_open } from "./pid.ts";
import { O_RDWR } from "../uapi/constants.ts";

/** Credentials of a simulated process. */
export interface SimProcessOptions {
  /** The uid (default 0: root, which may ptrace anything). */
  uid?: number;
  /** Whether the process is dumpable (default true); a non-dumpable one refuses ptrace access. */
  dumpable?: boolean;
}

/**
 * A process on a {@linkcode SimMachine}: implements the `Kernel` syscall boundary with
 * `kind: "simulated"`. Needs no Deno permissions.
 */
export class SimProcess implements Kernel, Task {
  /** Always `"simulated"`. */
  readonly kind = "simulated" as const;
  /** 4096. */
  readonly pageSize: number = PAGE_SIZE;
  /** A one-line description. */
  readonly description: string;
  /** Process id. */
  readonly pid: number;
  /** Command name. */
  readonly comm: string;
  /** The fd table. */
  readonly files: files_struct;
  /** The address space. */
  readonly mm: mm_struct = new mm_struct();
  /** The machine. */
  readonly machine: SimMachine;
  /** The uid (0: root). */
  readonly uid: number;
  /** Whether ptrace access by other processes of the same uid is allowed. */
  dumpable: boolean;
  #exited = false;
  readonly #proc: ProcNode;

  /** @internal Use `machine.process()`. */
  constructor(machine: SimMachine, pid: number, comm: string, options: SimProcessOptions = {}) {
    this.machine = machine;
    this.pid = pid;
    this.comm = comm;
    this.uid = options.uid ?? 0;
    this.dumpable = options.dumpable ?? true;
    this.files = new files_struct(machine.nofile);
    this.#proc = { task: this, machine };
    this.description = `Simulated Linux 6.12 (pid ${pid}, ${
      machine.memory.size / 1048576
    } MiB RAM)`;
    const tty = machine.dev.lookup("/dev/pts/0")!;
    const f = chrdev_open(tty, O_RDWR, this);
    this.files.fd_install(f, false);
    this.files.fd_install(get_file(f), false);
    this.files.fd_install(get_file(f), false);
  }

  /** True once {@linkcode exit} ran. */
  get exited(): boolean {
    return this.#exited;
  }

  /**
   * `do_exit()`: unmaps every mapping, closes every fd (sockets release their in-flight fds),
   * and leaves the process table: `/proc/<pid>` disappears, pidfds see it gone (ESRCH), and
   * every later syscall of this object fails with ESRCH. Idempotent.
   */
  exit(): void {
    if (this.#exited) return;
    this.#exited = true;
    this.machine.tasks.delete(this.pid);
    exit_mmap(this.mm);
    this.files.exit_files();
  }

  /** Runs a syscall body: KernelError → typed errno error. */
  #sys<T>(syscall: string | (() => string), path: string | undefined, body: () => T): T {
    if (this.#exited) {
      throw errnoError(Errno.ESRCH, typeof syscall === "string" ? syscall : syscall(), {
        detail: `Process ${this.pid} has exited`,
      });
    }
    const prev = this.machine.current_pid;
    this.machine.current_pid = this.pid;
    try {
      return body();
    } catch (e) {
      if (e instanceof KernelError) {
        const name = typeof syscall === "string" ? syscall : syscall();
        throw errnoError(e.errno, name, { path });
      }
      throw e;
    } finally {
      this.machine.current_pid = prev;
    }
  }

  open(path: string, flags: number): number {
    return this.#sys("open", String(path), () => do_sys_open(this.#proc, path, flags));
  }

  close(fd: number): void {
    this.#sys("close", undefined, () => this.files.close_fd(fd));
  }

  ioctl(
    fd: number,
    request: number,
    arg: UserBuffer | null,
    name?: string,
    expected?: number,
  ): number {
    const req = is_int(request) ? request >>> 0 : 0;
    return this.#sys(() => `ioctl(${name ?? `0x${req.toString(16)}`})`, undefined, () => {
      this.files.fdget(fd);
      if (!is_int(request)) fail(Errno.EINVAL);
      const uarg = arg == null ? 0 : typeof arg.address === "number" ? arg.address : -1;
      if (uarg < 0) fail(Errno.EFAULT);
      if (expected === undefined) return do_vfs_ioctl(this, fd, req, uarg);
      try {
        return do_vfs_ioctl(this, fd, req, uarg);
      } catch (e) {
        // As LinuxKernel: the caller's expected errno is returned, not thrown.
        if (e instanceof KernelError && e.errno === expected) return -expected;
        throw e;
      }
    });
  }

  mmap(fd: number, length: number, prot: number, flags: number, offset: number): MappedRegion {
    return this.#sys("mmap", undefined, () => {
      mmap_check_args(length, prot, flags, offset);
      return do_mmap(this.mm, this.files.fdget(fd), length, prot, flags, offset);
    });
  }

  munmap(region: MappedRegion): void {
    this.#sys("munmap", undefined, () => vm_munmap(this.mm, region));
  }

  fcntl(fd: number, cmd: number, arg: number): number {
    return this.#sys("fcntl", undefined, () => do_fcntl(this, fd, cmd, arg));
  }

  lseek(fd: number, offset: number, whence: number): number {
    return this.#sys("lseek", undefined, () => ksys_lseek(this, fd, offset, whence));
  }

  /**
   * `poll(2)`. When nothing is ready and `timeoutMs` is not 0, the call "sleeps" by running
   * the machine's pending kernel work (see `select.ts`); a wait nothing can end returns zeros at
   * once for a finite timeout and fails with EINTR for -1.
   */
  poll(requests: readonly PollRequest[], timeoutMs: number): number[] {
    return this.#sys("poll", undefined, () => do_sys_poll(this, requests, timeoutMs));
  }

  /**
   * `poll(2)` without blocking the caller: resolves with `revents` once any fd is ready (woken
   * through the files' wait queues by the kernel worker — no polling loop), with all zeros when
   * `timeoutMs` passes (-1: never), and rejects with `signal.reason` when `signal` aborts.
   */
  pollAsync(
    requests: readonly PollRequest[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<number[]> {
    return poll_async(
      requests,
      timeoutMs,
      signal,
      (wake, tables) =>
        this.#sys("poll", undefined, () => {
          if (!is_int(timeoutMs)) fail(Errno.EINVAL);
          return do_poll(this, requests, wake, tables);
        }),
    );
  }

  /**
   * Payload bytes the kernel copied between user memory that maps a dma-buf and kernel memory
   * (`copy_from_user`/`copy_to_user`), machine-wide: the model's zero-copy witness.
   */
  payloadBytesCopied(): number {
    return uaccess_payload_bytes(this.machine);
  }

  ftruncate(fd: number, length: number): void {
    this.#sys("ftruncate", undefined, () => do_sys_ftruncate(this.#proc, fd, length));
  }

  memfdCreate(name: string, flags: number): number {
    return this.#sys("memfd_create", String(name), () => sys_memfd_create(this, name, flags));
  }

  readDir(path: string): string[] {
    return this.#sys("readdir", String(path), () => {
      path_lookup_limits(path);
      return iterate_dir(this.#proc, path);
    });
  }

  readText(path: string): string {
    return this.#sys("read", String(path), () => {
      path_lookup_limits(path);
      return read_text_file(this.#proc, path);
    });
  }

  readLink(path: string): string {
    return this.#sys("readlink", String(path), () => {
      path_lookup_limits(path);
      return do_readlinkat(this.#proc, path);
    });
  }

  unlink(path: string): void {
    this.#sys("unlink", String(path), () => {
      if (typeof path !== "string") fail(Errno.EFAULT);
      path_lookup_limits(path);
      unix_unlink(this.machine, path);
    });
  }

  syslog(): string {
    return this.machine.log.dmesg();
  }

  getpid(): number {
    return this.#sys("getpid", undefined, () => this.pid);
  }

  socketpair(domain: number, type: number, protocol: number): [number, number] {
    return this.#sys("socketpair", undefined, () => __sys_socketpair(this, domain, type, protocol));
  }

  socket(domain: number, type: number, protocol: number): number {
    return this.#sys("socket", undefined, () => __sys_socket(this, domain, type, protocol));
  }

  bind(fd: number, path: string): void {
    this.#sys("bind", String(path), () => __sys_bind(this, fd, path));
  }

  listen(fd: number, _backlog: number): void {
    this.#sys("listen", undefined, () => __sys_listen(this, fd));
  }

  accept(fd: number, flags: number): number {
    return this.#sys("accept4", undefined, () => __sys_accept4(this, fd, flags));
  }

  connect(fd: number, path: string): void {
    this.#sys("connect", String(path), () => __sys_connect(this, fd, path));
  }

  sendmsg(fd: number, data: Uint8Array, fds: readonly number[], flags: number): number {
    return this.#sys("sendmsg", undefined, () => __sys_sendmsg(this, fd, data, fds, flags));
  }

  recvmsg(fd: number, data: Uint8Array, maxFds: number, flags: number): ReceivedMessage {
    return this.#sys("recvmsg", undefined, () => __sys_recvmsg(this, fd, data, maxFds, flags));
  }

  pidfdOpen(pid: number, flags: number): number {
    return this.#sys("pidfd_open", undefined, () => sys_pidfd_open(this, pid, flags));
  }

  /**
   * `pidfd_getfd(2)`: a new fd (always close-on-exec) on the file behind `targetFd` of another
   * process. `pidfd` is an fd from {@linkcode pidfdOpen}; as a shortcut the model also takes the
   * target `SimProcess` itself (`pidfd_getfd(pidfd_open(target.pid))` in one call, ESRCH when it
   * exited or lives on another machine).
   *
   * @throws {ErrnoError} EINVAL for flags ≠ 0; EBADF for a bad pidfd or target fd; ESRCH when
   * the target exited; EPERM without ptrace access (another uid, or not dumpable; root may).
   */
  pidfdGetfd(pidfd: number | SimProcess, targetFd: number, flags = 0): number {
    return this.#sys("pidfd_getfd", undefined, () => {
      if (typeof pidfd === "object" && !(pidfd instanceof SimProcess)) fail(Errno.EBADF);
      return sys_pidfd_getfd(this, pidfd, targetFd, flags);
    });
  }

  userBuffer(size: number): UserBuffer {
    if (!is_int(size) || size < 0) {
      throw errnoError(Errno.EINVAL, "userBuffer", { detail: `Invalid size: ${size}` });
    }
    const bytes = new Uint8Array(size);
    const address = this.mm.user_alloc(bytes);
    return { bytes, view: new DataView(bytes.buffer), address };
  }
}
