/**
 * A non-coherent CPU (arch/arm64/mm/dma-mapping.c, cache.S) and the coherency sanitizer.
 *
 * On a non-coherent board, the CPU reaches a cached buffer through a write-back data cache: its
 * stores reach memory only when a line is cleaned (or evicted), and it sees what a device wrote
 * only after the line is invalidated. The model gives each cached heap buffer a {@linkcode CpuCache}:
 * a second store, the **CPU view**, that every CPU alias shows (user mmaps, the kernel's vmap —
 * arm64's data cache is physically tagged, so all CPU aliases see the same lines), beside the
 * buffer's memory, which devices reach (the sg table, `phys_read`/`phys_write`). A line is dirty
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
 *   always cleans, the clean being its record of what the access wrote.
 *
 * Without eviction (the default) every line stays in the cache until maintained: the worst case a
 * real CPU can show. With an eviction seed, each device access first writes back a random half
 * of the dirty lines, as a cache under pressure would.
 *
 * The sanitizer checks the dma-buf protocol at the same points and reports what broke it (kinds
 * in {@linkcode CoherencyKind}); the reports are the model's own, Linux has no such check. A
 * kernel driver that writes through a vmap (a CPU alias) marks the lines with
 * {@linkcode CpuCache.kernel_cpu_write}, so that reports on them name the driver, not user space.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { MemStore } from "./mm.ts";

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

/** The write-back cache over one buffer. */
export class CpuCache {
  /** The buffer's memory (what devices see). */
  readonly mem: MemStore;
  /** The CPU view: what user mappings and vmaps show. */
  readonly view: MemStore;
  readonly #sink: CoherencySink;
  /** Lines written back by eviction since the last SYNC END (still a protocol violation). */
  readonly #evicted = new Set<number>();
  /** Byte range a device wrote since the last invalidation ([lo, hi), empty when lo >= hi). */
  #devLo = Infinity;
  #devHi = 0;
  #devName = "";
  /** Directions opened by SYNC START and not yet ended. */
  #open = 0;
  /**
   * Lines a kernel driver wrote through a vmap since they were last cleaned or invalidated: one
   * byte per line, 0 for none, else 1 + the writer's index in `#writers`. Null until the first.
   */
  #kernelLines: Uint8Array | null = null;
  #kernelCount = 0;
  readonly #writers: string[] = [];
  /** The stack of the START of the open access (formatted only when a report is made). */
  #syncStack: Error | undefined;
  /** Identity for reports, set once exported. */
  ident: { ino: number; name: string | null } = { ino: 0, name: null };

  /**
   * A cache over `mem`, empty (the CPU view equals memory: both zero).
   *
   * @param mem The buffer's memory.
   * @param sink The machine.
   */
  constructor(mem: MemStore, sink: CoherencySink) {
    this.mem = mem;
    this.view = new MemStore(mem.size);
    this.#sink = sink;
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
    for (let a = (lo >>> LINE_SHIFT) << LINE_SHIFT; a < end; a += COMPARE_CHUNK) {
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

  #copyRuns(runs: [number, number][]): void {
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
   * Clean (`dcache_clean_poc`): dirty lines are written back to memory.
   *
   * A line that is not dirty holds the bytes of its reference, which is memory except for the
   * lines a device wrote since the last invalidation (`#devSaved`). So every other line can be
   * copied blindly: for a clean one the copy writes the bytes memory already holds. That makes
   * the clean one `TypedArray.set` per run of such lines instead of a scan for dirty lines; only
   * the lines a device wrote are compared with their saved bytes (and copied only when dirty,
   * so the device's data stays in memory, as on a real CPU).
   */
  clean(): void {
    const v = new Uint8Array(this.view.current), m = new Uint8Array(this.mem.current);
    const saved = this.#devSaved;
    this.#forgetKernelLines();
    if (saved === null || this.#devSavedCount === 0) {
      m.set(v);
      return;
    }
    const lines = saved.length, size = this.mem.size;
    let line = 0;
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
        this.#copyRuns(this.dirtyRuns(line << LINE_SHIFT, Math.min(e << LINE_SHIFT, size)));
        line = e;
      }
    }
  }

  /** Invalidate (`dcache_inval_poc`): the CPU view is refilled from memory; dirty lines are lost. */
  invalidate(why: string): void {
    if (this.#sink.sanitizer !== "off") {
      for (const { a, b, writer } of this.#byWriter(this.dirtyRuns())) {
        this.#report(
          "cpu-write-discarded",
          a,
          b - a,
          `${wrote(writer, a, b)} before ${why} invalidated them: the writes are lost`,
          writer,
        );
      }
    }
    this.#forgetKernelLines();
    new Uint8Array(this.view.current).set(new Uint8Array(this.mem.current));
    if (this.#devSavedCount > 0) this.#devSaved?.fill(0);
    this.#devSavedCount = 0;
    this.#evicted.clear();
    this.#devLo = Infinity;
    this.#devHi = 0;
  }

  /** Eviction before a device access: a random half of the dirty lines written back. */
  #evict(): void {
    if (this.#sink.eviction_random() === null) return;
    const runs: [number, number][] = [];
    for (const [a, b] of this.dirtyRuns()) {
      for (let l = a; l < b; l += L1_CACHE_BYTES) {
        if (this.#sink.eviction_random()! < 0.5) {
          runs.push([l, l + L1_CACHE_BYTES]);
          this.#evicted.add(l >>> LINE_SHIFT);
        }
      }
    }
    this.#copyRuns(runs);
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
  #byWriter(runs: [number, number][]): { a: number; b: number; writer: string }[] {
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

  #forgetKernelLines(): void {
    if (this.#kernelCount > 0) this.#kernelLines!.fill(0);
    this.#kernelCount = 0;
  }

  /**
   * A device is about to read [lo, hi) (a mapping for `DMA_TO_DEVICE`/`BIDIRECTIONAL`, a DMA
   * read): eviction, then the check for CPU writes never cleaned.
   */
  device_read(lo: number, hi: number, who: string): void {
    this.#evict();
    if (this.#sink.sanitizer === "off") return;
    const runs = this.dirtyRuns(lo, hi);
    for (const line of this.#evicted) {
      const a = line << LINE_SHIFT;
      if (a >= lo && a < hi) runs.push([a, a + L1_CACHE_BYTES]);
    }
    runs.sort((x, y) => x[0] - y[0]);
    for (const { a, b, writer } of this.#byWriter(merge(runs))) {
      this.#report(
        "cpu-write-not-cleaned",
        a,
        b - a,
        `${wrote(writer, a, b)} before ${who} read them`,
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

  /** SYNC START with direction bits `bits`; `invalidate` when the exporter invalidates. */
  begin(bits: number, invalidate: boolean): void {
    if (invalidate) this.invalidate("SYNC START(READ)");
    if (this.#sink.sanitizer !== "off") this.#syncStack = captureStack();
    this.#open |= bits;
  }

  /**
   * SYNC END with direction bits `bits`: the checks, then the clean — which Linux's heaps do
   * only through mapped attachments (`mapped`). With the sanitizer off and nothing mapped, the
   * lines stay dirty, as on Linux; with it on, the clean is made all the same, as the record
   * of what this access wrote.
   */
  end(bits: number, mapped = true): void {
    // In strict mode a report throws; the END still happens (the access is closed and the lines
    // cleaned), so that code after a caught violation is checked against a sane state.
    const scan: { runs: [number, number][] | null } = { runs: null };
    try {
      this.#endChecks(bits, scan);
    } finally {
      this.#syncStack = undefined;
      this.#open = 0;
      if (scan.runs) this.#copyRuns(scan.runs);
      else if (mapped || this.#sink.sanitizer !== "off") this.clean();
      if (scan.runs || mapped || this.#sink.sanitizer !== "off") this.#evicted.clear();
    }
  }

  /** The sanitizer's checks at SYNC END; `scan.runs` gets the dirty runs when it scans them. */
  #endChecks(bits: number, scan: { runs: [number, number][] | null }): void {
    if (this.#sink.sanitizer !== "off") {
      const open = this.#open;
      if (open === 0) {
        this.#report(
          "direction-mismatch",
          0,
          this.mem.size,
          `SYNC END(${dirName(bits)}) without SYNC START`,
        );
      } else if ((bits & open) !== open || (bits & ~open) !== 0) {
        this.#report(
          "direction-mismatch",
          0,
          this.mem.size,
          `SYNC END(${dirName(bits)}) after SYNC START(${dirName(open)})`,
        );
      } else if (!(bits & CPU_WRITE)) {
        // One scan serves the check and the clean. Lines a kernel driver wrote through its
        // vmap are not the reader's (they are reported when a device reads them).
        const runs = scan.runs = this.dirtyRuns();
        for (const { a, b, writer } of this.#byWriter(runs)) {
          if (writer !== "CPU") continue;
          this.#report(
            "direction-mismatch",
            a,
            b - a,
            `CPU wrote ${b - a} bytes at ${
              hex(a)
            } with no SYNC END(WRITE), found at the SYNC END(READ) of a read-only access`,
            writer,
          );
        }
      }
      if ((bits & CPU_READ) && this.#devLo < this.#devHi) {
        this.#report(
          "cpu-read-not-invalidated",
          this.#devLo,
          this.#devHi - this.#devLo,
          `CPU read lines ${this.#devName} wrote (${this.#devHi - this.#devLo} bytes at ${
            hex(this.#devLo)
          }) after the last SYNC START(READ): it saw stale data`,
        );
      }
    }
  }

  #report(
    kind: CoherencyKind,
    offset: number,
    length: number,
    what: string,
    writer = "CPU",
  ): void {
    const { ino, name } = this.ident;
    const text = `dma-buf coherency: ${kind}: buffer ino ${ino}${name ? ` "${name}"` : ""} [${
      hex(offset)
    }-${hex(offset + length)}): ${what}`;
    this.#sink.coherency_report({
      kind,
      ino,
      name,
      offset,
      length,
      text,
      writer,
      syncStack: this.#syncStack && userStack(this.#syncStack),
      stack: userStack(),
    });
  }

  /** Drops both stores (the buffer was freed). */
  release(): void {
    this.view.release();
    this.#devSnap = this.#devSaved = this.#kernelLines = null;
    this.#kernelCount = 0;
    this.#devSavedCount = 0;
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
