/**
 * drivers/dma-buf/dma-fence.c, dma-fence-array.c and dma-fence-unwrap.c: fences that signal
 * once, with callbacks (`dma_fence_add_callback`), lazily enabled signalling (a fence's
 * `signaled` op is asked by `dma_fence_is_signaled`, which then signals it), timestamps, the
 * signalled stubs, `dma_fence_array` containers, and `dma_fence_unwrap_merge`.
 *
 * Fences are made by drivers of the model (the queueing stage of `drivers/queue.ts`, sw_sync
 * timelines of `sw_sync.ts`) or are the always-signalled stubs. sync_file fds live in
 * `sync_file.ts`.
 *
 * @module
 */

/** `enum dma_resv_usage`, as bufinfo prints it (in increasing order). */
export type dma_resv_usage = "kernel" | "write" | "read" | "bookkeep";

/** `dma_fence_func_t`. */
export type dma_fence_func = (fence: dma_fence) => void;

/** The optional callbacks of `struct dma_fence_ops` the model uses (names are plain fields). */
export interface dma_fence_ops {
  /** `enable_signaling`: false when the fence has signalled already (the core signals it). */
  enable_signaling?(fence: dma_fence): boolean;
  /** `signaled`: polled by `dma_fence_is_signaled` before signalling was reported. */
  signaled?(fence: dma_fence): boolean;
  /** `set_deadline`: a hint that the fence should signal by `deadline` (ns, monotonic). */
  set_deadline?(fence: dma_fence, deadline: bigint): void;
}

/** `dma_fence_set_deadline(fence, deadline)`: passed to the driver while the fence is pending. */
export function dma_fence_set_deadline(f: dma_fence, deadline: bigint): void {
  if (f.ops?.set_deadline && !dma_fence_is_signaled(f)) f.ops.set_deadline(f, deadline);
}

/** `ktime_get()` in nanoseconds (monotonic). */
export function ktime_get(): number {
  return Math.round(performance.now() * 1e6);
}

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
  /** `DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT`. */
  enable_signal = false;
  /** `fence->error`: 0, or a negative errno set before signalling. */
  error = 0;
  /** `fence->timestamp` (ns, `ktime_get()`), set when it signals. */
  timestamp = 0;
  /** `cb_list`: callbacks to run when it signals. */
  readonly cb_list: Set<dma_fence_func> = new Set();
  /** Optional ops (`signaled`, `enable_signaling`). */
  ops: dma_fence_ops | undefined;

  /**
   * `dma_fence_init(fence, ops, lock, context, seqno)`.
   *
   * @param driver Driver name.
   * @param timeline Timeline name.
   * @param context Context from {@linkcode dma_fence_context_alloc}.
   * @param seqno Sequence number.
   * @param ops Optional `signaled` / `enable_signaling` callbacks.
   */
  constructor(
    driver: string,
    timeline: string,
    context: number,
    seqno: number,
    ops?: dma_fence_ops,
  ) {
    this.driver = driver;
    this.timeline = timeline;
    this.context = context;
    this.seqno = seqno;
    this.ops = ops;
  }
}

let next_context = 1;

/** `dma_fence_context_alloc(num)`: the first of `num` new fence contexts (context 0 is the stub's). */
export function dma_fence_context_alloc(num = 1): number {
  const c = next_context;
  next_context += num;
  return c;
}

/**
 * `dma_fence_is_signaled(fence)`: true once signalled; a fence whose `signaled` op says so is
 * signalled now (as the C function does).
 */
export function dma_fence_is_signaled(f: dma_fence): boolean {
  if (f.signalled) return true;
  if (f.ops?.signaled?.(f)) {
    dma_fence_signal(f);
    return true;
  }
  return false;
}

/** `dma_fence_get_status(fence)`: 0 pending, 1 signalled, or the (negative) error. */
export function dma_fence_get_status(f: dma_fence): number {
  return dma_fence_is_signaled(f) ? f.error || 1 : 0;
}

/** `dma_fence_set_error(fence, error)`: before signalling only. */
export function dma_fence_set_error(f: dma_fence, error: number): void {
  if (!f.signalled) f.error = error;
}

/**
 * `dma_fence_signal_timestamp(fence, timestamp)`: marks it signalled at `timestamp` and runs its
 * callbacks once.
 *
 * @returns False when it had signalled already (`-EINVAL` in C).
 */
export function dma_fence_signal_timestamp(f: dma_fence, timestamp: number): boolean {
  if (f.signalled) return false;
  f.signalled = true;
  f.timestamp = timestamp;
  const cbs = [...f.cb_list];
  f.cb_list.clear();
  for (const cb of cbs) cb(f);
  return true;
}

/**
 * `dma_fence_signal(fence)`: marks it signalled now and runs its callbacks once.
 *
 * @returns False when it had signalled already (`-EINVAL` in C).
 */
export function dma_fence_signal(f: dma_fence): boolean {
  return dma_fence_signal_timestamp(f, ktime_get());
}

/** `dma_fence_timestamp(fence)`: when it signalled (now, if it has not). */
export function dma_fence_timestamp(f: dma_fence): number {
  return f.signalled ? f.timestamp : ktime_get();
}

/** `__dma_fence_enable_signaling(fence)`: false when the fence has signalled. */
function dma_fence_enable_signaling(f: dma_fence): boolean {
  if (f.signalled) return false;
  if (!f.enable_signal) {
    f.enable_signal = true;
    if (f.ops?.enable_signaling && !f.ops.enable_signaling(f)) {
      dma_fence_signal(f);
      return false;
    }
  }
  return !f.signalled;
}

/**
 * `dma_fence_add_callback(fence, cb, func)`: enables signalling, then queues `func`.
 *
 * @returns False (`-ENOENT`) when the fence has signalled already: `func` is not called.
 */
export function dma_fence_add_callback(f: dma_fence, func: dma_fence_func): boolean {
  if (!dma_fence_enable_signaling(f)) return false;
  f.cb_list.add(func);
  return true;
}

/** `dma_fence_remove_callback(fence, cb)`: true when the callback was still pending. */
export function dma_fence_remove_callback(f: dma_fence, func: dma_fence_func): boolean {
  return f.cb_list.delete(func);
}

/** `dma_fence_get_stub()`: the always-signalled fence of context 0. */
export const dma_fence_stub: dma_fence = new dma_fence("stub", "stub", 0, 0);
dma_fence_signal(dma_fence_stub);

/** `dma_fence_allocate_private_stub(timestamp)`: a new signalled stub on its own context. */
export function dma_fence_allocate_private_stub(timestamp: number): dma_fence {
  const f = new dma_fence("stub", "stub", dma_fence_context_alloc(1), 0);
  dma_fence_signal_timestamp(f, timestamp);
  return f;
}

/** `PENDING_ERROR`: an array's error until it signals (cleared to 0 if nobody set one). */
const PENDING_ERROR = 1;

/** `struct dma_fence_array`. */
export class dma_fence_array extends dma_fence {
  /** The fences it waits for. */
  readonly fences: readonly dma_fence[];
  /** `num_pending`. */
  num_pending: number;

  /**
   * `dma_fence_array_init(array, num_fences, fences, context, seqno, signal_on_any = false)`.
   *
   * @param fences The fences (none of them a container).
   * @param context Its context.
   * @param seqno Its seqno.
   */
  constructor(fences: readonly dma_fence[], context: number, seqno: number) {
    super("dma_fence_array", "unbound", context, seqno, dma_fence_array_ops);
    this.fences = fences;
    this.num_pending = fences.length;
    this.error = PENDING_ERROR;
  }
}

function set_pending_error(a: dma_fence_array, error: number): void {
  if (error && a.error === PENDING_ERROR) a.error = error;
}

function clear_pending_error(a: dma_fence_array): void {
  if (a.error === PENDING_ERROR) a.error = 0;
}

/** `dma_fence_array_ops`: signalling enabled on first wait, the first error kept. */
const dma_fence_array_ops: dma_fence_ops = {
  enable_signaling(fence) {
    const a = fence as dma_fence_array;
    const cb = (f: dma_fence) => {
      set_pending_error(a, f.error);
      // The C code signals from irq_work; `signaled` already reports true meanwhile.
      if (--a.num_pending === 0) {
        clear_pending_error(a);
        dma_fence_signal(a);
      }
    };
    for (const f of a.fences) {
      if (!dma_fence_add_callback(f, cb)) {
        set_pending_error(a, f.error);
        if (--a.num_pending === 0) {
          clear_pending_error(a);
          return false;
        }
      }
    }
    return true;
  },
  signaled(fence) {
    const a = fence as dma_fence_array;
    let num_pending = a.num_pending;
    if (a.enable_signal) {
      if (num_pending > 0) return false;
    } else {
      let done = false;
      for (const f of a.fences) {
        if (dma_fence_is_signaled(f) && !--num_pending) {
          done = true;
          break;
        }
      }
      if (!done) return false;
    }
    clear_pending_error(a);
    return true;
  },
  set_deadline(fence, deadline) {
    for (const f of (fence as dma_fence_array).fences) dma_fence_set_deadline(f, deadline);
  },
};

/**
 * `dma_fence_array_create(num_fences, fences, context, seqno, signal_on_any = false)`: a fence
 * that signals once every fence in `fences` has. Signalling is enabled lazily (the first wait
 * or callback); until then an error of a member does not reach the array, as in C.
 */
export function dma_fence_array_create(
  fences: readonly dma_fence[],
  context: number = dma_fence_context_alloc(1),
  seqno = 1,
): dma_fence_array {
  return new dma_fence_array(fences, context, seqno);
}

/** `dma_fence_unwrap_for_each()`: the fences inside a container, or the fence itself. */
export function dma_fence_unwrap(f: dma_fence): readonly dma_fence[] {
  return f instanceof dma_fence_array ? f.fences : [f];
}

/** `__dma_fence_is_later(f1, f2)` for 32-bit seqnos: true when `f1` comes after `f2`. */
export function dma_fence_seqno_later(f1: number, f2: number): boolean {
  return ((f1 - f2) | 0) > 0;
}

/**
 * `dma_fence_unwrap_merge(a, b, ...)`: one fence for every unsignalled fence inside `fences`
 * (containers unwrapped), keeping the latest per context: none → a private signalled stub with
 * the latest timestamp, one → that fence, more → a new `dma_fence_array` sorted by context.
 */
export function dma_fence_unwrap_merge(...fences: dma_fence[]): dma_fence {
  let timestamp = 0;
  const pending: dma_fence[] = [];
  for (const head of fences) {
    for (const f of dma_fence_unwrap(head)) {
      if (!dma_fence_is_signaled(f)) pending.push(f);
      else if (dma_fence_timestamp(f) > timestamp) timestamp = dma_fence_timestamp(f);
    }
  }
  if (pending.length === 0) return dma_fence_allocate_private_stub(timestamp);
  if (pending.length === 1) return pending[0];
  // fence_cmp: by context, the later seqno first; then one per context.
  pending.sort((a, b) =>
    a.context !== b.context
      ? a.context - b.context
      : dma_fence_seqno_later(b.seqno, a.seqno)
      ? 1
      : dma_fence_seqno_later(a.seqno, b.seqno)
      ? -1
      : 0
  );
  const kept = pending.filter((f, i) => i === 0 || f.context !== pending[i - 1].context);
  if (kept.length === 1) return kept[0];
  return dma_fence_array_create(kept, dma_fence_context_alloc(1), 1);
}
