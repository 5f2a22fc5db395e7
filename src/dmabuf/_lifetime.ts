/**
 * The garbage-collection backstop: fds and mappings whose owner object was collected without
 * `close()` are released here. Best effort — collection may never happen — so `close()` and
 * `using` remain the way to release. Each owner registers a separate token-free held value and
 * unregisters on explicit close, as denodrivers/sqlite3 does.
 *
 * A leak is a bug in the caller, so each one is reported: one warning per leaked object on
 * stderr (at most {@linkcode LEAK_WARNINGS_PER_WINDOW} per {@linkcode LEAK_WINDOW_MS}; the
 * rest are counted and summed up in the next warning), naming its kind, size and name. The
 * stack where the object was made is recorded only with `DMABUF_DEBUG_LEAKS=1`: capturing it
 * costs about as much as a system-heap allocation (bench/leak_bench.ts). `setLeakWarnings()`
 * silences the warnings or routes them to a handler.
 *
 * @module
 */
import type { Kernel, MappedRegion } from "../kernel/types.ts";

/**
 * Where an object was made: the formatted stack. A string, not the `Error`: V8's unformatted
 * stack holds the frames' receivers, which would keep the leaked object reachable forever.
 */
export type AllocationSite = string | undefined;

/** What the backstop releases for one collected owner. */
export type Leaked =
  | { kind: "fd"; kernel: Kernel; fd: number; what: string; site?: AllocationSite }
  | { kind: "mapping"; kernel: Kernel; region: MappedRegion; site?: AllocationSite }
  | BufferRecord;

/**
 * A buffer's record: its fd when owned, and the regions of its live mappings. One registration
 * per buffer covers its mappings too: a mapping holds its buffer, and the buffer holds its
 * mappings, so they become unreachable together.
 */
export interface BufferRecord {
  kind: "buffer";
  kernel: Kernel;
  fd: number | undefined;
  regions: Set<MappedRegion> | undefined;
  /** The size in bytes, when known. */
  size?: number;
  /** The name last set through the object. */
  name?: string;
  /** Where it was made, with `DMABUF_DEBUG_LEAKS=1`. */
  site?: AllocationSite;
}

/** One leaked object, as reported to a handler of {@linkcode setLeakWarnings}. */
export interface LeakReport {
  /** The class of the object: `"DmaBuf"`, `"DmaHeap"`, `"SyncFile"`, `"UnixSocket"`, … */
  kind: string;
  /** Its fd (now closed by the backstop), if it owned one. */
  fd?: number;
  /** Its size in bytes, when known. */
  size?: number;
  /** Its buffer name, when one was set. */
  name?: string;
  /** How many mappings the backstop unmapped with it. */
  mappings: number;
  /** The stack where it was made; only with `DMABUF_DEBUG_LEAKS=1`. */
  stack?: string;
}

/** At most this many leak warnings are printed per {@linkcode LEAK_WINDOW_MS}. */
export const LEAK_WARNINGS_PER_WINDOW = 10;
/** The rate limit's window, in milliseconds. */
export const LEAK_WINDOW_MS = 10_000;

let leaks = 0;
let handler: ((report: LeakReport) => void) | "warn" | null = "warn";
let windowStart = -Infinity;
let printed = 0;
let suppressed = 0;

function envFlag(name: string): boolean {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return false;
    }
    return Deno.env.get(name) === "1";
  } catch {
    return false;
  }
}

let stacks = envFlag("DMABUF_DEBUG_LEAKS");

/** How many owners the backstop has released since the process started. */
export function leakedCount(): number {
  return leaks;
}

/**
 * Where leaks are reported: `true` (the default) prints one warning per leaked object on stderr,
 * rate limited; `false` silences them; a function receives every report instead (no rate
 * limit). {@linkcode leakedCount} counts in every mode.
 *
 * @param mode `true`, `false` or a handler.
 *
 * @example Collecting leak reports in a test
 * ```ts
 * import { type LeakReport, setLeakWarnings } from "./_lifetime.ts";
 *
 * const reports: LeakReport[] = [];
 * setLeakWarnings((r) => reports.push(r));
 * setLeakWarnings(true);
 * ```
 */
export function setLeakWarnings(mode: boolean | ((report: LeakReport) => void)): void {
  if (typeof mode === "function") handler = mode;
  else if (typeof mode === "boolean") handler = mode ? "warn" : null;
  else throw new TypeError("setLeakWarnings() takes true, false or a function");
}

/**
 * Whether allocation stacks are recorded (`DMABUF_DEBUG_LEAKS=1` at startup), or turns it on or
 * off from now on.
 *
 * @param on When given, the new setting.
 * @returns The setting in effect.
 */
export function leakStacks(on?: boolean): boolean {
  if (on !== undefined) stacks = on;
  return stacks;
}

/** The allocation site to keep with a new object: the stack when stacks are on. */
export function allocationSite(): AllocationSite {
  return stacks ? new Error("allocated here").stack : undefined;
}

/**
 * The warning text for a report.
 *
 * @param r The report.
 * @returns One paragraph: what leaked, what the backstop did, where it was made or how to see it.
 */
export function formatLeak(r: LeakReport): string {
  const parts: string[] = [];
  if (r.size !== undefined) parts.push(`${r.size} bytes`);
  if (r.name !== undefined) parts.push(`name ${JSON.stringify(r.name)}`);
  if (r.fd !== undefined) parts.push(`fd ${r.fd}`);
  const did = [
    r.fd !== undefined ? "closed its fd" : "",
    r.mappings > 0 ? `unmapped ${r.mappings} mapping${r.mappings === 1 ? "" : "s"}` : "",
  ].filter(Boolean).join(" and ");
  let s = `dmabuf: leaked ${r.kind}${parts.length ? ` (${parts.join(", ")})` : ""}: ` +
    `garbage-collected without close(); the backstop ${did || "released it"}. Close it ` +
    "(or use `using`) when done.";
  s += r.stack !== undefined
    ? `\n${r.stack.replace(/^Error: allocated here\n/, "Allocated:\n")}`
    : " Run with DMABUF_DEBUG_LEAKS=1 to see where it was allocated.";
  return s;
}

function stackOf(site: AllocationSite): string | undefined {
  return site;
}

function report(r: LeakReport): void {
  if (handler === null) return;
  if (handler !== "warn") {
    try {
      handler(r);
    } catch { /* a handler's failure must not stop the backstop */ }
    return;
  }
  const now = Date.now();
  if (now - windowStart >= LEAK_WINDOW_MS) {
    windowStart = now;
    printed = 0;
  }
  if (printed >= LEAK_WARNINGS_PER_WINDOW) {
    suppressed++;
    return;
  }
  printed++;
  let text = formatLeak(r);
  if (suppressed > 0) {
    text += `\n(${suppressed} more leak warning${suppressed === 1 ? "" : "s"} were suppressed; ` +
      "leakedCount() has the total)";
    suppressed = 0;
  }
  console.warn(text);
}

/** The registry shared by heaps, buffers and mappings. */
export const backstop: FinalizationRegistry<Leaked> = new FinalizationRegistry((held: Leaked) => {
  if (held.kind === "buffer") {
    let mappings = 0;
    for (const region of held.regions ?? []) {
      leaks++;
      mappings++;
      release(() => held.kernel.munmap(region));
    }
    if (held.fd !== undefined) {
      leaks++;
      release(() => held.kernel.close(held.fd!));
    }
    report({
      kind: "DmaBuf",
      fd: held.fd,
      size: held.size,
      name: held.name,
      mappings,
      stack: stackOf(held.site),
    });
    return;
  }
  leaks++;
  release(() => {
    if (held.kind === "fd") held.kernel.close(held.fd);
    else held.kernel.munmap(held.region);
  });
  report(
    held.kind === "fd"
      ? { kind: held.what, fd: held.fd, mappings: 0, stack: stackOf(held.site) }
      : { kind: "mapping", size: held.region.length, mappings: 1, stack: stackOf(held.site) },
  );
});

function release(fn: () => void): void {
  try {
    fn();
  } catch {
    // Nothing to report to: the owner is gone. The fd may already have been closed by hand.
  }
}
