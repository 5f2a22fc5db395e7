/**
 * fs/select.c: `poll(2)`, and the model's non-blocking `poll` that resolves from the files' wait
 * queues. See README "Fences, waits and the kernel worker" for how a blocking poll "sleeps".
 *
 * @module
 */
import type { PollRequest } from "../kernel/types.ts";
import { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT } from "../uapi/constants.ts";
import { Errno, fail, is_int } from "./errno.ts";
import type { Task } from "./sched.ts";
import { poll_table } from "./wait.ts";
import { system_wq } from "./workqueue.ts";

/** `POLLRDNORM`. */
export const POLLRDNORM = 0x40;
/** `POLLWRNORM`. */
export const POLLWRNORM = 0x100;
/** `DEFAULT_POLLMASK`: what a file without a `poll` method reports. */
export const DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;
/** The event bits of `struct pollfd` (a `short`). */
const POLL_EVENTS_MASK = 0xffff;

/**
 * One pass of `do_poll()`: each fd's ready mask, with a poll table per file registered on the
 * file's wait queues (pushed to `tables`, freed by the caller); any wake-up calls `wake`.
 *
 * @throws {KernelError} EFAULT when `requests` is not an array.
 */
export function do_poll(
  current: Task,
  requests: readonly PollRequest[],
  wake: () => void,
  tables: poll_table[],
): number[] {
  if (!Array.isArray(requests)) fail(Errno.EFAULT);
  return requests.map(({ fd, events }) => {
    if (!is_int(fd) || fd < 0) return 0;
    const f = current.files.lookup(fd);
    if (!f) return POLLNVAL;
    const ev = (events & POLL_EVENTS_MASK) | POLLERR | POLLHUP;
    if (!f.f_op.poll) return DEFAULT_POLLMASK & ev;
    const pt = new poll_table(ev, wake);
    tables.push(pt);
    return f.f_op.poll(f, ev, pt) & ev;
  });
}

/**
 * `do_sys_poll()`. When nothing is ready and `timeoutMs` is not 0, the call "sleeps" by running
 * the machine's pending kernel work until a polled file is woken or the timeout passes (see
 * `workqueue.ts`). When no work is left to run, nothing can wake it any more: a finite timeout
 * returns all zeros at once (no time passes), -1 fails with EINTR (Linux would sleep until a
 * signal).
 *
 * @throws {KernelError} EINVAL for a non-integer timeout, EFAULT for bad requests, EINTR as
 * above.
 */
export function do_sys_poll(
  current: Task,
  requests: readonly PollRequest[],
  timeoutMs: number,
): number[] {
  if (!is_int(timeoutMs)) fail(Errno.EINVAL);
  const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
  const wq = system_wq(current.machine);
  for (;;) {
    let woken = false;
    const tables: poll_table[] = [];
    try {
      const revents = do_poll(current, requests, () => (woken = true), tables);
      if (timeoutMs === 0 || revents.some((r) => r !== 0)) return revents;
      if (!wq.run_until(() => woken, deadline) && !woken) {
        if (timeoutMs < 0) fail(Errno.EINTR);
        return revents;
      }
    } finally {
      for (const t of tables) t.free();
    }
  }
}

/**
 * `poll(2)` without blocking the caller (the model's own): resolves with `revents` once any fd
 * is ready (woken through the files' wait queues by the kernel worker — no polling loop), with
 * all zeros when `timeoutMs` passes (-1: never), and rejects with `signal.reason` when `signal`
 * aborts.
 *
 * @param pass Runs one {@linkcode do_poll} pass as a syscall (so its errors become the
 * library's typed errors); it may throw, which rejects the promise.
 */
export function poll_async(
  requests: readonly PollRequest[],
  timeoutMs: number,
  signal: AbortSignal | undefined,
  pass: (wake: () => void, tables: poll_table[]) => number[],
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
        revents = pass(wake, tables);
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
