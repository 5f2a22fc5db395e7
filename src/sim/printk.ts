/**
 * kernel/printk/: the kernel log ring. Records carry the time since machine boot, and are
 * printed the way `dmesg` prints them: `[%5lu.%06lu] text`.
 *
 * @module
 */

/** One log record. */
export interface LogRecord {
  /** Nanoseconds since boot. */
  readonly ts_nsec: number;
  /** The message, without a trailing newline. */
  readonly text: string;
}

/** The log ring of one machine (`log_buf`). Oldest records drop out past `capacity`. */
export class LogBuf {
  readonly #records: LogRecord[] = [];
  readonly #boot: number;
  readonly #capacity: number;

  /**
   * An empty log; boot time is now.
   *
   * @param capacity How many records the ring keeps.
   */
  constructor(capacity = 4096) {
    this.#boot = performance.now();
    this.#capacity = capacity;
  }

  /** Nanoseconds since boot (`local_clock()`), from the monotonic clock. */
  local_clock(): number {
    return Math.round((performance.now() - this.#boot) * 1e6);
  }

  /**
   * `printk(fmt, ...)` with the formatting already done. A multi-line text makes one record per
   * line, as the kernel does with continuation-less newlines.
   */
  printk(text: string): void {
    const ts_nsec = this.local_clock();
    for (const line of text.replace(/\n$/, "").split("\n")) {
      this.#records.push({ ts_nsec, text: line });
    }
    if (this.#records.length > this.#capacity) {
      this.#records.splice(0, this.#records.length - this.#capacity);
    }
  }

  /** The records, oldest first. */
  records(): readonly LogRecord[] {
    return this.#records;
  }

  /** The whole log as `dmesg` prints it, one record per line. */
  dmesg(): string {
    let out = "";
    for (const r of this.#records) out += `${print_time(r.ts_nsec)} ${r.text}\n`;
    return out;
  }
}

/** `print_time()`: `[%5lu.%06lu]` of a nanosecond timestamp. */
export function print_time(ts_nsec: number): string {
  const sec = Math.floor(ts_nsec / 1e9);
  const usec = Math.floor((ts_nsec % 1e9) / 1e3);
  return `[${String(sec).padStart(5)}.${String(usec).padStart(6, "0")}]`;
}

/**
 * `struct ratelimit_state` with `DEFAULT_RATELIMIT_INTERVAL` (5 s) and `DEFAULT_RATELIMIT_BURST`
 * (10): what each `pr_*_ratelimited` call site keeps.
 */
export class ratelimit_state {
  /** Window length in ns. */
  readonly interval: number;
  /** Messages allowed per window. */
  readonly burst: number;
  #begin = -1;
  #printed = 0;
  #missed = 0;

  /**
   * A fresh state.
   *
   * @param interval Window in ns (default 5 s).
   * @param burst Messages per window (default 10).
   */
  constructor(interval = 5e9, burst = 10) {
    this.interval = interval;
    this.burst = burst;
  }

  /**
   * `___ratelimit(rs, func)`: whether to print now. Starting a new window after misses prints
   * `<func>: <n> callbacks suppressed`, as lib/ratelimit.c does.
   */
  ratelimit(log: LogBuf, func: string): boolean {
    const now = log.local_clock();
    if (this.#begin < 0) this.#begin = now;
    if (now > this.#begin + this.interval) {
      if (this.#missed) {
        log.printk(`${func}: ${this.#missed} callbacks suppressed`);
        this.#missed = 0;
      }
      this.#begin = now;
      this.#printed = 0;
    }
    if (this.burst > this.#printed) {
      this.#printed++;
      return true;
    }
    this.#missed++;
    return false;
  }
}
