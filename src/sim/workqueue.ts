/**
 * kernel/workqueue.c in miniature: `system_wq`, the machine's kernel worker. Drivers queue work
 * (`queue_work`); it runs later, one item per macrotask (`setImmediate`), so a syscall that
 * queued work returns before the work is done and user space really has to wait for it.
 * (`setTimeout(0)` would do too, but a timer set from a timer callback is clamped to a few ms,
 * which measured ≈ 3 ms of idle time per work item.)
 *
 * Blocking waits: JS cannot put a synchronous syscall to sleep while the worker runs on another
 * CPU. So a syscall of the model that must block (a `poll(2)` with a timeout, `DMA_BUF_IOCTL_SYNC`
 * START on a buffer with unsignalled fences) runs the pending work items itself, oldest first,
 * until its condition holds ({@linkcode workqueue_struct.run_until}) — what the worker would have
 * done while the caller slept. If the queue runs dry first, nothing in the machine can make the
 * condition true any more (on Linux the caller would sleep until a signal), and the caller
 * decides: `poll` reports a timeout, SYNC returns EINTR.
 *
 * @module
 */
import type { MachineContext } from "./context.ts";
import { clearImmediate, setImmediate } from "node:timers";

/** `struct work_struct`: the function to run. */
export type work_func = () => void;

/** `struct workqueue_struct`: a FIFO of pending work run by one worker. */
export class workqueue_struct {
  readonly #pending: work_func[] = [];
  #head = 0;
  #timer: ReturnType<typeof setImmediate> | undefined;
  readonly #onError: (e: unknown) => void;

  /**
   * An empty queue.
   *
   * @param onError Where an exception escaping a work item goes (the kernel log).
   */
  constructor(onError: (e: unknown) => void) {
    this.#onError = onError;
  }

  /** Number of items waiting to run. */
  get pending(): number {
    return this.#pending.length - this.#head;
  }

  /** `queue_work(wq, work)`: runs `work` later, after the items already queued. */
  queue_work(work: work_func): void {
    this.#pending.push(work);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.pending === 0) return;
    this.#timer = setImmediate(() => {
      this.#timer = undefined;
      this.run_one();
      this.#schedule();
    });
  }

  /** Runs the oldest pending item now; false when none was pending. */
  run_one(): boolean {
    if (this.pending === 0) return false;
    const work = this.#pending[this.#head];
    this.#pending[this.#head++] = undefined as unknown as work_func;
    if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending.splice(0, this.#head);
      this.#head = 0;
    }
    try {
      work();
    } catch (e) {
      this.#onError(e);
    }
    if (this.pending === 0 && this.#timer !== undefined) {
      clearImmediate(this.#timer);
      this.#timer = undefined;
    }
    return true;
  }

  /**
   * Runs pending work, oldest first, until `cond()` holds, the queue is empty, or `deadline`
   * (a `performance.now()` time) passes.
   *
   * @returns Whether `cond()` holds at the end.
   */
  run_until(cond: () => boolean, deadline = Infinity): boolean {
    while (!cond()) {
      if (performance.now() >= deadline || !this.run_one()) return cond();
    }
    return true;
  }
}

const queues = new WeakMap<MachineContext, workqueue_struct>();

/** `system_wq` of a machine, made on first use. */
export function system_wq(m: MachineContext): workqueue_struct {
  let wq = queues.get(m);
  if (!wq) {
    wq = new workqueue_struct((e) =>
      m.printk(`workqueue: work item failed: ${(e as Error)?.message ?? String(e)}`)
    );
    queues.set(m, wq);
  }
  return wq;
}
