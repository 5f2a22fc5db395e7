/**
 * The kernel's software sync timeline (`CONFIG_SW_SYNC`, debugfs `/sys/kernel/debug/sync/sw_sync`),
 * for tests and examples: a fence that user space signals by hand. Each open of the debugfs file
 * is one timeline (named after the opening thread's `comm`); `SW_SYNC_IOC_CREATE_FENCE` makes a
 * sync_file whose fence signals when the timeline's value reaches `value`; `SW_SYNC_IOC_INC`
 * advances the value. Closing the timeline signals its pending fences with `-ENOENT`.
 *
 * Layouts and numbers from `drivers/dma-buf/sw_sync.c` (6.12):
 *
 * ```c
 * struct sw_sync_create_fence_data {
 *   __u32 value;     // @0  the fence's seqno on the timeline
 *   char  name[32];  // @4  ignored by 6.12 (the sync_file is named after its fence)
 *   __s32 fence;     // @36 out: the new sync_file fd (O_CLOEXEC)
 * };                 // 40 bytes
 * #define SW_SYNC_IOC_CREATE_FENCE _IOWR('W', 0, struct sw_sync_create_fence_data) // 0xC0285700
 * #define SW_SYNC_IOC_INC          _IOW('W', 1, __u32)                             // 0x40045701
 * ```
 *
 * Fences show in debugfs `dma_buf/bufinfo` as `sw_sync <comm> seq <value> [un]signalled`.
 * Debug-only kernel interface: no distribution kernel enables it (Debian's 6.12 does not).
 *
 * @module
 */
import type { Kernel, UserBuffer } from "../kernel/types.ts";
import { O_CLOEXEC, O_RDWR } from "../uapi/constants.ts";
import {
  sw_sync_create_fence_data,
  SW_SYNC_IOC_CREATE_FENCE,
  SW_SYNC_IOC_INC,
  SW_SYNC_PATH,
} from "../uapi/sync_file.ts";

export { sw_sync_create_fence_data, SW_SYNC_IOC_CREATE_FENCE, SW_SYNC_IOC_INC, SW_SYNC_PATH };

/** One sw_sync timeline (one open of {@linkcode SW_SYNC_PATH}). */
export class SwSyncTimeline {
  readonly #kernel: Kernel;
  readonly #create: UserBuffer;
  readonly #inc: UserBuffer;
  #fd: number;

  /**
   * Opens a new timeline at value 0.
   *
   * @throws The open's errno error (`ENOENT` without CONFIG_SW_SYNC or debugfs, `EACCES` when
   * not root).
   */
  constructor(kernel: Kernel, path: string = SW_SYNC_PATH) {
    this.#kernel = kernel;
    this.#fd = kernel.open(path, O_RDWR | O_CLOEXEC);
    this.#create = kernel.userBuffer(sw_sync_create_fence_data.size);
    this.#inc = kernel.userBuffer(4);
  }

  /** The timeline's fd. */
  get fd(): number {
    return this.#fd;
  }

  /**
   * A new sync_file fd whose fence signals once the timeline reaches `value` (at once when it
   * has already; the same fence again when the timeline has an unsignalled one at `value`). The
   * caller owns the fd (close it with the kernel). `name` goes into the struct, which 6.12
   * ignores: `SYNC_IOC_FILE_INFO` names the file `sw_sync-<comm><context>-<value>`.
   *
   * @throws {ErrnoError} `EMFILE` when the fd table is full, `ENOMEM`.
   */
  createFence(value: number, name = "sw_sync"): number {
    const { bytes, view } = this.#create;
    bytes.fill(0);
    view.setUint32(sw_sync_create_fence_data.value, value >>> 0, true);
    const n = new TextEncoder().encode(name).subarray(0, 31);
    bytes.set(n, sw_sync_create_fence_data.name);
    this.#kernel.ioctl(
      this.#fd,
      SW_SYNC_IOC_CREATE_FENCE,
      this.#create,
      "SW_SYNC_IOC_CREATE_FENCE",
    );
    return view.getInt32(sw_sync_create_fence_data.fence, true);
  }

  /** Advances the timeline by `step`, signalling every fence it reaches. */
  inc(step = 1): void {
    this.#inc.view.setUint32(0, step >>> 0, true);
    this.#kernel.ioctl(this.#fd, SW_SYNC_IOC_INC, this.#inc, "SW_SYNC_IOC_INC");
  }

  /** Closes the timeline; its unsignalled fences signal with an error (`-ENOENT`). */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    this.#kernel.close(fd);
  }
}
