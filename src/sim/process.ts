/**
 * A process of the simulated machine and its system calls: the `Kernel` boundary of
 * `src/kernel/types.ts`, implemented by the model. Each syscall checks its arguments the way
 * Linux does, runs the kernel code, and turns a {@linkcode KernelError} into the library's typed
 * errno error.
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
import { Errno, fail, KernelError } from "./errno.ts";
import { files_struct } from "./file.ts";
import { file, FMODE_LSEEK, FMODE_READ, FMODE_WRITE, fput, get_file } from "./file_table.ts";
import {
  mm_struct,
  type vm_area_struct,
  VM_MAYSHARE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from "./mmap.ts";
import { PAGE_SIZE } from "./mm.ts";
import type { SimMachine } from "./machine.ts";
import type { Task } from "./sched.ts";
import { chrdev_open } from "./char_dev.ts";
import { path_lookupat } from "./namei.ts";
import { memfd_create, memfd_fcntl, shmem_file, shmem_truncate } from "./shmem.ts";
import { proc_readdir, proc_readlink, proc_readtext, type ProcNode } from "./procfs.ts";
import { poll_table } from "./wait.ts";
import { system_wq } from "./workqueue.ts";
import { uaccess_payload_bytes } from "./uaccess.ts";
import {
  sock_from_file,
  unix_accept,
  unix_bind,
  unix_connect,
  unix_listen,
  unix_recvmsg,
  unix_sendmsg,
  unix_socket,
  unix_socketpair,
} from "./af_unix.ts";
import { pidfd_fget, pidfd_getfd, pidfd_open } from "./pid.ts";
import { SOCK_CLOEXEC, SOCK_NONBLOCK, SOCKADDR_UN } from "../uapi/socket.ts";
import {
  F_ADD_SEALS,
  F_DUPFD,
  F_DUPFD_CLOEXEC,
  F_GET_SEALS,
  F_GETFD,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_CLOEXEC,
  O_ACCMODE,
  O_CLOEXEC,
  O_DIRECTORY,
  O_NONBLOCK,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  PROT_READ,
  PROT_WRITE,
} from "../uapi/constants.ts";

/** `MAP_SHARED_VALIDATE`. */
const MAP_SHARED_VALIDATE = 3;
/** `MAP_TYPE`. */
const MAP_TYPE = 0x0f;
/** `DEFAULT_POLLMASK`: POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM. */
const DEFAULT_POLLMASK = POLLIN | POLLOUT | 0x40 | 0x100;
/** `FIONCLEX`, `FIOCLEX`, `FIONBIO`, `FIOASYNC`: ioctls the VFS handles for every file. */
const FIONCLEX = 0x5450, FIOCLEX = 0x5451, FIONBIO = 0x5421, FIOASYNC = 0x5452;
/** `O_APPEND`. */
const O_APPEND = 0o2000;

/** Directory file (open of a directory path): no ioctl, no mmap. */
const dir_fops = { llseek: (_f: file, off: number) => off };

function isInt(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x);
}

/** Credentials of a simulated process. */
export interface SimProcessOptions {
  /** The uid (default 0: root, which may ptrace anything). */
  uid?: number;
  /** Whether the process is dumpable (default true); a non-dumpable one refuses ptrace access. */
  dumpable?: boolean;
}

const encoder = new TextEncoder();

/** The checks both kernels make on an AF_UNIX name (see `_linux_socket.ts`). */
function check_sun_path(path: string): void {
  if (typeof path !== "string" || path.length === 0) fail(Errno.EINVAL);
  const abstract = path.startsWith("\0");
  const bytes = encoder.encode(path);
  if (!abstract && bytes.includes(0)) fail(Errno.EINVAL);
  if (bytes.length + (abstract ? 0 : 1) > SOCKADDR_UN.pathMax) fail(Errno.EINVAL);
}

function isInt32(x: unknown): x is number {
  return typeof x === "number" && (x | 0) === x;
}

/** The live memory of one mapping: what `mmap` returns. */
class SimRegion implements MappedRegion {
  readonly address: number;
  readonly length: number;
  readonly offset: number;
  readonly byteOffset: number;
  readonly #vma: vm_area_struct;
  constructor(vma: vm_area_struct, offset: number) {
    this.#vma = vma;
    this.address = vma.vm_start;
    this.length = vma.vm_end - vma.vm_start;
    this.offset = offset;
    this.byteOffset = vma.vm_store_offset;
  }
  /** The store's current ArrayBuffer (re-read it: see README "Memory and aliasing"). */
  get buffer(): ArrayBuffer {
    this.#vma.vm_fault?.();
    return this.#vma.vm_store!.current;
  }
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

  /** @internal Use `machine.process()`. */
  constructor(machine: SimMachine, pid: number, comm: string, options: SimProcessOptions = {}) {
    this.machine = machine;
    this.pid = pid;
    this.comm = comm;
    this.uid = options.uid ?? 0;
    this.dumpable = options.dumpable ?? true;
    this.files = new files_struct(machine.nofile);
    this.description = `Simulated Linux 6.12 (pid ${pid}, ${
      machine.memory.size / 1048576
    } MiB RAM)`;
    const tty = machine.dev.lookup("/dev/pts/0")!;
    const f = chrdev_open(tty, 2, this);
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
    for (const vma of [...this.mm.vmas()]) {
      this.mm.remove_vma(vma.vm_start);
      vma.vm_store?.revoke();
      vma.vm_close?.();
      if (vma.vm_file) fput(vma.vm_file);
    }
    for (const fd of this.files.open_fds()) this.files.close_fd(fd);
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
    return this.#sys("open", String(path), () => {
      if (typeof path !== "string" || !isInt(flags)) fail(Errno.EINVAL);
      const nd = path_lookupat(this, path);
      const c = nd.node;
      if (c) {
        if (flags & O_DIRECTORY) fail(Errno.ENOTDIR);
        const f = chrdev_open(c, flags, this);
        try {
          return this.files.fd_install(f, (flags & O_CLOEXEC) !== 0);
        } catch (e) {
          fput(f);
          throw e;
        }
      }
      if (nd.dir) {
        if ((flags & O_ACCMODE) !== 0) fail(Errno.EISDIR);
        const f = new file(
          dir_fops,
          { i_ino: this.machine.get_next_ino(), kind: "anon", i_size: 0, mnt_id: 1 },
          flags & ~O_CLOEXEC | 0o100000,
          1 | FMODE_LSEEK | 0x80000,
          () => nd.path,
        );
        return this.files.fd_install(f, (flags & O_CLOEXEC) !== 0);
      }
      fail(Errno.ENOENT);
    });
  }

  #is_dir(path: string): boolean {
    if (this.machine.dev.readdir(path)) return true;
    try {
      proc_readdir(this.#proc(), path);
      return true;
    } catch {
      return false;
    }
  }

  close(fd: number): void {
    this.#sys("close", undefined, () => this.files.close_fd(fd));
  }

  ioctl(fd: number, request: number, arg: UserBuffer | null, name?: string): number {
    const req = isInt(request) ? request >>> 0 : 0;
    return this.#sys(() => `ioctl(${name ?? `0x${req.toString(16)}`})`, undefined, () => {
      const f = this.files.fdget(fd);
      if (!isInt(request)) fail(Errno.EINVAL);
      const uarg = arg == null ? 0 : typeof arg.address === "number" ? arg.address : -1;
      if (uarg < 0) fail(Errno.EFAULT);
      switch (req) {
        case FIOCLEX:
        case FIONCLEX:
          this.files.set_close_on_exec(fd, req === FIOCLEX);
          return 0;
        case FIONBIO: {
          const m = this.mm.resolve(uarg);
          if (!m || m.bytes.length < 4) fail(Errno.EFAULT);
          const on = new DataView(m.bytes.buffer, m.bytes.byteOffset, 4).getInt32(0, true) !== 0;
          f.f_flags = on ? f.f_flags | O_NONBLOCK : f.f_flags & ~O_NONBLOCK;
          return 0;
        }
        case FIOASYNC:
          return 0;
      }
      if (!f.f_op.unlocked_ioctl) fail(Errno.ENOTTY);
      return f.f_op.unlocked_ioctl(f, req, uarg, this);
    });
  }

  mmap(fd: number, length: number, prot: number, flags: number, offset: number): MappedRegion {
    return this.#sys("mmap", undefined, () => {
      if (!isInt(length) || !isInt(offset) || !isInt(prot) || !isInt(flags)) fail(Errno.EINVAL);
      if (offset < 0 || offset % PAGE_SIZE) fail(Errno.EINVAL);
      const f = this.files.fdget(fd);
      if (length <= 0) fail(Errno.EINVAL);
      const len = Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
      if (len > 2 ** 47) fail(Errno.ENOMEM);
      let vm_flags = (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0);
      switch (flags & MAP_TYPE) {
        case MAP_SHARED:
        case MAP_SHARED_VALIDATE:
          if ((prot & PROT_WRITE) && !(f.f_mode & FMODE_WRITE)) fail(Errno.EACCES);
          vm_flags |= VM_SHARED | VM_MAYSHARE;
          if (!(f.f_mode & FMODE_READ)) fail(Errno.EACCES);
          break;
        case MAP_PRIVATE:
          if (!(f.f_mode & FMODE_READ)) fail(Errno.EACCES);
          break;
        default:
          fail(Errno.EINVAL);
      }
      if (!f.f_op.mmap) fail(Errno.ENODEV);
      const vm_start = this.mm.get_unmapped_area(len);
      if (vm_start < 0) fail(Errno.ENOMEM);
      const vma: vm_area_struct = {
        vm_start,
        vm_end: 0,
        vm_pgoff: offset / PAGE_SIZE,
        vm_flags,
        vm_file: get_file(f),
        vm_store: null,
        vm_store_offset: 0,
      };
      (vma as { vm_end: number }).vm_end = vma.vm_start + len;
      try {
        f.f_op.mmap(f, vma);
      } catch (e) {
        fput(f);
        throw e;
      }
      if (!vma.vm_store) {
        fput(f);
        fail(Errno.ENODEV);
      }
      this.mm.insert_vm_struct(vma);
      return new SimRegion(vma, offset);
    });
  }

  munmap(region: MappedRegion): void {
    this.#sys("munmap", undefined, () => {
      if (!region || !isInt(region.address)) fail(Errno.EINVAL);
      if (region.address % PAGE_SIZE) fail(Errno.EINVAL);
      const vma = this.mm.remove_vma(region.address);
      if (!vma) return; // munmap of nothing mapped succeeds
      vma.vm_store?.revoke();
      vma.vm_close?.();
      if (vma.vm_file) fput(vma.vm_file);
    });
  }

  fcntl(fd: number, cmd: number, arg: number): number {
    return this.#sys("fcntl", undefined, () => {
      const f = this.files.fdget(fd);
      switch (cmd) {
        case F_DUPFD:
        case F_DUPFD_CLOEXEC:
          if (!isInt(arg)) fail(Errno.EINVAL);
          return this.files.f_dupfd(arg, f, cmd === F_DUPFD_CLOEXEC);
        case F_GETFD:
          return this.files.close_on_exec(fd) ? FD_CLOEXEC : 0;
        case F_SETFD:
          this.files.set_close_on_exec(fd, (arg & FD_CLOEXEC) !== 0);
          return 0;
        case F_GETFL:
          return f.f_flags;
        case F_SETFL: {
          const settable = O_APPEND | O_NONBLOCK;
          f.f_flags = (f.f_flags & ~settable) | (arg & settable);
          return 0;
        }
        case F_ADD_SEALS:
          return memfd_fcntl(f, "add", arg);
        case F_GET_SEALS:
          return memfd_fcntl(f, "get", arg);
        default:
          fail(Errno.EINVAL);
      }
    });
  }

  lseek(fd: number, offset: number, whence: number): number {
    return this.#sys("lseek", undefined, () => {
      const f = this.files.fdget(fd);
      if (!(f.f_mode & FMODE_LSEEK) || !f.f_op.llseek) fail(Errno.ESPIPE);
      if (!isInt(offset) || !isInt(whence)) fail(Errno.EINVAL);
      return f.f_op.llseek(f, offset, whence);
    });
  }

  /**
   * One pass of `do_poll()`: each fd's ready mask, with a poll table per file registered on
   * the file's wait queues (freed by the caller); any wake-up calls `wake`.
   */
  #do_poll(requests: readonly PollRequest[], wake: () => void, tables: poll_table[]): number[] {
    if (!Array.isArray(requests)) fail(Errno.EFAULT);
    return requests.map(({ fd, events }) => {
      if (!isInt(fd) || fd < 0) return 0;
      const f = this.files.lookup(fd);
      if (!f) return POLLNVAL;
      const ev = (events & 0xffff) | POLLERR | POLLHUP;
      if (!f.f_op.poll) return DEFAULT_POLLMASK & ev;
      const pt = new poll_table(ev, wake);
      tables.push(pt);
      return f.f_op.poll(f, ev, pt) & ev;
    });
  }

  /**
   * `poll(2)`. When nothing is ready and `timeoutMs` is not 0, the call "sleeps" by running
   * the machine's pending kernel work until a polled file is woken or the timeout passes (see
   * `workqueue.ts`). When no work is left to run, nothing can wake it any more: a finite timeout
   * returns all zeros at once (no time passes), -1 fails with EINTR (Linux would sleep until a
   * signal).
   */
  poll(requests: readonly PollRequest[], timeoutMs: number): number[] {
    return this.#sys("poll", undefined, () => {
      if (!isInt(timeoutMs)) fail(Errno.EINVAL);
      const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
      const wq = system_wq(this.machine);
      for (;;) {
        let woken = false;
        const tables: poll_table[] = [];
        try {
          const revents = this.#do_poll(requests, () => (woken = true), tables);
          if (timeoutMs === 0 || revents.some((r) => r !== 0)) return revents;
          if (!wq.run_until(() => woken, deadline) && !woken) {
            if (timeoutMs < 0) fail(Errno.EINTR);
            return revents;
          }
        } finally {
          for (const t of tables) t.free();
        }
      }
    });
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
    return new Promise<number[]>((resolve, reject) => {
      let tables: poll_table[] = [];
      let timer: ReturnType<typeof setTimeout> | undefined;
      let done = false, scheduled = false;
      const free = () => {
        for (const t of tables) t.free();
        tables = [];
      };
      const onAbort = () => finish(signal!.reason);
      const finish = (err: unknown, revents?: number[]) => {
        if (done) return;
        done = true;
        free();
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (revents) resolve(revents);
        else reject(err);
      };
      const wake = () => {
        if (done || scheduled) return;
        scheduled = true;
        queueMicrotask(check);
      };
      const check = () => {
        scheduled = false;
        if (done) return;
        free();
        let revents: number[];
        try {
          revents = this.#sys("poll", undefined, () => {
            if (!isInt(timeoutMs)) fail(Errno.EINVAL);
            return this.#do_poll(requests, wake, tables);
          });
        } catch (e) {
          finish(e);
          return;
        }
        if (timeoutMs === 0 || revents.some((r) => r !== 0)) finish(undefined, revents);
      };
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      check();
      if (!done && timeoutMs > 0) {
        timer = setTimeout(() => finish(undefined, requests.map(() => 0)), timeoutMs);
      }
    });
  }

  /**
   * Payload bytes the kernel copied between user memory that maps a dma-buf and kernel memory
   * (`copy_from_user`/`copy_to_user`), machine-wide: the model's zero-copy witness.
   */
  payloadBytesCopied(): number {
    return uaccess_payload_bytes(this.machine);
  }

  ftruncate(fd: number, length: number): void {
    this.#sys("ftruncate", undefined, () => {
      if (!isInt(length) || length < 0) fail(Errno.EINVAL);
      const f = this.files.fdget(fd);
      if (!shmem_file(f) || !(f.f_mode & FMODE_WRITE)) fail(Errno.EINVAL);
      shmem_truncate(f.f_inode, length);
    });
  }

  memfdCreate(name: string, flags: number): number {
    return this.#sys("memfd_create", String(name), () => {
      if (typeof name !== "string" || !isInt(flags)) fail(Errno.EFAULT);
      const f = memfd_create(this, name, flags >>> 0);
      return this.files.fd_install(f, (flags & MFD_CLOEXEC) !== 0);
    });
  }

  #proc(): ProcNode {
    return { task: this, machine: this.machine };
  }

  readDir(path: string): string[] {
    return this.#sys("readdir", String(path), () => {
      if (typeof path !== "string") fail(Errno.EFAULT);
      if (this.machine.dev.lookup(path)) fail(Errno.ENOTDIR);
      // opendir(): the directory is open on the lowest free fd while it is read, so a listing
      // of this process's own /proc/<pid>/fd shows that fd too, as on Linux.
      if (!this.#is_dir(path)) proc_readdir(this.#proc(), path); // throws the right errno
      const dfd = this.open(path, O_DIRECTORY | 0o4000 | O_CLOEXEC);
      try {
        return this.machine.dev.readdir(path) ?? proc_readdir(this.#proc(), path);
      } finally {
        this.files.close_fd(dfd);
      }
    });
  }

  readText(path: string): string {
    return this.#sys("read", String(path), () => {
      if (this.machine.dev.readdir(path)) fail(Errno.EISDIR);
      return proc_readtext(this.#proc(), path);
    });
  }

  readLink(path: string): string {
    return this.#sys("readlink", String(path), () => {
      if (this.machine.dev.lookup(path) || this.machine.dev.readdir(path)) fail(Errno.EINVAL);
      return proc_readlink(this.#proc(), path);
    });
  }

  syslog(): string {
    return this.machine.log.dmesg();
  }

  getpid(): number {
    return this.#sys("getpid", undefined, () => this.pid);
  }

  socketpair(domain: number, type: number, protocol: number): [number, number] {
    return this.#sys("socketpair", undefined, () => {
      if (!isInt32(domain) || !isInt32(type) || !isInt32(protocol)) fail(Errno.EINVAL);
      const [a, b] = unix_socketpair(this.machine, domain, type, protocol);
      const cloexec = (type & SOCK_CLOEXEC) !== 0;
      let fa = -1;
      try {
        fa = this.files.fd_install(a, cloexec);
        return [fa, this.files.fd_install(b, cloexec)];
      } catch (e) {
        if (fa >= 0) this.files.close_fd(fa);
        else fput(a);
        fput(b);
        throw e;
      }
    });
  }

  socket(domain: number, type: number, protocol: number): number {
    return this.#sys("socket", undefined, () => {
      if (!isInt32(domain) || !isInt32(type) || !isInt32(protocol)) fail(Errno.EINVAL);
      const f = unix_socket(this.machine, domain, type, protocol);
      try {
        return this.files.fd_install(f, (type & SOCK_CLOEXEC) !== 0);
      } catch (e) {
        fput(f);
        throw e;
      }
    });
  }

  bind(fd: number, path: string): void {
    this.#sys("bind", String(path), () => {
      check_sun_path(path);
      unix_bind(sock_from_file(this.files.fdget(fd)), path);
    });
  }

  listen(fd: number, _backlog: number): void {
    this.#sys("listen", undefined, () => unix_listen(sock_from_file(this.files.fdget(fd))));
  }

  accept(fd: number, flags: number): number {
    return this.#sys("accept4", undefined, () => {
      if (!isInt32(flags) || flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) fail(Errno.EINVAL);
      const lf = this.files.fdget(fd);
      const f = unix_accept(sock_from_file(lf), flags, (lf.f_flags & O_NONBLOCK) !== 0);
      try {
        return this.files.fd_install(f, (flags & SOCK_CLOEXEC) !== 0);
      } catch (e) {
        fput(f);
        throw e;
      }
    });
  }

  connect(fd: number, path: string): void {
    this.#sys("connect", String(path), () => {
      check_sun_path(path);
      unix_connect(sock_from_file(this.files.fdget(fd)), path);
    });
  }

  sendmsg(fd: number, data: Uint8Array, fds: readonly number[], flags: number): number {
    return this.#sys("sendmsg", undefined, () => {
      if (!(data instanceof Uint8Array)) fail(Errno.EFAULT);
      if (!Array.isArray(fds) || !isInt32(flags)) fail(Errno.EINVAL);
      const u = sock_from_file(this.files.fdget(fd));
      return unix_sendmsg(u, this.files, data, fds.map((x) => (isInt32(x) ? x : -1)));
    });
  }

  recvmsg(fd: number, data: Uint8Array, maxFds: number, flags: number): ReceivedMessage {
    return this.#sys("recvmsg", undefined, () => {
      if (!(data instanceof Uint8Array)) fail(Errno.EFAULT);
      if (!isInt32(maxFds) || maxFds < 0 || !isInt32(flags)) fail(Errno.EINVAL);
      const f = this.files.fdget(fd);
      const u = sock_from_file(f);
      return unix_recvmsg(u, this.files, data, maxFds, flags, (f.f_flags & O_NONBLOCK) !== 0);
    });
  }

  pidfdOpen(pid: number, flags: number): number {
    return this.#sys("pidfd_open", undefined, () => {
      if (!isInt32(pid) || !isInt32(flags)) fail(Errno.EINVAL);
      const f = pidfd_open(this.machine, pid, flags);
      try {
        return this.files.fd_install(f, true);
      } catch (e) {
        fput(f);
        throw e;
      }
    });
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
      if (!isInt32(flags) || flags !== 0) fail(Errno.EINVAL);
      if (!isInt32(targetFd)) fail(Errno.EBADF);
      let f: file;
      if (pidfd instanceof SimProcess) {
        if (this.machine.tasks.get(pidfd.pid) !== pidfd) fail(Errno.ESRCH);
        f = pidfd_fget(this, pidfd, targetFd);
      } else {
        if (!isInt32(pidfd)) fail(Errno.EBADF);
        f = pidfd_getfd(this, this.files.fdget(pidfd), targetFd);
      }
      try {
        return this.files.fd_install(f, true);
      } catch (e) {
        fput(f);
        throw e;
      }
    });
  }

  userBuffer(size: number): UserBuffer {
    if (!isInt(size) || size < 0) {
      throw errnoError(Errno.EINVAL, "userBuffer", { detail: `Invalid size: ${size}` });
    }
    const bytes = new Uint8Array(size);
    const address = this.mm.user_alloc(bytes);
    return { bytes, view: new DataView(bytes.buffer), address };
  }
}
