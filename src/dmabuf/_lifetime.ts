/**
 * The garbage-collection backstop: the fd and mappings of an owner collected without `close()`
 * are released here. Best effort — collection may never happen — so `close()` and `using`
 * remain the way to release. Each owner registers one record with a separate unregister token
 * (an object only the owner holds, as denodrivers/sqlite3 does) and unregisters on close.
 *
 * A leak is a bug in the caller, so each one is reported: one warning per leaked object on
 * stderr (at most {@linkcode LEAK_WARNINGS_PER_WINDOW} per {@linkcode LEAK_WINDOW_MS}; the
 * rest are counted and summed up in the next warning), naming its kind, size and name. The
 * stack where the object was made is recorded only with `DMABUF_DEBUG_LEAKS=1`: formatting it
 * costs more than a simulated allocate+close (bench/leak_bench.ts). `setLeakWarnings()`
 * silences the warnings or routes them to a handler.
 *
 * @module
 */
import type { Kernel, MappedRegion } from "../kernel/types.ts";

/**
 * What the backstop releases for one collected owner: its fd when it owns one, and the regions
 * of its live mappings. One record per owner covers its mappings too: a mapping holds its
 * buffer, and the buffer holds its mappings, so they become unreachable together.
 */
export interface OwnerRecord {
  /** The kernel of the fd. */
  kernel: Kernel;
  /** The owned fd, or undefined for a borrowed one (which is never closed here). */
  fd: number | undefined;
  /** Live mappings made through the owner. */
  regions: Set<MappedRegion> | undefined;
  /** The owner's class, e.g. `"DmaBuf"`. */
  what: string;
  /** The size in bytes, when known. */
  size?: number;
  /** The name last set through the object. */
  name?: string;
  /** Where it was made, with `DMABUF_DEBUG_LEAKS=1`. */
  site?: AllocationSite;
}

/**
 * Where an object was made: the formatted stack. A string, not the `Error`: V8's unformatted
 * stack holds the frames' receivers, which would keep the leaked object reachable forever.
 */
export type AllocationSite = string | undefined;

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

/**
 * How many fds and mappings the GC backstop has released since the process started: each one
 * is an owner that was dropped without `close()` (or `using`). Zero in a correct program.
 *
 * @returns The count.
 *
 * @example Checking a script leaked nothing
 * ```ts
 * import { leakedCount, openHeap } from "@dmabuf/dmabuf";
 * import assert from "node:assert/strict";
 *
 * const before = leakedCount();
 * using heap = openHeap("system");
 * using _buf = heap.allocate(4096);
 * assert.equal(leakedCount(), before);
 * ```
 */
export function leakedCount(): number {
  return leaks;
}

/**
 * Where leaks are reported: `true` (the default) prints one warning per leaked object on stderr,
 * rate limited; `false` silences them; a function receives every report instead (no rate
 * limit). {@linkcode leakedCount} counts in every mode.
 *
 * @param mode `true`, `false` or a handler.
 * @throws {TypeError} For anything else.
 *
 * @example Collecting leak reports in a test
 * ```ts
 * import { type LeakReport, setLeakWarnings } from "@dmabuf/dmabuf";
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

/** The registry every fd owner uses. */
export const backstop: FinalizationRegistry<OwnerRecord> = new FinalizationRegistry(
  (held: OwnerRecord) => {
    let mappings = 0;
    for (const region of held.regions ?? []) {
      leaks++;
      mappings++;
      bestEffort(() => held.kernel.munmap(region));
    }
    if (held.fd !== undefined) {
      leaks++;
      bestEffort(() => held.kernel.close(held.fd!));
    }
    report({
      kind: held.what,
      fd: held.fd,
      size: held.size,
      name: held.name,
      mappings,
      stack: held.site,
    });
  },
);

function bestEffort(fn: () => void): void {
  try {
    fn();
  } catch {
    // Nothing to report to: the owner is gone. The fd may already have been closed by hand.
  }
}
