/**
 * A non-coherent CPU (arch/arm64/mm/dma-mapping.c, cache.S) and the coherency sanitizer.
 *
 * On a non-coherent board, the CPU reaches a cached buffer through a write-back data cache: its
 * stores reach memory only when a line is cleaned (or evicted), and it sees what a device wrote
 * only after the line is invalidated. The model gives each cached heap buffer, and each memfd whose
 * pages a udmabuf took (`shmem.ts`), a {@linkcode CpuCache}: a second store, the **CPU view**, that
 * every CPU alias shows (user mmaps, the memfd's own mmaps, the kernel's vmap — arm64's data cache
 * is physically tagged, so all CPU aliases see the same lines), beside the memory, which devices
 * reach (the sg table, `phys_read`/`phys_write`). The SYNC protocol state is per dma-buf, a
 * {@linkcode CpuAccess} over the cache ranges the buffer is made of (a heap buffer: all of its
 * cache; a udmabuf: page ranges of its memfds' caches), and reports name that buffer. A line is dirty
 * when the CPU view differs from the snapshot taken when the line was last cleaned or filled, at
 * 64-byte granularity (`L1_CACHE_BYTES`). So user code keeps writing straight into its
 * ArrayBuffer, and the cache work happens at the points where Linux does it. (The snapshot is
 * memory itself, except for lines a device wrote since the last invalidation, whose previous
 * bytes are kept aside.)
 *
 * - `dma_map_sgtable()` → `arch_sync_dma_for_device()`: clean (every direction, as arm64);
 * - `dma_unmap_sgtable()` / `dma_sync_sgtable_for_cpu()` with a direction other than
 *   `DMA_TO_DEVICE` → `arch_sync_dma_for_cpu()`: invalidate (a dirty line is discarded, as
 *   `dc ivac` may do);
 * - `DMA_BUF_IOCTL_SYNC` START/END → the heaps' `begin_cpu_access`/`end_cpu_access`, which sync
 *   only through mapped attachments: with none mapped, START does nothing and END leaves the
 *   lines dirty for the next `dma_map_sgtable` to clean — except that with the sanitizer on, END
 *   always cleans, the clean being its record of what the access wrote; udmabuf's, which sync
 *   its own sg table for `/dev/udmabuf` (see `udmabuf.ts`).
 *
 * Without eviction (the default) every line stays in the cache until maintained: the worst case a
 * real CPU can show. With an eviction seed, each device access first writes back a random half
 * of the dirty lines, as a cache under pressure would.
 *
 * The sanitizer checks the dma-buf protocol at the same points and reports what broke it (kinds
 * in {@linkcode CoherencyKind}); the reports are the model's own, Linux has no such check. A
 * kernel driver that writes through a vmap (a CPU alias) marks the lines with
 * `kernel_cpu_write` ({@linkcode CpuCache.kernel_cpu_write}, or a udmabuf's
 * {@linkcode CpuAccess.kernel_cpu_write}), so that reports on them name the driver, not user space.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { MemStore } from "./mm.ts";
import { DMA_FROM_DEVICE, DMA_TO_DEVICE } from "./dma_buf.ts";

/** `L1_CACHE_BYTES` on arm64: the cache line. */
export const L1_CACHE_BYTES = 64;
const LINE_SHIFT = 6;
const WORDS_PER_LINE = L1_CACHE_BYTES / 8; // Float64 words
/** Bytes compared at once before a line-by-line scan (a multiple of the line). */
const COMPARE_CHUNK = 16 * 1024;

/** `coherent` (x86-like: caches snoop DMA) or `non-coherent` (arm64 boards without DMA snooping). */
export type Coherency = "coherent" | "non-coherent";

/** What the sanitizer does with a violation: nothing, record it, or throw. */
export type SanitizerMode = "off" | "report" | "strict";

/** What the sanitizer detects. */
export type CoherencyKind =
  /** A device read lines the CPU wrote and no SYNC END(WRITE) (or clean) had written back. */
  | "cpu-write-not-cleaned"
  /** SYNC END(READ) closed a CPU access while lines a device wrote were never invalidated. */
  | "cpu-read-not-invalidated"
  /** SYNC END with a direction its START did not open, END without START, or a CPU write inside a READ-only access. */
  | "direction-mismatch"
  /** An invalidation (SYNC START(READ), unmap from the device) discarded lines the CPU wrote. */
  | "cpu-write-discarded";

/** One sanitizer report. */
export interface CoherencyReport {
  /** What happened. */
  readonly kind: CoherencyKind;
  /** The buffer's inode number (`/proc/<pid>/fdinfo` `ino`, debugfs bufinfo). */
  readonly ino: number;
  /** The buffer's name (`DMA_BUF_SET_NAME`), or null. */
  readonly name: string | null;
  /** First byte of the range, as an offset in the buffer. */
  readonly offset: number;
  /** Length of the range in bytes. */
  readonly length: number;
  /** The whole report line, as printed to the kernel log. */
  readonly text: string;
  /**
   * Who wrote the lines: `"CPU"` for user space (its mappings), else the kernel driver that
   * wrote them through a kernel vmap (`dma_buf_vmap`) and told the model so — vivid's
   * vb2-vmalloc, the test driver — with no `dma_buf_end_cpu_access()` after.
   */
  readonly writer: string;
  /**
   * The user stack of the SYNC START that opened the CPU access still open when the violation
   * was seen (undefined when no access was open). Only an open access keeps its START's stack:
   * a captured stack holds the objects of its frames (the receivers), so keeping one past END
   * would keep the caller's buffer objects, and through them their fds, from being collected.
   */
  readonly syncStack?: string;
  /** The stack where the violation was seen. */
  readonly stack: string;
}

/** Thrown in `strict` sanitizer mode. */
export class CoherencyViolation extends Error {
  /** What happened. */
  readonly kind: CoherencyKind;
  /** The report. */
  readonly report: CoherencyReport;
  /**
   * Makes the error.
   *
   * @param report The report.
   */
  constructor(report: CoherencyReport) {
    super(report.text);
    this.name = "CoherencyViolation";
    this.kind = report.kind;
    this.report = report;
  }
}

/** The machine side: where reports go, and the eviction choice. */
export interface CoherencySink {
  /** The sanitizer's mode. */
  readonly sanitizer: SanitizerMode;
  /** Records a report (log + list); throws {@linkcode CoherencyViolation} in strict mode. */
  coherency_report(r: CoherencyReport): void;
  /** A random number in [0, 1) when eviction is randomized, else null (no eviction). */
  eviction_random(): number | null;
}

/** SYNC direction bits as the sanitizer tracks them. */
export const CPU_READ = 1;
/** SYNC direction bits as the sanitizer tracks them. */
export const CPU_WRITE = 2;

/**
 * The CPU directions of a `dma_data_direction` passed to `begin_cpu_access`/`end_cpu_access`
 * (`DMA_FROM_DEVICE`: the CPU reads, `DMA_TO_DEVICE`: it writes, `DMA_BIDIRECTIONAL`: both).
 */
export function cpu_dir_bits(dir: number): number {
  return dir === DMA_FROM_DEVICE
    ? CPU_READ
    : dir === DMA_TO_DEVICE
    ? CPU_WRITE
    : CPU_READ | CPU_WRITE;
}

function dirName(bits: number): string {
  return bits === CPU_READ ? "READ" : bits === CPU_WRITE ? "WRITE" : bits === 3 ? "RW" : "none";
}

function hex(n: number): string {
  return "0x" + n.toString(16);
}

/** Captures the stack here; V8 formats it only when `.stack` is read (a report is made). */
function captureStack(): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  const e = new Error();
  Error.stackTraceLimit = limit;
  return e;
}

/** A user-facing stack: the frames outside the simulated kernel. */
function userStack(e: Error = captureStack()): string {
  const s = e.stack ?? "";
  return s.split("\n").slice(1).filter((l) => !/\/src\/sim\//.test(l)).join("\n");
}

/** A buffer's identity in reports. */
export interface CacheIdent {
  /** The buffer's inode number. */
  readonly ino: number;
  /** The buffer's name, or null. */
  readonly name: string | null;
}

/** A byte range `[lo, hi)` of a cache's store that a buffer shows from its offset `at`. */
export interface CacheSegment {
  /** The cache. */
  readonly cache: CpuCache;
  /** First byte in the cache's store. */
  readonly lo: number;
  /** End (exclusive) in the cache's store. */
  readonly hi: number;
  /** The buffer offset of `lo`. */
  readonly at: number;
}

/**
 * One dma-buf's CPU access (`DMA_BUF_IOCTL_SYNC` START…END) over the cache ranges it is made of:
 * the whole of one cache for a heap buffer, page ranges of one or more memfds' caches for a
 * udmabuf. It keeps what the sanitizer checks END against (the directions START opened, the
 * lines dirty at a START(READ), the START's stack) and names the buffer in reports; the lines
 * themselves are the caches'.
 */
export class CpuAccess {
  /** The buffer's identity for reports. */
  ident: CacheIdent = { ino: 0, name: null };
  /** The cache ranges, in buffer order. */
  readonly segments: readonly CacheSegment[];
  /** The buffer's size in bytes. */
  readonly size: number;
  /** Directions opened by SYNC START and not yet ended. */
  #open = 0;
  /** The stack of the START of the open access (formatted only when a report is made). */
  #syncStack: Error | undefined;

  /**
   * An access over `segments`, registered with their caches so that a device access to their
   * lines is reported under this buffer's name.
   *
   * @param segments The cache ranges, in buffer order.
   * @param size The buffer's size in bytes.
   */
  constructor(segments: readonly CacheSegment[], size: number) {
    this.segments = segments;
    this.size = size;
    for (const s of segments) s.cache.users.add(this);
  }

  /** The START of the open access, while one is open. */
  get syncStack(): Error | undefined {
    return this.#syncStack;
  }

  /** Whether SYNC START opened an access that END has not closed. */
  get open(): boolean {
    return this.#open !== 0;
  }

  /** Unregisters from the caches (the buffer was released). */
  detach(): void {
    for (const s of this.segments) s.cache.users.delete(this);
  }

  /**
   * A kernel driver wrote [lo, hi) of the buffer through a kernel vmap (a CPU alias): the
   * attribution, on each cache range it covers (see {@linkcode CpuCache.kernel_cpu_write}).
   */
  kernel_cpu_write(lo: number, hi: number, who: string): void {
    for (const s of this.segments) {
      const a = Math.max(lo, s.at), b = Math.min(hi, s.at + (s.hi - s.lo));
      if (a < b) s.cache.kernel_cpu_write(s.lo + a - s.at, s.lo + b - s.at, who);
    }
  }

  /** SYNC START with direction bits `bits`; `invalidate` when the exporter invalidates. */
  begin(bits: number, invalidate: boolean): void {
    if (invalidate) {
      for (const s of this.segments) s.cache.invalidate("SYNC START(READ)", s.lo, s.hi, this);
    }
    const sink = this.segments[0]?.cache.sink;
    if (sink && sink.sanitizer !== "off") this.#syncStack = captureStack();
    this.#open |= bits;
  }

  /**
   * SYNC END with direction bits `bits`: the checks, then the clean — which Linux's heaps do
   * only through mapped attachments (`mapped`; udmabuf's always). With the sanitizer off and
   * nothing mapped, the lines stay dirty, as on Linux; with it on, the clean is made all the
   * same, as the record of what this access wrote.
   */
  end(bits: number, mapped = true): void {
    let runs: [number, number][][] | null = null;
    const sink = this.segments[0]?.cache.sink;
    // In strict mode a report throws; the END still happens (the access is closed and the lines
    // cleaned), so that code after a caught violation is checked against a sane state.
    try {
      runs = this.#end_checks(bits, sink);
    } finally {
      this.#syncStack = undefined;
      this.#open = 0;
      if (runs || mapped || sink?.sanitizer !== "off") {
        this.segments.forEach((s, i) => {
          if (runs) s.cache.clean_runs(runs[i]);
          else s.cache.clean(s.lo, s.hi);
          s.cache.forget_evicted(s.lo, s.hi);
        });
      }
    }
  }

  /** The sanitizer's checks at SYNC END; the dirty runs when they were scanned (END(READ)). */
  #end_checks(bits: number, sink: CoherencySink | undefined): [number, number][][] | null {
    let runs: [number, number][][] | null = null;
    if (sink && sink.sanitizer !== "off") {
      const open = this.#open;
      const first = this.segments[0];
      if (open === 0) {
        first.cache.report(
          "direction-mismatch",
          first.lo,
          this.size,
          `SYNC END(${dirName(bits)}) without SYNC START`,
          this,
        );
      } else if ((bits & open) !== open || (bits & ~open) !== 0) {
        first.cache.report(
          "direction-mismatch",
          first.lo,
          this.size,
          `SYNC END(${dirName(bits)}) after SYNC START(${dirName(open)})`,
          this,
        );
      } else if (!(bits & CPU_WRITE)) {
        // One scan serves the check and the clean. Lines a kernel driver wrote through its
        // vmap are not the reader's (they are reported when a device reads them).
        runs = this.segments.map((s) => {
          const r = s.cache.dirtyRuns(s.lo, s.hi);
          for (const { a, b, writer } of s.cache.by_writer(r)) {
            if (writer !== "CPU") continue;
            s.cache.report(
              "direction-mismatch",
              a,
              b - a,
              (at) =>
                `CPU wrote ${b - a} bytes at ${
                  hex(at)
                } with no SYNC END(WRITE), found at the SYNC END(READ) of a read-only access`,
              this,
              writer,
            );
          }
          return r;
        });
      }
      if (bits & CPU_READ) {
        for (const s of this.segments) s.cache.check_device_written(s.lo, s.hi, this);
      }
    }
    return runs;
  }
}

/** The write-back cache over one memory object (a heap buffer's store, a memfd's pages). */
export class CpuCache {
  /** The memory (what devices see). */
  readonly mem: MemStore;
  /** The CPU view: what user mappings and vmaps show. */
  readonly view: MemStore;
  /** The machine. */
  readonly sink: CoherencySink;
  /** The buffers whose accesses cover lines of this cache (reports name them). */
  readonly users: Set<CpuAccess> = new Set();
  /** The store this cache made (and frees on release). */
  readonly #own: MemStore;
  /** Lines written back by eviction since the last SYNC END (still a protocol violation). */
  readonly #evicted = new Set<number>();
  /** Byte range a device wrote since the last invalidation ([lo, hi), empty when lo >= hi). */
  #devLo = Infinity;
  #devHi = 0;
  #devName = "";
  /** The heap buffer's own access (made by the first {@linkcode begin}/{@linkcode end}). */
  #self: CpuAccess | null = null;
  /**
   * Lines a kernel driver wrote through a vmap since they were last cleaned or invalidated: one
   * byte per line, 0 for none, else 1 + the writer's index in `#writers`. Null until the first.
   */
  #kernelLines: Uint8Array | null = null;
  #kernelCount = 0;
  readonly #writers: string[] = [];
  /** Identity for reports when no registered access covers the bytes; set once exported. */
  ident: CacheIdent = { ino: 0, name: null };

  /**
   * A cache over `mem`, empty (the CPU view equals memory: both zero).
   *
   * @param mem The buffer's memory.
   * @param sink The machine.
   */
  constructor(mem: MemStore, sink: CoherencySink);
  /**
   * A cache whose CPU view is `view`, a store CPU aliases already show: the memory is a new
   * store holding a copy of it (every line clean).
   *
   * @param mem Null.
   * @param sink The machine.
   * @param view The CPU view.
   */
  constructor(mem: null, sink: CoherencySink, view: MemStore);
  constructor(mem: MemStore | null, sink: CoherencySink, view?: MemStore) {
    if (mem) {
      this.mem = mem;
      this.view = this.#own = new MemStore(mem.size);
    } else {
      this.view = view!;
      this.mem = this.#own = new MemStore(view!.size);
      new Uint8Array(this.mem.current).set(new Uint8Array(this.view.current));
    }
    this.sink = sink;
    this.mem.cpu_cache = this;
  }

  /**
   * The reference a line of the CPU view is compared with: memory, except for lines a device
   * wrote since the last invalidation, whose bytes before that write are kept in `#devSnap`
   * (`#devSaved[line]`). So a clean costs one copy (view → memory) and no snapshot of the whole
   * buffer is kept.
   */
  #devSnap: Uint8Array | null = null;
  #devSaved: Uint8Array | null = null;
  /** Number of lines set in `#devSaved`: while 0, memory is the reference of every line. */
  #devSavedCount = 0;

  /**
   * Dirty line runs in [lo, hi) bytes, as [start, end) byte ranges. While memory is every line's
   * reference, 16 KiB chunks equal to it are skipped with one native compare (`Buffer.compare`,
   * a memcmp) each; the lines of the others are scanned.
   */
  dirtyRuns(lo = 0, hi = this.mem.size): [number, number][] {
    if (this.#devSavedCount > 0) return this.#scanRuns(lo, hi);
    const size = this.mem.size;
    const v = new Uint8Array(this.view.current, 0, size),
      m = new Uint8Array(this.mem.current, 0, size);
    const end = Math.min(Math.ceil(hi / L1_CACHE_BYTES) * L1_CACHE_BYTES, size);
    const runs: [number, number][] = [];
    const from = (lo >>> LINE_SHIFT) << LINE_SHIFT;
    // The common case, no dirty line at all, in one compare.
    if (Buffer.compare(v.subarray(from, end), m.subarray(from, end)) === 0) return runs;
    for (let a = from; a < end; a += COMPARE_CHUNK) {
      const b = Math.min(a + COMPARE_CHUNK, end);
      if (Buffer.compare(v.subarray(a, b), m.subarray(a, b)) === 0) continue;
      for (const r of this.#scanRuns(a, b)) {
        const last = runs[runs.length - 1];
        if (last && last[1] === r[0]) last[1] = r[1];
        else runs.push(r);
      }
    }
    return runs;
  }

  /** {@linkcode dirtyRuns} line by line, against memory or a device-written line's saved bytes. */
  #scanRuns(lo: number, hi: number): [number, number][] {
    const runs: [number, number][] = [];
    const size = this.mem.size;
    // Eight bytes at a time; a mismatch is confirmed on the 32-bit halves (NaN !== NaN).
    const v = new Float64Array(this.view.current, 0, size >>> 3);
    const m = new Float64Array(this.mem.current, 0, size >>> 3);
    const saved = this.#devSaved;
    const d = this.#devSnap ? new Float64Array(this.#devSnap.buffer, 0, size >>> 3) : m;
    const v32 = new Uint32Array(this.view.current, 0, size >>> 2);
    const m32 = new Uint32Array(this.mem.current, 0, size >>> 2);
    const d32 = this.#devSnap ? new Uint32Array(this.#devSnap.buffer, 0, size >>> 2) : m32;
    const first = lo >>> LINE_SHIFT, last = Math.ceil(hi / L1_CACHE_BYTES);
    let start = -1;
    for (let line = first; line < last; line++) {
      const dev = saved !== null && saved[line] === 1;
      const ref = dev ? d : m, r32 = dev ? d32 : m32;
      let dirty = false;
      for (let w = line * WORDS_PER_LINE, e = w + WORDS_PER_LINE; w < e; w++) {
        if (v[w] !== ref[w]) {
          if (v32[2 * w] !== r32[2 * w] || v32[2 * w + 1] !== r32[2 * w + 1]) {
            dirty = true;
            break;
          }
        }
      }
      if (dirty) {
        if (start < 0) start = line;
      } else if (start >= 0) {
        runs.push([start << LINE_SHIFT, line << LINE_SHIFT]);
        start = -1;
      }
    }
    if (start >= 0) runs.push([start << LINE_SHIFT, Math.min(last << LINE_SHIFT, size)]);
    return runs;
  }

  /** Writes back the given runs (dirty lines found by {@linkcode dirtyRuns}). */
  clean_runs(runs: [number, number][]): void {
    const v = new Uint8Array(this.view.current), m = new Uint8Array(this.mem.current);
    const saved = this.#devSaved;
    for (const [a, b] of runs) {
      m.set(v.subarray(a, b), a);
      if (saved && this.#devSavedCount > 0) {
        // memory is the reference again
        for (let l = a >>> LINE_SHIFT, e = Math.ceil(b / L1_CACHE_BYTES); l < e; l++) {
          if (saved[l]) {
            saved[l] = 0;
            this.#devSavedCount--;
          }
        }
      }
    }
  }

  /**
   * Clean (`dcache_clean_poc`) of [lo, hi): dirty lines are written back to memory.
   *
   * A line that is not dirty holds the bytes of its reference, which is memory except for the
   * lines a device wrote since the last invalidation (`#devSaved`). So every other line can be
   * copied blindly: for a clean one the copy writes the bytes memory already holds. That makes
   * the clean one `TypedArray.set` per run of such lines instead of a scan for dirty lines; only
   * the lines a device wrote are compared with their saved bytes (and copied only when dirty,
   * so the device's data stays in memory, as on a real CPU).
   */
  clean(lo = 0, hi = this.mem.size): void {
    const size = this.mem.size;
    const v = new Uint8Array(this.view.current, 0, size),
      m = new Uint8Array(this.mem.current, 0, size);
    const saved = this.#devSaved;
    this.#forget_kernel_lines(lo, hi);
    if (saved === null || this.#devSavedCount === 0) {
      if (lo === 0 && hi >= size) m.set(v);
      else m.set(v.subarray(lo, Math.min(hi, size)), lo);
      return;
    }
    const lines = Math.min(saved.length, Math.ceil(hi / L1_CACHE_BYTES));
    let line = lo >>> LINE_SHIFT;
    while (line < lines) {
      if (!saved[line]) {
        let e = line + 1;
        while (e < lines && !saved[e]) e++;
        const a = line << LINE_SHIFT;
        m.set(v.subarray(a, Math.min(e << LINE_SHIFT, size)), a);
        line = e;
      } else {
        let e = line + 1;
        while (e < lines && saved[e]) e++;
        this.clean_runs(this.dirtyRuns(line << LINE_SHIFT, Math.min(e << LINE_SHIFT, size)));
        line = e;
      }
    }
  }

  /**
   * Invalidate (`dcache_inval_poc`) of [lo, hi): the CPU view is refilled from memory; dirty
   * lines are lost (and reported, under `by`'s name when given). With `mayThrow` false (a
   * release, which runs from close, munmap or the GC backstop and must finish), a strict
   * sanitizer records the report without throwing.
   */
  invalidate(why: string, lo = 0, hi = this.mem.size, by?: CpuAccess, mayThrow = true): void {
    const size = this.mem.size;
    hi = Math.min(hi, size);
    if (this.sink.sanitizer !== "off") {
      for (const { a, b, writer } of this.by_writer(this.dirtyRuns(lo, hi))) {
        try {
          this.report(
            "cpu-write-discarded",
            a,
            b - a,
            (at) =>
              `${
                wrote(writer, at, at + b - a)
              } before ${why} invalidated them: the writes are lost`,
            by,
            writer,
          );
        } catch (e) {
          if (mayThrow || !(e instanceof CoherencyViolation)) throw e;
        }
      }
    }
    this.#forget_kernel_lines(lo, hi);
    const whole = lo === 0 && hi === size;
    const v = new Uint8Array(this.view.current, 0, size),
      m = new Uint8Array(this.mem.current, 0, size);
    if (whole) v.set(m);
    else v.set(m.subarray(lo, hi), lo);
    if (this.#devSavedCount > 0) {
      if (whole) {
        this.#devSaved!.fill(0);
        this.#devSavedCount = 0;
      } else {
        const saved = this.#devSaved!;
        for (let l = lo >>> LINE_SHIFT, e = Math.ceil(hi / L1_CACHE_BYTES); l < e; l++) {
          if (saved[l]) {
            saved[l] = 0;
            this.#devSavedCount--;
          }
        }
      }
    }
    this.forget_evicted(lo, hi);
    // The device-written range seen by the CPU from here on is what lies outside [lo, hi).
    if (this.#devLo >= lo && this.#devHi <= hi) {
      this.#devLo = Infinity;
      this.#devHi = 0;
    } else if (this.#devLo >= lo && this.#devLo < hi) this.#devLo = hi;
    else if (this.#devHi > lo && this.#devHi <= hi) this.#devHi = lo;
  }

  /** Forgets the lines evicted in [lo, hi) (a SYNC END or an invalidation covered them). */
  forget_evicted(lo = 0, hi = this.mem.size): void {
    if (this.#evicted.size === 0) return;
    if (lo === 0 && hi >= this.mem.size) return this.#evicted.clear();
    for (const l of this.#evicted) {
      const a = l << LINE_SHIFT;
      if (a >= lo && a < hi) this.#evicted.delete(l);
    }
  }

  /** Eviction before a device access: a random half of the dirty lines written back. */
  #evict(): void {
    if (this.sink.eviction_random() === null) return;
    const runs: [number, number][] = [];
    for (const [a, b] of this.dirtyRuns()) {
      for (let l = a; l < b; l += L1_CACHE_BYTES) {
        if (this.sink.eviction_random()! < 0.5) {
          runs.push([l, l + L1_CACHE_BYTES]);
          this.#evicted.add(l >>> LINE_SHIFT);
        }
      }
    }
    this.clean_runs(runs);
  }

  /**
   * A kernel driver wrote [lo, hi) through a kernel vmap of the buffer (a CPU alias: the bytes
   * are in the CPU view already). Only the attribution is recorded — reports on these lines
   * name `who` instead of user space; the lines are dirty like any CPU write.
   */
  kernel_cpu_write(lo: number, hi: number, who: string): void {
    const lines = this.#kernelLines ??= new Uint8Array(Math.ceil(this.mem.size / L1_CACHE_BYTES));
    let w = this.#writers.indexOf(who);
    if (w < 0) w = this.#writers.push(who) - 1;
    for (let l = lo >>> LINE_SHIFT, e = Math.ceil(hi / L1_CACHE_BYTES); l < e; l++) {
      if (!lines[l]) this.#kernelCount++;
      lines[l] = 1 + Math.min(w, 254);
    }
  }

  /**
   * Splits runs of dirty lines by writer: user space (`"CPU"`) or the kernel driver that marked
   * them with {@linkcode kernel_cpu_write}.
   */
  by_writer(runs: [number, number][]): { a: number; b: number; writer: string }[] {
    const lines = this.#kernelLines;
    if (!lines || this.#kernelCount === 0) return runs.map(([a, b]) => ({ a, b, writer: "CPU" }));
    const out: { a: number; b: number; writer: string }[] = [];
    for (const [a, b] of runs) {
      for (let l = a; l < b; l += L1_CACHE_BYTES) {
        const k = lines[l >>> LINE_SHIFT];
        const writer = k ? this.#writers[k - 1] : "CPU";
        const last = out[out.length - 1];
        const end = Math.min(l + L1_CACHE_BYTES, b);
        if (last && last.b === l && last.writer === writer) last.b = end;
        else out.push({ a: l, b: end, writer });
      }
    }
    return out;
  }

  /** Forgets the kernel drivers' marks on the lines of [lo, hi) (cleaned or invalidated). */
  #forget_kernel_lines(lo: number, hi: number): void {
    if (this.#kernelCount === 0) return;
    const lines = this.#kernelLines!;
    if (lo === 0 && hi >= this.mem.size) {
      lines.fill(0);
      this.#kernelCount = 0;
      return;
    }
    for (
      let l = lo >>> LINE_SHIFT, e = Math.min(Math.ceil(hi / L1_CACHE_BYTES), lines.length);
      l < e;
      l++
    ) {
      if (lines[l]) {
        lines[l] = 0;
        this.#kernelCount--;
      }
    }
  }

  /**
   * A device is about to read [lo, hi) (a mapping for `DMA_TO_DEVICE`/`BIDIRECTIONAL`, a DMA
   * read): eviction, then the check for CPU writes never cleaned (reported under `by`'s name when
   * given, see {@linkcode report}).
   */
  device_read(lo: number, hi: number, who: string, by?: CpuAccess): void {
    this.#evict();
    if (this.sink.sanitizer === "off") return;
    const runs = this.dirtyRuns(lo, hi);
    for (const line of this.#evicted) {
      const a = line << LINE_SHIFT;
      if (a >= lo && a < hi) runs.push([a, a + L1_CACHE_BYTES]);
    }
    runs.sort((x, y) => x[0] - y[0]);
    for (const { a, b, writer } of this.by_writer(merge(runs))) {
      this.report(
        "cpu-write-not-cleaned",
        a,
        b - a,
        (at) => `${wrote(writer, at, at + b - a)} before ${who} read them`,
        by,
        writer,
      );
    }
  }

  /**
   * A device is about to write [lo, hi) of memory: the lines' bytes before the write are kept,
   * so that the CPU's own (cached) copy of them is not taken for a CPU write.
   */
  device_will_write(lo: number, hi: number): void {
    const size = this.mem.size;
    const snap = this.#devSnap ??= new Uint8Array(size);
    const saved = this.#devSaved ??= new Uint8Array(Math.ceil(size / L1_CACHE_BYTES));
    const m = new Uint8Array(this.mem.current);
    for (let line = lo >>> LINE_SHIFT, e = Math.ceil(hi / L1_CACHE_BYTES); line < e; line++) {
      if (saved[line]) continue;
      const a = line << LINE_SHIFT;
      snap.set(m.subarray(a, Math.min(a + L1_CACHE_BYTES, size)), a);
      saved[line] = 1;
      this.#devSavedCount++;
    }
  }

  /** A device wrote [lo, hi) of memory (DMA): the CPU sees it after invalidation only. */
  device_write(lo: number, hi: number, who: string): void {
    this.#devLo = Math.min(this.#devLo, lo);
    this.#devHi = Math.max(this.#devHi, hi);
    this.#devName = who;
  }

  /**
   * The check of a SYNC END(READ) over [lo, hi): lines a device wrote there since the last
   * invalidation were read stale.
   */
  check_device_written(lo: number, hi: number, by: CpuAccess): void {
    const a = Math.max(lo, this.#devLo), b = Math.min(hi, this.#devHi);
    if (a >= b) return;
    this.report(
      "cpu-read-not-invalidated",
      a,
      b - a,
      (at) =>
        `CPU read lines ${this.#devName} wrote (${b - a} bytes at ${
          hex(at)
        }) after the last SYNC START(READ): it saw stale data`,
      by,
    );
  }

  /** The heap buffer's access: the whole cache, under {@linkcode ident}'s name. */
  #own_access(): CpuAccess {
    if (!this.#self) {
      this.#self = new CpuAccess([{ cache: this, lo: 0, hi: this.mem.size, at: 0 }], this.mem.size);
      // deno-lint-ignore no-this-alias
      const cache = this;
      this.#self.ident = {
        get ino() {
          return cache.ident.ino;
        },
        get name() {
          return cache.ident.name;
        },
      };
    }
    return this.#self;
  }

  /** SYNC START on a heap buffer (the whole cache): see {@linkcode CpuAccess.begin}. */
  begin(bits: number, invalidate: boolean): void {
    this.#own_access().begin(bits, invalidate);
  }

  /** SYNC END on a heap buffer (the whole cache): see {@linkcode CpuAccess.end}. */
  end(bits: number, mapped = true): void {
    this.#own_access().end(bits, mapped);
  }

  /**
   * Records a report on the bytes [offset, offset + length) of this cache's store, under the
   * name of `by`, else of a registered access covering them (an open one first), else of
   * {@linkcode ident}. `what` is the text, given the offset as the buffer numbers it.
   */
  report(
    kind: CoherencyKind,
    offset: number,
    length: number,
    what: string | ((at: number) => string),
    by?: CpuAccess,
    writer = "CPU",
  ): void {
    let seg: CacheSegment | undefined;
    if (!by) {
      for (const u of this.users) {
        const s = u.segments.find((s) => s.cache === this && offset >= s.lo && offset < s.hi);
        if (s && (!by || (u.open && !by.open))) {
          by = u;
          seg = s;
        }
      }
    } else {
      seg = by.segments.find((s) => s.cache === this && offset >= s.lo && offset < s.hi);
    }
    const at = seg ? offset - seg.lo + seg.at : offset;
    const { ino, name } = by?.ident ?? this.ident;
    const text = `dma-buf coherency: ${kind}: buffer ino ${ino}${name ? ` "${name}"` : ""} [${
      hex(at)
    }-${hex(at + length)}): ${typeof what === "string" ? what : what(at)}`;
    const syncStack = by?.syncStack;
    this.sink.coherency_report({
      kind,
      ino,
      name,
      offset: at,
      length,
      text,
      writer,
      syncStack: syncStack && userStack(syncStack),
      stack: userStack(),
    });
  }

  /**
   * Changes the size (a memfd's `ftruncate`): the memory follows the CPU view, which its owner
   * resized; lines past the old end are clean zeros.
   */
  resize(size: number): void {
    if (this.mem.size !== size) this.mem.resize(size);
    if (this.view.size !== size) this.view.resize(size);
    const lines = Math.ceil(size / L1_CACHE_BYTES);
    if (this.#devSnap) {
      const snap = new Uint8Array(size);
      snap.set(this.#devSnap.subarray(0, Math.min(size, this.#devSnap.length)));
      this.#devSnap = snap;
    }
    if (this.#devSaved) {
      const saved = new Uint8Array(lines);
      saved.set(this.#devSaved.subarray(0, Math.min(lines, this.#devSaved.length)));
      this.#devSaved = saved;
      this.#devSavedCount = saved.reduce((n, x) => n + x, 0);
    }
    if (this.#kernelLines) {
      const k = new Uint8Array(lines);
      k.set(this.#kernelLines.subarray(0, Math.min(lines, this.#kernelLines.length)));
      this.#kernelLines = k;
      this.#kernelCount = k.reduce((n, x) => n + (x ? 1 : 0), 0);
    }
    this.forget_evicted(size, Infinity);
    this.#devHi = Math.min(this.#devHi, size);
  }

  /** Drops the store the cache made, and its side state (the buffer was freed). */
  release(): void {
    this.#own.release();
    this.#devSnap = this.#devSaved = this.#kernelLines = null;
    this.#devSavedCount = this.#kernelCount = 0;
    this.#self?.detach();
  }
}

/** "CPU wrote N bytes at X with no SYNC END(WRITE)", or the kernel driver's version. */
function wrote(writer: string, a: number, b: number): string {
  return writer === "CPU"
    ? `CPU wrote ${b - a} bytes at ${hex(a)} with no SYNC END(WRITE)`
    : `${writer} wrote ${b - a} bytes at ${
      hex(a)
    } through a kernel vmap with no dma_buf_end_cpu_access()`;
}

function merge(runs: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const r of runs) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/** Mulberry32: the seeded generator of eviction choices. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
