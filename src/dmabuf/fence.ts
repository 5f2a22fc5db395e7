/**
 * sync_file fds: a fence exported from a dma-buf's reservation object
 * (`DMA_BUF_IOCTL_EXPORT_SYNC_FILE`), to wait on, hand to another process or driver, or
 * import into another buffer (`DMA_BUF_IOCTL_IMPORT_SYNC_FILE`).
 *
 * @module
 */
import type { Kernel } from "../kernel/types.ts";
import { getKernel } from "../kernel/select.ts";
import { argumentError, describe, errnoError, optionsArg } from "../errors.ts";
import { FdResource } from "../fd_resource.ts";
import { Errno } from "../uapi/errno.ts";
import { F_DUPFD_CLOEXEC, POLLIN } from "../uapi/constants.ts";
import { DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE } from "../uapi/dma_buf.ts";
import { waitForEvents, type WaitOptions } from "./wait.ts";

/**
 * Which fences an access has to wait for: `"read"` — the writers (a reader may run alongside
 * other readers); `"write"` — every fence, readers and writers.
 */
export type FenceAccess = "read" | "write";

/** The `DMA_BUF_SYNC_*` flag for a fence access. */
export function fenceFlags(access: FenceAccess, where: string): number {
  if (access === "read") return DMA_BUF_SYNC_READ;
  if (access === "write") return DMA_BUF_SYNC_WRITE;
  throw argumentError(
    "type",
    where,
    "access",
    `must be "read" or "write", got ${describe(access)}`,
  );
}

const kAdopt = Symbol("adopt");

/** Options for {@linkcode SyncFile.from}. */
export interface SyncFileFromOptions {
  /**
   * Whether the SyncFile takes the fd (default `true`). With `false` it works on its own
   * close-on-exec duplicate (`F_DUPFD_CLOEXEC`) and never touches the caller's fd.
   */
  owned?: boolean;
  /** The kernel the fd belongs to; default: the kernel in use. */
  kernel?: Kernel;
}

/**
 * A sync_file fd: one fence (possibly standing for several). It signals once; `poll()` tells
 * whether it has, `wait()` waits for it without blocking the thread. Owns its fd: `close()` is
 * idempotent, `using` closes it.
 *
 * Like every fd owner of the library, a SyncFile has `fd`, `kernel` and `closed`, an idempotent
 * `close()` and `[Symbol.dispose]` (`using`); its other methods throw `Deno.errors.BadResource`
 * once it is closed ("Cannot … a closed SyncFile").
 *
 * @example Exporting the fences of a buffer nobody is writing
 * ```ts
 * import { openHeap } from "@dmabuf/dmabuf";
 * import assert from "node:assert/strict";
 *
 * using heap = openHeap("system");
 * using buf = heap.allocate(4096);
 * using fence = buf.exportSyncFile("write");
 * assert.equal(fence.poll(), true); // no fences: the signalled stub
 * await fence.wait({ timeout: 1000 });
 * ```
 */
export class SyncFile extends FdResource {
  /**
   * Internal: use {@linkcode SyncFile.from} or `DmaBuf.exportSyncFile()`.
   *
   * @param token Internal token.
   * @param kernel The kernel.
   * @param fd The fd.
   * @param owned Whether `close()` closes the fd.
   */
  constructor(token: typeof kAdopt, kernel: Kernel, fd: number, owned: boolean) {
    if (token !== kAdopt) throw new TypeError("Use SyncFile.from(fd) to wrap a sync_file fd");
    super(kernel, fd, "SyncFile", owned);
  }

  /**
   * Wraps a sync_file fd that came from elsewhere (a GPU driver, another process), after
   * checking through `/proc/self/fd/<fd>` that it is one.
   *
   * @param fd The fd.
   * @param options Ownership and kernel.
   * @returns The sync file.
   * @throws {Deno.errors.BadResource} `EBADF` if the fd is not open.
   * @throws {ErrnoError} `EINVAL` if it is not a sync_file.
   */
  static from(fd: number, options?: SyncFileFromOptions): SyncFile {
    const o = optionsArg("SyncFile.from", options);
    const kernel = o.kernel ?? getKernel();
    if (!Number.isSafeInteger(fd) || fd < 0) {
      throw errnoError(Errno.EBADF, "SyncFile.from", { detail: `Invalid fd: ${describe(fd)}` });
    }
    let link: string;
    try {
      link = kernel.readLink(`/proc/self/fd/${fd}`);
    } catch {
      throw errnoError(Errno.EBADF, "SyncFile.from", { detail: `fd ${fd} is not open` });
    }
    if (link !== "anon_inode:sync_file") {
      throw errnoError(Errno.EINVAL, "SyncFile.from", {
        detail: `fd ${fd} is not a sync_file (${link})`,
      });
    }
    // Borrowed: work on a private close-on-exec duplicate, as DmaBuf.from does.
    const own = o.owned === false ? kernel.fcntl(fd, F_DUPFD_CLOEXEC, 0) : fd;
    return new SyncFile(kAdopt, kernel, own, true);
  }

  /**
   * Whether the fence has signalled (a `poll` with timeout 0).
   *
   * @returns True once signalled.
   */
  poll(): boolean {
    this.checkOpen("poll");
    return (this.kernel.poll([{ fd: this.fd, events: POLLIN }], 0)[0] & POLLIN) !== 0;
  }

  /**
   * Waits until the fence signals, without blocking the thread.
   *
   * @param options `timeout` in ms and an abort `signal`.
   * @throws {Deno.errors.TimedOut} When the timeout passes first.
   * @throws {DOMException} The signal's reason (`AbortError`) when aborted.
   */
  async wait(options: WaitOptions = {}): Promise<void> {
    this.checkOpen("wait on");
    await waitForEvents(this.kernel, this.fd, POLLIN, options, "sync_file fence");
  }
}

/**
 * Wraps a fresh sync_file fd the library just got from the kernel. Internal to the library.
 *
 * @param kernel The kernel.
 * @param fd The new fd, now owned by the sync file.
 * @returns The sync file.
 */
export function adoptSyncFile(kernel: Kernel, fd: number): SyncFile {
  return new SyncFile(kAdopt, kernel, fd, true);
}
