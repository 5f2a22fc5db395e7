/**
 * Waiting for an fd to become ready without blocking the JS thread: one `Kernel.pollAsync`
 * (no busy waiting), with a timeout (`TimedOut` error) and an `AbortSignal` (rejects with the
 * signal's reason, an `AbortError` `DOMException` by default).
 *
 * @module
 */
import type { Kernel } from "../kernel/types.ts";
import { argumentError, describe, errnoError, instanceArg, optionsArg } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import { POLLERR, POLLNVAL } from "../uapi/constants.ts";

/** Options of the `wait` methods. */
export interface WaitOptions {
  /** Stops waiting: the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Milliseconds to wait at most (default: no limit); then a `TimedOut` error. */
  timeout?: number;
}

/**
 * Waits until `fd` reports any of `events`.
 *
 * @param kernel The kernel the fd belongs to.
 * @param fd The fd.
 * @param events `POLLIN`, `POLLOUT`, …
 * @param options Timeout and signal.
 * @param what What is awaited, for the error message, e.g. `"dma-buf writers"`.
 * @returns The `revents` seen.
 * @throws {Deno.errors.TimedOut} `ETIMEDOUT` when the timeout passes first.
 * @throws {Deno.errors.BadResource} `EBADF` when the fd is not open (`POLLNVAL`).
 * @throws {ErrnoError} `EIO` when the file reports `POLLERR`; `EINVAL` for a bad timeout.
 */
export async function waitForEvents(
  kernel: Kernel,
  fd: number,
  events: number,
  options: WaitOptions | undefined = {},
  what = "fd",
): Promise<number> {
  const { signal, timeout } = optionsArg("wait", options);
  if (
    timeout !== undefined &&
    (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0)
  ) {
    throw argumentError(
      "range",
      "wait",
      "options.timeout",
      `must be a number of milliseconds ≥ 0, got ${describe(timeout)}`,
    );
  }
  if (signal !== undefined) instanceArg("wait", "options.signal", signal, AbortSignal);
  signal?.throwIfAborted();
  const deadline = timeout === undefined ? Infinity : performance.now() + timeout;
  for (;;) {
    const left = deadline - performance.now();
    const ms = left === Infinity ? -1 : Math.max(0, Math.min(Math.ceil(left), 0x7fffffff));
    const [revents] = await kernel.pollAsync([{ fd, events }], ms, signal);
    if (revents & POLLNVAL) {
      throw errnoError(Errno.EBADF, "poll", { detail: `fd ${fd} is not open` });
    }
    if (revents & events) return revents;
    if (revents & POLLERR) {
      throw errnoError(Errno.EIO, "poll", { detail: `fd ${fd} reported POLLERR` });
    }
    if (performance.now() >= deadline) {
      throw errnoError(Errno.ETIMEDOUT, "poll", {
        detail: `${what} not ready within ${timeout} ms`,
      });
    }
  }
}
