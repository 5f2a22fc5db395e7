/**
 * include/linux/wait.h and include/linux/poll.h in miniature: wait queues that drivers wake,
 * and the poll table through which `poll(2)` (and the model's `pollAsync`) registers on them.
 *
 * A waiter is a callback. `wake_up(wq, key)` calls every waiter whose interest intersects `key`
 * (0 wakes all). Nothing sleeps here: a synchronous `poll(2)` of the model runs pending kernel
 * work instead (see `workqueue.ts`), an asynchronous one resolves a promise from the callback.
 *
 * @module
 */

/** A waiter on a wait queue: called with the wake key (the events that happened, or 0). */
export type wait_queue_func = (key: number) => void;

/** `struct wait_queue_head`. */
export class wait_queue_head {
  readonly #entries = new Set<wait_queue_func>();

  /** `add_wait_queue(wq, entry)`. */
  add(entry: wait_queue_func): void {
    this.#entries.add(entry);
  }

  /** `remove_wait_queue(wq, entry)`. */
  remove(entry: wait_queue_func): void {
    this.#entries.delete(entry);
  }

  /** `waitqueue_active(wq)`. */
  get active(): boolean {
    return this.#entries.size > 0;
  }

  /** Number of waiters (for tests). */
  get length(): number {
    return this.#entries.size;
  }

  /** `wake_up_poll(wq, key)` (`key` 0: `wake_up_all`). */
  wake_up(key = 0): void {
    for (const e of [...this.#entries]) e(key);
  }
}

/**
 * `struct poll_table_struct`: what `poll_wait()` registers on. `_key` is the set of events the
 * caller asked for (with POLLERR | POLLHUP), as `poll_requested_events()` returns it.
 */
export class poll_table {
  /** `_key`. */
  readonly _key: number;
  readonly #wake: wait_queue_func;
  readonly #queues: wait_queue_head[] = [];

  /**
   * A table whose waiters all call `wake`.
   *
   * @param key The requested events.
   * @param wake Called when any queue the table registered on is woken with a matching key.
   */
  constructor(key: number, wake: () => void) {
    this._key = key;
    this.#wake = (k) => {
      if (k === 0 || (k & this._key) !== 0) wake();
    };
  }

  /** `__pollwait()`: registers on `wq`. */
  add(wq: wait_queue_head): void {
    wq.add(this.#wake);
    this.#queues.push(wq);
  }

  /** `poll_freewait()`: removes every registration. */
  free(): void {
    for (const wq of this.#queues) wq.remove(this.#wake);
    this.#queues.length = 0;
  }
}

/** `poll_wait(filp, wait_address, p)`: registers `p` (when there is one) on `wq`. */
export function poll_wait(wq: wait_queue_head, pt: poll_table | undefined): void {
  pt?.add(wq);
}

/** `poll_requested_events(p)`: the caller's events, or all of them without a table. */
export function poll_requested_events(pt: poll_table | undefined): number {
  return pt ? pt._key : ~0;
}
