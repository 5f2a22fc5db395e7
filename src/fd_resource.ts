/**
 * What every fd-owning object of the library shares: the fd and its kernel, a closed flag
 * checked first by every method ("Cannot poll a closed SyncFile"), an idempotent `close()`,
 * `[Symbol.dispose]`, and the GC backstop for an owned fd that is never closed.
 *
 * @module
 */
import type { Kernel } from "./kernel/types.ts";
import { closedError } from "./errors.ts";
import { allocationSite, backstop } from "./dmabuf/_lifetime.ts";

/** An object that holds one fd on one kernel. */
export abstract class FdResource {
  #kernel: Kernel;
  #fd: number;
  #owned: boolean;
  #closed = false;
  #what: string;

  /**
   * Takes `fd`; when `owned`, `close()` closes it and the backstop closes it if this object is
   * collected first.
   *
   * @param kernel The kernel the fd belongs to.
   * @param fd The fd.
   * @param what The class name for error messages, e.g. `"SyncFile"`.
   * @param owned Whether this object owns the fd. Default `true`.
   */
  protected constructor(kernel: Kernel, fd: number, what: string, owned = true) {
    this.#kernel = kernel;
    this.#fd = fd;
    this.#what = what;
    this.#owned = owned;
    if (owned) {
      backstop.register(this, { kind: "fd", kernel, fd, what, site: allocationSite() }, this);
    }
  }

  /**
   * Throws `Deno.errors.BadResource` (`EBADF`) if the object is closed.
   *
   * @param action What was attempted, e.g. `"poll"`.
   */
  protected checkOpen(action: string): void {
    if (this.#closed) throw closedError(action, this.#what);
  }

  /** The fd. */
  get fd(): number {
    this.checkOpen("use");
    return this.#fd;
  }

  /** The kernel the fd belongs to. */
  get kernel(): Kernel {
    return this.#kernel;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the fd if owned. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) {
      backstop.unregister(this);
      this.#kernel.close(this.#fd);
    }
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
