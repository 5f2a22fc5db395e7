/**
 * drivers/dma-buf/dma-fence.c, dma-fence-array.c and sync_file.c: fences that signal once,
 * with callbacks (`dma_fence_add_callback`), a container fence for several (what
 * `dma_resv_get_singleton` makes), and sync_file fds whose `poll` reports POLLIN once the
 * fence has signalled (never POLLOUT).
 *
 * Fences are made by drivers of the model (the queueing stage of `drivers/queue.ts` signals
 * its fence from its kernel worker) or are the always-signalled stub.
 *
 * @module
 */
import { file, type file_operations, FMODE_OPENED, type inode } from "./file_table.ts";
import { POLLIN } from "../uapi/constants.ts";
import { O_RDONLY } from "../uapi/constants.ts";
import { type poll_table, poll_wait, wait_queue_head } from "./wait.ts";

/** `enum dma_resv_usage`, as bufinfo prints it (in increasing order). */
export type dma_resv_usage = "kernel" | "write" | "read" | "bookkeep";

/** `dma_fence_func_t`. */
export type dma_fence_func = (fence: dma_fence) => void;

/** `struct dma_fence`. */
export class dma_fence {
  /** `ops->get_driver_name()`. */
  readonly driver: string;
  /** `ops->get_timeline_name()`. */
  readonly timeline: string;
  /** Fence context (`dma_fence_context_alloc`). */
  readonly context: number;
  /** Sequence number on its context. */
  readonly seqno: number;
  /** `DMA_FENCE_FLAG_SIGNALED_BIT`. */
  signalled = false;
  /**
   * A driver's own expiry (vgem's 10 s timer): the fence signals itself at `expires`
   * (`performance.now()` ms) by `fire()`. A blocking wait that nothing else can end sleeps until
   * then instead of failing.
   */
  timeout: { readonly expires: number; fire(): void } | null = null;
  /** `fence->error`: 0, or a negative errno set before signalling. */
  error = 0;
  /** `cb_list`: callbacks to run when it signals. */
  readonly cb_list: Set<dma_fence_func> = new Set();

  /**
   * `dma_fence_init(fence, ops, lock, context, seqno)`.
   *
   * @param driver Driver name.
   * @param timeline Timeline name.
   * @param context Context from {@linkcode dma_fence_context_alloc}.
   * @param seqno Sequence number.
   */
  constructor(driver: string, timeline: string, context: number, seqno: number) {
    this.driver = driver;
    this.timeline = timeline;
    this.context = context;
    this.seqno = seqno;
  }
}

let next_context = 1;

/** `dma_fence_context_alloc(num)`: the first of `num` new fence contexts (context 0 is the stub's). */
export function dma_fence_context_alloc(num = 1): number {
  const c = next_context;
  next_context += num;
  return c;
}

/** `dma_fence_is_signaled(fence)`. */
export function dma_fence_is_signaled(f: dma_fence): boolean {
  return f.signalled;
}

/** `dma_fence_set_error(fence, error)`: before signalling only. */
export function dma_fence_set_error(f: dma_fence, error: number): void {
  if (!f.signalled) f.error = error;
}

/**
 * `dma_fence_signal(fence)`: marks it signalled and runs its callbacks once.
 *
 * @returns False when it had signalled already (`-EINVAL` in C).
 */
export function dma_fence_signal(f: dma_fence): boolean {
  if (f.signalled) return false;
  f.signalled = true;
  const cbs = [...f.cb_list];
  f.cb_list.clear();
  for (const cb of cbs) cb(f);
  return true;
}

/**
 * `dma_fence_add_callback(fence, cb, func)`.
 *
 * @returns False (`-ENOENT`) when the fence has signalled already: `func` is not called.
 */
export function dma_fence_add_callback(f: dma_fence, func: dma_fence_func): boolean {
  if (f.signalled) return false;
  f.cb_list.add(func);
  return true;
}

/** `dma_fence_remove_callback(fence, cb)`: true when the callback was still pending. */
export function dma_fence_remove_callback(f: dma_fence, func: dma_fence_func): boolean {
  return f.cb_list.delete(func);
}

/** `dma_fence_get_stub()`: the always-signalled fence of context 0. */
export const dma_fence_stub: dma_fence = new dma_fence("stub", "stub", 0, 0);
dma_fence_stub.signalled = true;

/**
 * `dma_fence_array_create(fences, context, seqno, signal_on_any = false)`: a fence that signals
 * once every fence in `fences` has (with the first error among them).
 */
export function dma_fence_array_create(fences: readonly dma_fence[]): dma_fence {
  const array = new dma_fence("dma_fence_array", "unbound", dma_fence_context_alloc(), 1);
  (array as { components?: readonly dma_fence[] }).components = fences;
  let left = fences.length;
  const one = (f: dma_fence) => {
    if (f.error && !array.error) array.error = f.error;
    if (--left === 0) dma_fence_signal(array);
  };
  for (const f of fences) {
    if (!dma_fence_add_callback(f, one)) one(f);
  }
  if (fences.length === 0) dma_fence_signal(array);
  return array;
}

/** `dma_fence_unwrap_for_each()`: the fences inside a container, or the fence itself. */
export function dma_fence_unwrap(f: dma_fence): readonly dma_fence[] {
  return (f as { components?: readonly dma_fence[] }).components ?? [f];
}

/** `struct sync_file`. */
export interface sync_file {
  /** The fence it carries. */
  readonly fence: dma_fence;
  /** `wq`: woken when the fence signals, once polling enabled the callback. */
  readonly wq: wait_queue_head;
  /** `POLL_ENABLED` flag. */
  poll_enabled: boolean;
}

function sync_file_poll(f: file, _events: number, pt?: poll_table): number {
  const sf = f.private_data as sync_file;
  poll_wait(sf.wq, pt);
  if (!sf.poll_enabled) {
    sf.poll_enabled = true;
    // fence_check_cb_func: wake the pollers when the fence signals.
    if (!dma_fence_add_callback(sf.fence, () => sf.wq.wake_up(POLLIN))) sf.wq.wake_up(POLLIN);
  }
  return dma_fence_is_signaled(sf.fence) ? POLLIN : 0;
}

/** `sync_file_fops`. */
export const sync_file_fops: file_operations = {
  poll: sync_file_poll,
};

/**
 * `sync_file_create(fence)`: an anon-inode file named `sync_file` (`O_RDONLY`).
 *
 * @param fence The fence to carry.
 * @param ino The anon inode (shared by every anon-inode file, as `anon_inode_getfile` does).
 */
export function sync_file_create(fence: dma_fence, ino: inode): file {
  return new file(
    sync_file_fops,
    ino,
    O_RDONLY,
    1 | FMODE_OPENED,
    () => "anon_inode:sync_file",
    { fence, wq: new wait_queue_head(), poll_enabled: false } satisfies sync_file,
  );
}

/** `sync_file_get_fence(fd)`'s check: the fence of a sync_file, or null for any other file. */
export function sync_file_get_fence(f: file | undefined): dma_fence | null {
  return f && f.f_op === sync_file_fops ? (f.private_data as sync_file).fence : null;
}
