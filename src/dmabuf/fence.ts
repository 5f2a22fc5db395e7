/**
 * sync_file fds: a fence exported from a dma-buf's reservation object
 * (`DMA_BUF_IOCTL_EXPORT_SYNC_FILE`), to wait on, hand to another process or driver, or
 * import into another buffer (`DMA_BUF_IOCTL_IMPORT_SYNC_FILE`).
 *
 * @module
 */
import type { Kernel } from "../kernel/types.ts";
import { kernelOption } from "../kernel/select.ts";
import { argumentError, describe, errnoError, optionsArg } from "../errors.ts";
import { FdResource } from "../fd_resource.ts";
import { Errno } from "../uapi/errno.ts";
import { F_DUPFD_CLOEXEC, POLLIN } from "../uapi/constants.ts";
import { DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE } from "../uapi/dma_buf.ts";
import {
  sync_fence_info,
  sync_file_info,
  SYNC_IOC_FILE_INFO,
  SYNC_IOC_MERGE,
  sync_merge_data,
} from "../uapi/sync_file.ts";
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
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function cstr(bytes: Uint8Array, offset: number, size: number): string {
  const s = bytes.subarray(offset, offset + size);
  const nul = s.indexOf(0);
  return decoder.decode(nul < 0 ? s : s.subarray(0, nul));
}

/**
 * One fence inside a sync_file, as `SYNC_IOC_FILE_INFO` reports it (`struct sync_fence_info`,
 * drivers/dma-buf/sync_file.c).
 */
export interface SyncFenceInfo {
  /** The driver that made it (`driver_name`): `"sw_sync"`, `"stub"`, a GPU driver's name… */
  driver: string;
  /** Its timeline (`obj_name`): for sw_sync the opener's command name, `"stub"` for the stub. */
  timeline: string;
  /** 0 while pending, 1 once signalled, or the negative errno it signalled with (-2, -125…). */
  status: number;
  /** When it signalled, in ns of `CLOCK_MONOTONIC`; 0 while pending. */
  timestamp: number;
}

/** What `SYNC_IOC_FILE_INFO` says about a sync_file (`struct sync_file_info`). */
export interface SyncFileInfo {
  /**
   * The name given at merge, else `<driver>-<timeline><context>-<seqno>` of its fence (at most
   * 31 bytes).
   */
  name: string;
  /**
   * The status of the file's fence as a whole (the first call of the two-call protocol): 0
   * pending, 1 signalled, negative errno on error.
   */
  status: number;
  /** Every fence it holds (a container such as a merge is unwrapped), at least one. */
  fences: SyncFenceInfo[];
}

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
    const kernel = kernelOption(o.kernel, "SyncFile.from");
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
   * The file's name, status and fences, from `SYNC_IOC_FILE_INFO` called twice as the kernel
   * expects: with `num_fences` 0 for the count and overall status, then with room for every
   * `struct sync_fence_info` (drivers/dma-buf/sync_file.c).
   *
   * @returns The name, the overall status and each fence's driver, timeline, status, timestamp.
   * @throws {Deno.errors.BadResource} When the SyncFile is closed.
   * @throws {ErrnoError} `ENOTTY` if the fd is not a sync_file, `ENOMEM`.
   *
   * @example A buffer without fences exports the signalled stub
   * ```ts
   * import { openHeap } from "../../mod.ts";
   * import assert from "node:assert/strict";
   *
   * using heap = openHeap("system");
   * using buf = heap.allocate(4096);
   * using fence = buf.exportSyncFile("write");
   * const info = fence.info();
   * assert.equal(info.status, 1);
   * assert.deepEqual(info.fences.map((f) => [f.driver, f.timeline, f.status]), [["stub", "stub", 1]]);
   * ```
   */
  info(): SyncFileInfo {
    this.checkOpen("read the info of");
    const k = this.kernel;
    const arg = k.userBuffer(sync_file_info.size);
    k.ioctl(this.fd, SYNC_IOC_FILE_INFO, arg, "SYNC_IOC_FILE_INFO");
    const status = arg.view.getInt32(sync_file_info.status, true);
    const count = arg.view.getUint32(sync_file_info.num_fences, true);
    const list = k.userBuffer(count * sync_fence_info.size);
    arg.bytes.fill(0);
    arg.view.setUint32(sync_file_info.num_fences, count, true);
    arg.view.setBigUint64(sync_file_info.sync_fence_info, BigInt(list.address), true);
    k.ioctl(this.fd, SYNC_IOC_FILE_INFO, arg, "SYNC_IOC_FILE_INFO");
    const n = arg.view.getUint32(sync_file_info.num_fences, true);
    const fences: SyncFenceInfo[] = [];
    for (let i = 0; i < n; i++) {
      const o = i * sync_fence_info.size;
      fences.push({
        driver: cstr(list.bytes, o + sync_fence_info.driver_name, 32),
        timeline: cstr(list.bytes, o + sync_fence_info.obj_name, 32),
        status: list.view.getInt32(o + sync_fence_info.status, true),
        timestamp: Number(list.view.getBigUint64(o + sync_fence_info.timestamp_ns, true)),
      });
    }
    return { name: cstr(arg.bytes, sync_file_info.name, 32), status, fences };
  }

  /**
   * A new sync_file that signals once both this one and `other` have (`SYNC_IOC_MERGE`): it
   * holds the pending fences of both, the latest per timeline, or a signalled stub when none is
   * pending. Both inputs stay open and unchanged. The new fd is close-on-exec.
   *
   * @param other The other sync file (may be this one).
   * @param name The new file's name (at most 31 bytes); "" names it after its fence.
   * @returns The merged sync file (owned).
   * @throws {Deno.errors.BadResource} When either SyncFile is closed.
   * @throws {ErrnoError} `EINVAL` for a name over 31 bytes or sync files of different kernels;
   *   `ENOENT` if `other`'s fd is not a sync_file; `EMFILE`, `ENOMEM`.
   *
   * @example Merging two exported fences
   * ```ts
   * import { openHeap } from "../../mod.ts";
   * import assert from "node:assert/strict";
   *
   * using heap = openHeap("system");
   * using a = heap.allocate(4096);
   * using b = heap.allocate(4096);
   * using fa = a.exportSyncFile("write");
   * using fb = b.exportSyncFile("write");
   * using both = fa.merge(fb, "frame 1");
   * assert.equal(both.info().name, "frame 1");
   * assert.equal(both.poll(), true);
   * ```
   */
  merge(other: SyncFile, name = ""): SyncFile {
    this.checkOpen("merge");
    if (!(other instanceof SyncFile)) {
      throw errnoError(Errno.EINVAL, "SYNC_IOC_MERGE", {
        detail: "The other fence is not a SyncFile",
      });
    }
    if (other.kernel !== this.kernel) {
      throw errnoError(Errno.EINVAL, "SYNC_IOC_MERGE", {
        detail: "The sync files belong to different kernels",
      });
    }
    const bytes = encoder.encode(String(name));
    if (bytes.length > 31 || bytes.includes(0)) {
      throw errnoError(Errno.EINVAL, "SYNC_IOC_MERGE", {
        detail: `The name must be at most 31 bytes without NUL, got ${bytes.length}`,
      });
    }
    const k = this.kernel;
    const arg = k.userBuffer(sync_merge_data.size);
    arg.bytes.set(bytes, sync_merge_data.name);
    arg.view.setInt32(sync_merge_data.fd2, other.fd, true);
    k.ioctl(this.fd, SYNC_IOC_MERGE, arg, "SYNC_IOC_MERGE");
    return adoptSyncFile(k, arg.view.getInt32(sync_merge_data.fence, true));
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
