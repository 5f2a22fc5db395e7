/**
 * What every fd-owning object of the library shares: the fd and its kernel, a closed flag
 * checked first by every method ("Cannot poll a closed SyncFile"), an idempotent `close()`,
 * `[Symbol.dispose]`, and the GC backstop for an owned fd (and the mappings made through it)
 * that is never closed.
 *
 * @module
 */
import type { Kernel, MappedRegion } from "./kernel/types.ts";
import { closedError, errnoError } from "./errors.ts";
import { Errno } from "./uapi/errno.ts";
import { allocationSite, backstop, type OwnerRecord } from "./dmabuf/_lifetime.ts";

/**
 * An object that holds one fd on one kernel. Internal: the public classes built on it describe
 * its members (`fd`, `kernel`, `closed`, `close()`, `[Symbol.dispose]`) in their own docs.
 *
 * @ignore
 */
export abstract class FdResource {
  #kernel: Kernel;
  #fd: number;
  #owned: boolean;
  #closed = false;
  #what: string;
  #record: OwnerRecord | undefined;
  #details: { size?: number; name?: string } | undefined;
  /** The backstop's unregister token: a separate object only this owner holds. */
  readonly #token = {};

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
    if (owned) this.#register();
  }

  #register(): OwnerRecord {
    const fd = this.#owned ? this.#fd : undefined;
    const record: OwnerRecord = {
      kernel: this.#kernel,
      fd,
      regions: undefined,
      what: this.#what,
      size: this.#details?.size,
      name: this.#details?.name,
      site: allocationSite(),
    };
    backstop.register(this, record, this.#token);
    return this.#record = record;
  }

  /**
   * What a leak report says about this object besides its class (a buffer's size and name).
   * Cheap: a field write on the backstop's record, when there is one.
   *
   * @param details The size in bytes and/or the name.
   */
  protected leakDetails(details: { size?: number; name?: string }): void {
    const d = this.#details ??= {};
    if (details.size !== undefined) d.size = details.size;
    if (details.name !== undefined) d.name = details.name;
    if (this.#record !== undefined) {
      this.#record.size = d.size;
      this.#record.name = d.name;
    }
  }

  /**
   * Throws `Deno.errors.BadResource` (`EBADF`) if the object is closed.
   *
   * @param action What was attempted, e.g. `"poll"`: the message reads "Cannot poll a closed
   * SyncFile".
   */
  protected checkOpen(action: string): void {
    if (this.#closed) throw closedError(action, this.#what);
  }

  /** Whether this object owns its fd (closes it on `close()`). */
  protected get owned(): boolean {
    return this.#owned;
  }

  /**
   * Records a mapping made through this fd, so the backstop unmaps it if the owner is collected
   * first (a borrowed fd registers here on its first mapping).
   *
   * @param region The mapping.
   * @returns A function that forgets it (call it once unmapped).
   */
  protected trackMapping(region: MappedRegion): () => void {
    const record = this.#record ?? this.#register();
    const regions = record.regions ??= new Set();
    regions.add(region);
    return () => regions.delete(region);
  }

  /**
   * Called once by `close()` and `giveUpFd()` before the fd is closed or handed on: subclasses
   * release what they made through it (a buffer unmaps its mappings). Must not throw.
   */
  protected onClose(): void {}

  #finish(): void {
    this.#closed = true;
    this.onClose();
    if (this.#record !== undefined) {
      backstop.unregister(this.#token);
      this.#record = undefined;
    }
  }

  /**
   * Closes this object without closing the fd and returns it: the caller owns it from now on.
   *
   * @param method The public method, for the error, e.g. `"DmaBuf.intoFd"`.
   * @returns The fd, still open.
   * @throws {Deno.errors.BadResource} `EBADF` if closed.
   * @throws {ErrnoError} `EINVAL` if the fd is borrowed: there is no ownership to give.
   */
  protected giveUpFd(method: string): number {
    this.checkOpen("give up the fd of");
    if (!this.#owned) {
      throw errnoError(Errno.EINVAL, method, {
        detail: `fd ${this.#fd} is borrowed (owned: false); only its owner can give it away`,
      });
    }
    this.#finish();
    return this.#fd;
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

  /**
   * Releases what this object made through the fd and closes the fd if owned. Idempotent.
   *
   * @throws {ErrnoError} If `close(2)` fails; the object is closed all the same.
   */
  close(): void {
    if (this.#closed) return;
    this.#finish();
    if (this.#owned) this.#kernel.close(this.#fd);
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
