/**
 * Handing a dma-buf to a Worker. On Linux an fd belongs to the process, and every Worker runs in
 * that process, so the fd number itself is what travels: the sender gives up ownership
 * ({@linkcode toWorkerHandle}), posts the plain-object handle, and the Worker takes ownership
 * ({@linkcode fromWorkerHandle}). Exactly one side owns the fd at any time.
 *
 * On the simulated kernel this cannot work: a Worker is a separate isolate that loads its own
 * copy of the modules and so boots its **own** simulated machine — there is no shared kernel
 * between isolates for an fd to refer to. Both helpers refuse with `EOPNOTSUPP` there instead of
 * pretending; to share between simulated processes use two processes of one machine and
 * {@linkcode sendDmaBuf} or {@linkcode takeDmaBuf}.
 *
 * @module
 */
import type { Kernel } from "../kernel/types.ts";
import { kernelOption } from "../kernel/select.ts";
import { errnoError, instanceArg, optionsArg } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import { DmaBuf } from "../dmabuf/buffer.ts";

/** A dma-buf in transit to a Worker: structured-clone safe (post it with `postMessage`). */
export interface DmaBufHandle {
  /** Always `"dmabuf-fd"`. */
  readonly kind: "dmabuf-fd";
  /** The fd number, valid in the process {@linkcode pid}. */
  readonly fd: number;
  /** The process whose fd table holds it. */
  readonly pid: number;
  /** The buffer's size in bytes. */
  readonly size: number;
}

function refuseSimulated(kernel: Kernel, syscall: string): void {
  if (kernel.kind === "simulated") {
    throw errnoError(Errno.EOPNOTSUPP, syscall, {
      detail: "A Worker runs its own simulated machine, so an fd of this one means nothing " +
        "there; share between two processes of one SimMachine instead",
      hint: "Use sendDmaBuf() or takeDmaBuf() between machine.process() instances",
    });
  }
}

/**
 * Gives up ownership of `buf` for a Worker: unmaps its mappings, closes the object without
 * closing the fd, and returns a handle to `postMessage`. If the handle is never adopted, the fd
 * leaks: close it with the kernel's `close` in that case.
 *
 * @param buf An owned buffer.
 * @returns The handle.
 * @throws {ErrnoError} `EOPNOTSUPP` on the simulated kernel; `EINVAL` for a borrowed buffer.
 *
 * @example The handle is plain data
 * ```ts ignore
 * const worker = new Worker(new URL("./consumer.ts", import.meta.url), { type: "module" });
 * worker.postMessage(toWorkerHandle(buf)); // buf is closed now; the Worker owns the fd
 * ```
 */
export function toWorkerHandle(buf: DmaBuf): DmaBufHandle {
  instanceArg("toWorkerHandle", "buf", buf, DmaBuf);
  refuseSimulated(buf.kernel, "toWorkerHandle");
  const size = buf.size;
  const pid = buf.kernel.getpid();
  const fd = buf.intoFd();
  return { kind: "dmabuf-fd", fd, pid, size };
}

/** Options for {@linkcode fromWorkerHandle}. */
export interface FromHandleOptions {
  /** The kernel; default: the kernel in use (in the Worker). */
  kernel?: Kernel;
}

/**
 * Takes ownership of a buffer handed over by {@linkcode toWorkerHandle}, in the Worker (or back
 * on the main thread).
 *
 * @param handle The handle received with the message.
 * @param options The kernel.
 * @returns The buffer, which owns the fd.
 * @throws {ErrnoError} `EOPNOTSUPP` on the simulated kernel; `EXDEV` when the handle comes from
 * another process; `EINVAL` for something that is not a handle or whose fd is not a dma-buf;
 * `EBADF` when the fd is no longer open.
 */
export function fromWorkerHandle(handle: DmaBufHandle, options?: FromHandleOptions): DmaBuf {
  const kernel = kernelOption(optionsArg("fromWorkerHandle", options).kernel, "fromWorkerHandle");
  refuseSimulated(kernel, "fromWorkerHandle");
  if (
    typeof handle !== "object" || handle === null || handle.kind !== "dmabuf-fd" ||
    !Number.isSafeInteger(handle.fd) || handle.fd < 0
  ) {
    throw errnoError(Errno.EINVAL, "fromWorkerHandle", { detail: "Not a DmaBufHandle" });
  }
  if (handle.pid !== kernel.getpid()) {
    throw errnoError(Errno.EXDEV, "fromWorkerHandle", {
      detail: `The handle's fd belongs to process ${handle.pid}, not to this one ` +
        `(${kernel.getpid()}); send the buffer over a socket to another process`,
    });
  }
  return DmaBuf.from(handle.fd, { kernel });
}
