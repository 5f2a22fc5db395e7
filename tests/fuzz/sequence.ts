/**
 * One fuzz sequence: random calls over the whole public API — heaps, udmabuf, the allocator,
 * buffers, mappings, CPU access, fences, waits, sockets, pipelines — with misuse mixed in (use
 * after close or unmap, moved ArrayBuffers, borrowed fds closed by their owner and their number
 * reused, aborted waits and pipelines, bad arguments), then the invariants: after the sequence
 * has closed what it holds and the GC has run, every fd and dma-buf/memfd mapping it made is
 * gone and every view the library handed out has length 0.
 *
 * Deterministic per seed: the calls and their arguments come from a PRNG seeded with the
 * sequence's seed, and every call is awaited before the next is chosen. (Timing-dependent
 * outcomes — whether an abort lands before a fence signals — can differ between runs; the
 * calls cannot.)
 *
 * Imported by `child.ts` after `installErrorTags()` (see `classify.ts`).
 *
 * @module
 */
import {
  DmaBuf,
  type DmaBufMapping,
  type DmaHeap,
  ErrnoError,
  kernelSelection,
  leakedCount,
  listHeaps,
  openAllocator,
  openHeap,
  openUdmabuf,
  setKernel,
  SyncFile,
} from "../../mod.ts";
import { getKernel, type Kernel } from "../../src/kernel/mod.ts";
import {
  fromWorkerHandle,
  receiveDmaBuf,
  sendDmaBuf,
  takeDmaBuf,
  toWorkerHandle,
  UnixListener,
  UnixSocket,
} from "../../src/share/mod.ts";
import {
  type BufferPool,
  createBufferPool,
  openStage,
  Pipeline,
  type Stage,
} from "../../src/pipeline/mod.ts";
import { parseFdinfo } from "../../src/accounting/mod.ts";
import { defaultSimMachine } from "../../src/sim/mod.ts";
import {
  F_ADD_SEALS,
  F_DUPFD_CLOEXEC,
  F_SEAL_SHRINK,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  O_CLOEXEC,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
} from "../../src/uapi/constants.ts";
import { abortedBy, CallbackError, classify, describe, type Outcome } from "./classify.ts";
import { syscallStorm } from "./syscalls.ts";
import { rng } from "./rng.ts";

/** What one sequence did. */
export interface SequenceResult {
  /** Its index in the run. */
  index: number;
  /** Its seed. */
  seed: number;
  /** Public calls made (each classified once). */
  calls: number;
  /** Calls by outcome. */
  counts: Record<Outcome, number>;
  /** The untyped errors: call number, call name, error. */
  untyped: { at: number; call: string; error: string }[];
  /** Invariant failures after the sequence. */
  invariants: string[];
  /** The call that did not settle in time (the sequence stopped there). */
  hang?: { at: number; call: string };
}

/** Options of {@linkcode runSequence}. */
export interface SequenceOptions {
  /** Public calls to aim for (the last op may overshoot by a few). */
  calls: number;
  /** How long an awaited call may take before it counts as a hang, ms. */
  hangMs: number;
  /** Print every call to stderr before making it (to find the call that crashes). */
  trace?: boolean;
}

class Hang extends Error {}
/** Time per op name, ms, summed over the process (printed by `child.ts`). */
export const PROFILE: Map<string, number> = new Map();

const SIZES: unknown[] = [
  1,
  100,
  4095,
  4096,
  4097,
  8192,
  65536,
  1 << 20,
  0,
  -1,
  -4096,
  NaN,
  Infinity,
  -Infinity,
  1.5,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 4096,
  2 ** 53 - 1,
  2 ** 53,
  3 * 2 ** 30,
  "4096",
  null,
  undefined,
  {},
  4096n,
];
const GOOD_SIZES = [1, 4096, 8192, 12288, 65536];
const NAMES: unknown[] = [
  "fz",
  "",
  "frame-0",
  "x".repeat(31),
  "x".repeat(32),
  "é".repeat(16),
  "a\0b",
  "a\nb",
  5,
  null,
  undefined,
  {},
];
const HEAP_NAMES: unknown[] = [
  "system",
  "system",
  "system",
  { role: "contiguous" },
  { role: "system" },
  { role: "bogus" },
  "bogus",
  "",
  ".",
  "..",
  "../system",
  "sys/tem",
  "a\nb",
  "\u0007",
  "x".repeat(256),
  "x".repeat(5000),
  null,
  undefined,
  5,
  NaN,
];
const ACCESS: unknown[] = ["read", "write", "readwrite", "bogus", "", null, 1];
const FENCE_ACCESS: unknown[] = ["read", "write", "readwrite", "bogus", null];
const FD_FLAGS: unknown[] = [
  O_RDWR | O_CLOEXEC,
  O_RDONLY | O_CLOEXEC,
  O_WRONLY | O_CLOEXEC,
  O_RDWR,
  3,
  -1,
  2 ** 31,
  2 ** 32,
  2 ** 40,
  NaN,
  "2",
  null,
];
const TIMEOUTS = [0, 1, 5, 20];

/** Everything a sequence holds; cleanup closes it all. */
interface World {
  k: Kernel;
  heaps: DmaHeap[];
  allocators: { allocate(size: number, o?: any): DmaBuf; close(): void }[];
  bufs: DmaBuf[];
  maps: { m: DmaBufMapping; buf: DmaBuf }[];
  /** Views the library handed out, with the buffer they belong to. */
  views: { view: Uint8Array; buf: DmaBuf }[];
  /** ArrayBuffers moved out of a mapping with `transfer()`. */
  moved: ArrayBuffer[];
  syncFiles: SyncFile[];
  pairs: [UnixSocket, UnixSocket][];
  listeners: { l: UnixListener; name: string }[];
  sockets: UnixSocket[];
  stages: Stage[];
  pools: BufferPool[];
  /** Pool buffers taken with `tryAcquire` and kept, not recycled. */
  held: { pool: BufferPool; b: ReturnType<BufferPool["tryAcquire"]> & object }[];
  /** Raw fds (memfds, received fds) the sequence made through the kernel seam. */
  raw: number[];
  /** Errors kept across the sequence (a kept error must not keep its buffer alive). */
  kept: unknown[];
  /** Buffers dropped without close: the GC backstop must release them. */
  dropped: number;
}

/**
 * Runs one sequence and checks the invariants.
 *
 * @param index The sequence's index in the run.
 * @param seed Its seed.
 * @param options Call budget, hang limit, tracing.
 * @returns What happened.
 */
export async function runSequence(
  index: number,
  seed: number,
  options: SequenceOptions,
): Promise<SequenceResult> {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const chance = (p: number) => r() < p;
  const result: SequenceResult = {
    index,
    seed,
    calls: 0,
    counts: { ok: 0, typed: 0, untyped: 0, hang: 0 },
    untyped: [],
    invariants: [],
  };
  const k = getKernel();
  const before = snapshot(k);
  const warningsBefore = k.kind === "simulated" ? defaultSimMachine().warnings.length : 0;

  const record = (name: string, outcome: Outcome, e?: unknown) => {
    if (options.trace && e !== undefined) console.error(`  → ${outcome}: ${describe(e)}`);
    result.calls++;
    result.counts[outcome]++;
    if (outcome === "untyped") {
      result.untyped.push({ at: result.calls, call: name, error: describe(e) });
    }
  };
  const trace = (name: string) => {
    if (options.trace) console.error(`call ${result.calls + 1} ${name}`);
  };
  /** A public call: classified, its error kept sometimes, undefined when it threw. */
  const call = <T>(name: string, fn: () => T): T | undefined => {
    trace(name);
    try {
      const v = fn();
      record(name, "ok");
      return v;
    } catch (e) {
      record(name, classify(e, ErrnoError), e);
      if (chance(0.05)) w.kept.push(e);
      return undefined;
    }
  };
  /** An awaited public call, with the hang limit. */
  const acall = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    trace(name);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Hang()), options.hangMs);
    });
    try {
      const v = await Promise.race([Promise.resolve().then(fn), hang]);
      record(name, "ok");
      return v;
    } catch (e) {
      if (e instanceof Hang) {
        record(name, "hang");
        result.hang = { at: result.calls, call: name };
        throw e;
      }
      record(name, classify(e, ErrnoError), e);
      if (chance(0.05)) w.kept.push(e);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };
  /** A call that is JS, not the library (moving a buffer, touching a view): only crashes count. */
  const js = <T>(name: string, fn: () => T): T | undefined => {
    trace(name);
    try {
      const v = fn();
      record(name, "ok");
      return v;
    } catch (_e) {
      record(name, "typed");
      return undefined;
    }
  };

  const w: World = {
    k,
    heaps: [],
    allocators: [],
    bufs: [],
    maps: [],
    views: [],
    moved: [],
    syncFiles: [],
    pairs: [],
    listeners: [],
    sockets: [],
    stages: [],
    pools: [],
    held: [],
    raw: [],
    kept: [],
    dropped: 0,
  };

  const heap = (): DmaHeap | undefined => {
    const open = w.heaps.filter((h) => !h.closed);
    if (open.length && chance(0.9)) return pick(open);
    const h = call("openHeap(system)", () => openHeap("system"));
    if (h) w.heaps.push(h);
    return h ?? w.heaps[0];
  };
  const newBuf = (): DmaBuf | undefined => {
    const h = heap();
    const b = h && call("DmaHeap.allocate", () => h.allocate(pick(GOOD_SIZES)));
    if (b) w.bufs.push(b);
    return b;
  };
  const buf = (): DmaBuf | undefined => {
    if (w.bufs.length === 0 || chance(0.1)) return newBuf();
    return pick(w.bufs);
  };
  const openBuf = (): DmaBuf | undefined => {
    const open = w.bufs.filter((b) => !b.closed);
    return open.length && chance(0.9) ? pick(open) : newBuf();
  };
  const mapping = (): { m: DmaBufMapping; buf: DmaBuf } | undefined => {
    if (w.maps.length && chance(0.85)) return pick(w.maps);
    const b = openBuf();
    const m = b && call("DmaBuf.map", () => b.map());
    if (!m || !b) return undefined;
    const e = { m, buf: b };
    w.maps.push(e);
    return e;
  };
  const view = (e: { m: DmaBufMapping; buf: DmaBuf }, v: Uint8Array) => {
    // A mapping that is not writable hands out copies (they outlive it by design).
    if ((e.m as { writable?: boolean }).writable !== false) w.views.push({ view: v, buf: e.buf });
    return v;
  };
  const pair = (): [UnixSocket, UnixSocket] | undefined => {
    if (w.pairs.length && chance(0.8)) return pick(w.pairs);
    const p = call(
      "UnixSocket.pair",
      () => UnixSocket.pair({ type: pick(["seqpacket", "stream"]) }),
    );
    if (p) w.pairs.push(p);
    return p;
  };
  const stage = (): Stage | undefined => {
    const open = w.stages.filter((s) => !s.closed);
    if (open.length && chance(0.8)) return pick(open);
    const s = call(
      "openStage",
      () => openStage(pick(["/dev/driverA", "/dev/driverB"]), { op: pick(["none", "invert"]) }),
    );
    if (s) w.stages.push(s);
    return s;
  };
  const pool = (): BufferPool | undefined => {
    const open = w.pools.filter((p) => !p.closed);
    if (open.length && chance(0.8)) return pick(open);
    const h = heap();
    const p = h && call(
      "createBufferPool",
      () => createBufferPool(h, { count: 1 + Math.floor(r() * 3), size: pick(GOOD_SIZES) }),
    );
    if (p) w.pools.push(p);
    return p;
  };
  const memfd = (size: number, seal: boolean): number | undefined => {
    const fd = call(
      "Kernel.memfdCreate",
      () => k.memfdCreate("fz", MFD_CLOEXEC | MFD_ALLOW_SEALING),
    );
    if (fd === undefined) return undefined;
    w.raw.push(fd);
    call("Kernel.ftruncate", () => k.ftruncate(fd, size));
    if (seal) call("Kernel.fcntl(F_ADD_SEALS)", () => k.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
    return fd;
  };
  const controller = (): {
    signal: AbortSignal;
    arm: () => void;
    willAbort: boolean;
    abortLater: () => void;
  } => {
    const c = new AbortController();
    const mode = r();
    if (mode < 0.1) abortedBy(c); // already aborted
    const delay = Math.floor(r() * 15);
    return {
      signal: c.signal,
      arm: () => {
        if (mode < 0.7) setTimeout(() => abortedBy(c), delay);
      },
      willAbort: mode < 0.7,
      abortLater: () => void setTimeout(() => abortedBy(c), delay),
    };
  };

  type Op = [weight: number, name: string, run: () => void | Promise<void>];
  const ops: Op[] = [
    [3, "openHeap", () => {
      const h = call(
        "openHeap",
        () => openHeap(pick(HEAP_NAMES) as string, pick([{}, {}, null, undefined, 5]) as any),
      );
      if (h) w.heaps.push(h);
    }],
    [1, "listHeaps", () => void call("listHeaps", () => listHeaps())],
    [1, "info calls", () => {
      call("kernelSelection", () => kernelSelection());
      call("leakedCount", () => leakedCount());
      call(
        "parseFdinfo",
        () =>
          parseFdinfo(
            pick(["", "exp_name:\tsystem\n", "size:\tx\nexp_name:\n", null, 5]) as string,
          ),
      );
    }],
    [12, "allocate", () => {
      const h = heap();
      if (!h) return;
      const good = chance(0.7);
      const size = good ? pick(GOOD_SIZES) : pick(SIZES);
      const opts = good
        ? pick<unknown>([{}, undefined, { name: pick(NAMES) }, { fdFlags: O_RDONLY | O_CLOEXEC }])
        : pick<unknown>([
          null,
          5,
          "x",
          { fdFlags: pick(FD_FLAGS) },
          { heapFlags: pick([0, 1, -1, NaN, 2 ** 40, null]) },
          { name: pick(NAMES) },
          // Never `true`: that is the caller's explicit consent to the OOM killer.
          { overcommit: pick([false, "yes", 1, null]) },
        ]);
      const b = call("DmaHeap.allocate", () => h.allocate(size as number, opts as any));
      if (b) w.bufs.push(b);
    }],
    [2, "heap.close", () => {
      const h = heap();
      if (h) call("DmaHeap.close", () => chance(0.5) ? h.close() : h[Symbol.dispose]());
    }],
    [3, "udmabuf", () => {
      const u = call("openUdmabuf", () => openUdmabuf());
      if (!u) return;
      w.allocators.push(u);
      const choice = r();
      if (choice < 0.5) {
        const b = call(
          "Udmabuf.allocate",
          () =>
            u.allocate(
              (chance(0.7) ? pick(GOOD_SIZES) : pick(SIZES)) as number,
              pick<any>([{}, { name: pick(NAMES) }, null]),
            ),
        );
        if (b) w.bufs.push(b);
      } else if (choice < 0.8) {
        const fd = chance(0.8)
          ? memfd(pick([0, 4096, 8192]), chance(0.8))
          : pick([-1, 9999, w.bufs[0]?.closed ? 0 : w.bufs[0]?.fd]);
        const range = pick<unknown>([
          { memfd: fd, offset: 0, size: 4096 },
          {
            memfd: fd,
            offset: pick([0, 1, 4096, -4096, NaN]),
            size: pick([4096, 8192, 0, 2 ** 40, NaN]),
          },
          { memfd: fd },
          null,
          5,
        ]);
        const b = call("Udmabuf.create", () => u.create(range as any));
        if (b) w.bufs.push(b);
      } else {
        const fd = memfd(8192, chance(0.9));
        const list = pick<unknown>([
          [{ memfd: fd, offset: 0, size: 4096 }, { memfd: fd, offset: 4096, size: 4096 }],
          [],
          [{ memfd: fd, offset: 0, size: 4096 }, null],
          null,
          "x",
          new Array(1025).fill({ memfd: fd, offset: 0, size: 4096 }),
        ]);
        const b = call("Udmabuf.createList", () => u.createList(list as any));
        if (b) w.bufs.push(b);
      }
      if (chance(0.5)) call("Udmabuf.close", () => u.close());
    }],
    [2, "allocator", () => {
      const a = call(
        "openAllocator",
        () =>
          openAllocator(
            pick<any>([
              {},
              { role: "contiguous" },
              { role: "contiguous", fallback: false },
              { role: "bogus" },
              null,
              undefined,
            ]),
          ),
      );
      if (!a) return;
      w.allocators.push(a);
      const b = call(
        "Allocator.allocate",
        () => a.allocate(pick(GOOD_SIZES), pick([{}, { name: "fz" }])),
      );
      if (b) w.bufs.push(b);
    }],
    [10, "map", () => {
      const b = buf();
      if (!b) return;
      const opts = chance(0.6)
        ? pick<unknown>([{}, undefined, { access: "read" }, { access: "write" }, {
          offset: 0,
          length: 4096,
        }])
        : pick<unknown>([
          null,
          5,
          { access: pick(ACCESS) },
          { offset: pick([4096, 1, -4096, NaN, 2 ** 53, 2 ** 40]) },
          { length: pick([0, 1, 4097, -1, NaN, 2 ** 40, 2 ** 53]) },
          { offset: 4096, length: 4096 },
        ]);
      const m = call("DmaBuf.map", () => b.map(opts as any));
      if (m) w.maps.push({ m, buf: b });
    }],
    [4, "unmap", () => {
      const e = mapping();
      if (e) call("DmaBufMapping.unmap", () => chance(0.5) ? e.m.unmap() : e.m[Symbol.dispose]());
    }],
    [10, "access", async () => {
      const e = mapping();
      if (!e) return;
      const kind = pick(["read", "write", "readWrite"] as const);
      const how = r();
      const fn = (b: Uint8Array) => {
        view(e, b);
        if (kind !== "read" && b.length) b[Math.floor(r() * b.length)] = 0x5a;
        if (how < 0.1) throw new CallbackError("callback failed");
        return b.length ? b[0] : -1;
      };
      if (how < 0.8) {
        call(`DmaBufMapping.${kind}`, () => e.m[kind](fn));
      } else {
        await acall(`DmaBufMapping.${kind}(async)`, async () => {
          await e.m[kind](async (b) => {
            await new Promise((res) => setTimeout(res, 0));
            if (chance(0.2)) call("DmaBuf.close(inside callback)", () => e.buf.close());
            return fn(b);
          });
        });
      }
    }],
    [6, "bytes", () => {
      const e = mapping();
      if (!e) return;
      const v = call("DmaBufMapping.bytes", () => e.m.bytes);
      if (!v) return;
      view(e, v);
      js("view store/load", () => {
        if (v.length) v[Math.floor(r() * v.length)] ^= 1;
        return v[0];
      });
    }],
    [4, "transfer", () => {
      // Item 1 of issue 11: a mapping's ArrayBuffer moved away, then the mapping unmapped.
      const e = mapping();
      if (!e) return;
      const v = call("DmaBufMapping.bytes", () => e.m.bytes);
      if (!v) return;
      const ab = js("ArrayBuffer.transfer", () => (v.buffer as ArrayBuffer).transfer());
      if (ab) w.moved.push(ab);
      if (chance(0.6)) call("DmaBufMapping.unmap", () => e.m.unmap());
      if (chance(0.3)) call("DmaBuf.close", () => e.buf.close());
      if (chance(0.5)) call("DmaBufMapping.bytes", () => e.m.bytes);
    }],
    [3, "moved", () => {
      if (!w.moved.length) return;
      const ab = pick(w.moved);
      js("moved ArrayBuffer load/store", () => {
        const u = new Uint8Array(ab);
        if (u.length) {
          u[Math.floor(r() * u.length)] = 1;
          return u[0];
        }
      });
    }],
    [4, "cpuAccess", () => {
      const b = buf();
      if (!b) return;
      const a = chance(0.8) ? pick(["read", "write", "readwrite"]) : pick(ACCESS);
      if (chance(0.5)) call("DmaBuf.beginCpuAccess", () => b.beginCpuAccess(a as any));
      call("DmaBuf.endCpuAccess", () => b.endCpuAccess(a as any));
    }],
    [4, "dup", () => {
      const b = buf();
      const d = b && call("DmaBuf.dup", () => b.dup());
      if (d) w.bufs.push(d);
    }],
    [5, "from", () => {
      const b = openBuf();
      if (!b) return;
      const mode = r();
      if (mode < 0.35) {
        // Item 2: a borrowed fd closed by its owner, its number reused by a memfd.
        const v = call("DmaBuf.from(owned: false)", () => DmaBuf.from(b.fd, { owned: false }));
        if (!v) return;
        w.bufs.push(v);
        if (chance(0.6)) {
          call("DmaBuf.close(owner)", () => b.close());
          if (chance(0.7)) memfd(pick([0, 4096]), false);
          const m = call("DmaBuf.map(borrowed)", () => v.map());
          if (m) {
            w.maps.push({ m, buf: v });
            call("DmaBufMapping.read(borrowed)", () => m.read((x) => view({ m, buf: v }, x)[0]));
          }
          call("DmaBuf.info(borrowed)", () => v.info());
          call("DmaBuf.beginCpuAccess(borrowed)", () => v.beginCpuAccess("read"));
        }
      } else if (mode < 0.6) {
        const fd = call("Kernel.fcntl(F_DUPFD_CLOEXEC)", () => k.fcntl(b.fd, F_DUPFD_CLOEXEC, 0));
        if (fd === undefined) return;
        const v = call("DmaBuf.from(owned)", () => DmaBuf.from(fd));
        if (v) w.bufs.push(v);
        else w.raw.push(fd);
      } else if (mode < 0.8) {
        const fd = call("DmaBuf.intoFd", () => b.intoFd());
        if (fd === undefined) return;
        const v = call("DmaBuf.from(intoFd)", () => DmaBuf.from(fd));
        if (v) w.bufs.push(v);
        else w.raw.push(fd);
      } else {
        const fd = chance(0.5)
          ? memfd(4096, false)
          : pick<unknown>([-1, 2 ** 31, NaN, "3", null, 99999, 1.5]);
        const v = call(
          "DmaBuf.from(bad)",
          () =>
            DmaBuf.from(fd as number, pick<any>([{}, { owned: false }, null, { kernel: null }])),
        );
        if (v) w.bufs.push(v);
      }
    }],
    [4, "setName", () => {
      const b = buf();
      if (b) call("DmaBuf.setName", () => b.setName(pick(NAMES) as string));
    }],
    [5, "info", () => {
      const b = buf();
      if (!b) return;
      const which = pick(["info", "size", "name", "exporter", "fd", "closed", "kernel"] as const);
      call(`DmaBuf.${which}`, () => which === "info" ? b.info() : b[which]);
    }],
    [5, "wait", async () => {
      const b = buf();
      if (!b) return;
      const c = controller();
      const opts = chance(0.5)
        ? { timeout: pick(TIMEOUTS), signal: c.signal }
        : chance(0.8)
        ? { signal: c.signal }
        : pick<any>([{ timeout: NaN, signal: c.signal }, { timeout: -1, signal: c.signal }, {
          timeout: "5",
          signal: c.signal,
        }, null]);
      const p = acall("DmaBuf.wait", () => {
        const q = b.wait(pick(FENCE_ACCESS) as any, opts);
        c.arm();
        if (chance(0.15)) call("DmaBuf.close(while waiting)", () => b.close());
        return q;
      });
      await p;
      // A wait with neither a signal nor a timeout only when nothing can be pending.
    }],
    [5, "fences", async () => {
      const b = buf();
      if (!b) return;
      const s = call("DmaBuf.exportSyncFile", () => b.exportSyncFile(pick(FENCE_ACCESS) as any));
      if (s) w.syncFiles.push(s);
      const target = buf();
      const f = w.syncFiles.length ? pick(w.syncFiles) : undefined;
      if (target) {
        call(
          "DmaBuf.importSyncFile",
          () =>
            target.importSyncFile(
              (chance(0.9) ? f : pick([null, {}, 5])) as any,
              pick(FENCE_ACCESS) as any,
            ),
        );
      }
      if (f) {
        call("SyncFile.poll", () => f.poll());
        const c = controller();
        await acall("SyncFile.wait", () => {
          const q = f.wait({ timeout: pick(TIMEOUTS), signal: c.signal });
          c.arm();
          return q;
        });
        if (chance(0.3)) call("SyncFile.close", () => f.close());
        const borrowed = call(
          "SyncFile.from(borrowed)",
          () => SyncFile.from(f.fd, { owned: false }),
        );
        if (borrowed) w.syncFiles.push(borrowed);
      }
      if (chance(0.2)) {
        call(
          "SyncFile.from(bad)",
          () => SyncFile.from(pick<any>([-1, NaN, null, 99999, b.closed ? 0 : b.fd])),
        );
      }
    }],
    [4, "share", async () => {
      const p = pair();
      if (!p) return;
      const [a, bEnd] = chance(0.5) ? p : [p[1], p[0]];
      const what = r();
      if (what < 0.4) {
        const b = buf();
        if (b) call("sendDmaBuf", () => sendDmaBuf(a, b));
      } else if (what < 0.6) {
        const fds = pick<number[]>([[], [w.raw[0] ?? -1], [9999], [-1], w.raw.slice(0, 3)]);
        call(
          "UnixSocket.send",
          () =>
            a.send(
              pick([new Uint8Array(16), new Uint8Array(1), new Uint8Array(0), null as any]),
              fds,
            ),
        );
      } else if (what < 0.7) {
        call("UnixSocket.close", () => a.close());
      } else if (what < 0.75) {
        call("receiveDmaBuf(bad)", () => receiveDmaBuf(pick<any>([null, undefined, {}, 5])));
      }
      const readable = await acall("UnixSocket.readable", () => bEnd.readable(pick([0, 5])));
      if (!readable) return;
      if (chance(0.7)) {
        const got = call("receiveDmaBuf", () => receiveDmaBuf(bEnd));
        if (got) w.bufs.push(got);
      } else {
        const got = call(
          "UnixSocket.receive",
          () =>
            bEnd.receive(
              pick<any>([{}, { maxBytes: 16, maxFds: 2 }, { maxBytes: -1 }, { maxFds: 0 }, null]),
            ),
        );
        if (got) w.raw.push(...got.fds);
      }
    }],
    [2, "listen", async () => {
      const name = `\0dmabuf-fuzz-${k.getpid()}-${seed}-${w.listeners.length}`;
      const l = call(
        "UnixListener.listen",
        () =>
          UnixListener.listen(chance(0.9) ? name : pick<any>(["", "x".repeat(200), null]), {
            type: pick<any>(["seqpacket", "stream", "bogus"]),
          }),
      );
      if (l) w.listeners.push({ l, name });
      const target = w.listeners.length ? pick(w.listeners) : undefined;
      const c = call(
        "UnixSocket.connect",
        () =>
          UnixSocket.connect(target && chance(0.8) ? target.name : "\0dmabuf-fuzz-nobody", {
            type: target?.l.closed ? "stream" : target?.l.type,
          }),
      );
      if (c) w.sockets.push(c);
      if (target) {
        const s = await acall("UnixListener.acceptAsync", () => target.l.acceptAsync(pick([0, 5])));
        if (s) w.sockets.push(s);
        if (chance(0.3)) call("UnixListener.close", () => target.l.close());
      }
    }],
    [2, "take", () => {
      const b = buf();
      const fd = b && !b.closed && chance(0.8) ? b.fd : pick([-1, 9999, 0, NaN]);
      const pid = chance(0.8) ? k.getpid() : pick([0, -1, 2 ** 22 + 7, NaN]);
      const got = call("takeDmaBuf", () => takeDmaBuf(pid, fd));
      if (got) w.bufs.push(got);
    }],
    [2, "worker", () => {
      const b = buf();
      if (!b) return;
      const h = call("toWorkerHandle", () => toWorkerHandle(b));
      const got = call(
        "fromWorkerHandle",
        () =>
          fromWorkerHandle(
            chance(0.8)
              ? h!
              : pick<any>([null, {}, { kind: "dmabuf-fd", fd: -1, pid: 1, size: 1 }]),
          ),
      );
      if (got) w.bufs.push(got);
      else if (h) w.raw.push(h.fd);
    }],
    [4, "stage", async () => {
      const s = stage();
      if (!s) return;
      const what = r();
      if (what < 0.4) {
        const b = buf();
        if (b) {
          call(
            "Stage.queue",
            () => s.queue(b, chance(0.9) ? Math.floor(r() * 100) : pick<any>([-1, NaN, 2 ** 53])),
          );
        }
      } else if (what < 0.6) {
        call("Stage.dequeue", () => s.dequeue());
      } else if (what < 0.7) {
        call("Stage.poll", () => s.poll());
      } else if (what < 0.9) {
        const c = controller();
        await acall("Stage.wait", () => {
          const q = s.wait(pick<any>(["readable", "writable", "bogus"]), {
            timeout: pick(TIMEOUTS),
            signal: c.signal,
          });
          c.arm();
          return q;
        });
      } else {
        call("Stage.close", () => s.close());
      }
      if (chance(0.05)) {
        call("openStage(bad)", () =>
          openStage(
            pick<any>(["/dev/nonexistent", "/dev/null", "", null]),
            pick<any>([{}, { op: "bogus" }, null]),
          ));
      }
    }],
    [4, "pipeline", async () => {
      const p = pool();
      if (!p) return;
      const n = 1 + Math.floor(r() * 3);
      const stages: Stage[] = [];
      for (let i = 0; i < n; i++) {
        const s = stage();
        if (s) stages.push(s);
      }
      if (chance(0.1) && stages.length) stages.push(stages[0]); // item 5: a repeated stage
      const pl = call(
        "new Pipeline",
        () =>
          new Pipeline(
            chance(0.95) ? stages : pick<any>([[], null, [null]]),
            chance(0.95) ? p : null as any,
          ),
      );
      if (!pl) return;
      const c = controller();
      await acall("Pipeline.run", () => {
        const q = pl.run({
          frames: chance(0.9) ? Math.floor(r() * 5) : pick<any>([-1, NaN, 2 ** 53, "3"]),
          signal: chance(0.8) ? c.signal : undefined,
          produce: (b) =>
            b.mapping.write((x) => void view({ m: b.mapping, buf: b.buffer }, x).fill(1)),
          consume: chance(0.1)
            ? () => {
              throw new CallbackError("consume failed");
            }
            : undefined,
        });
        c.arm();
        if (chance(0.05)) call("BufferPool.close(while running)", () => p.close());
        return q;
      });
    }],
    [3, "pool", async () => {
      const p = pool();
      if (!p) return;
      const what = r();
      if (what < 0.4) {
        const b = call("BufferPool.tryAcquire", () => p.tryAcquire());
        if (b && chance(0.7)) call("BufferPool.recycle", () => p.recycle(b));
        else if (b) w.held.push({ pool: p, b });
      } else if (what < 0.7) {
        const c = controller();
        // An empty pool, a buffer the sequence keeps and a signal that never aborts: nothing would
        // ever end that wait — the caller's own deadlock (seed 11, sequence 259), not a hang of
        // the library. Give a kept buffer back a little later (the waiter must wake), or abort.
        if (!c.willAbort && !p.closed && p.available === 0) {
          const i = w.held.findIndex((e) => e.pool === p);
          if (i >= 0) {
            const [{ b }] = w.held.splice(i, 1);
            setTimeout(() => {
              try {
                p.recycle(b);
              } catch { /* the pool was closed meanwhile */ }
            }, 5);
          } else c.abortLater();
        }
        await acall("BufferPool.acquire", () => {
          const q = p.acquire(c.signal);
          c.arm();
          return q.then((b) => p.recycle(b));
        });
      } else if (what < 0.8) {
        call("BufferPool.recycle(bad)", () => p.recycle(pick<any>([null, {}, p.buffers[0]])));
      } else {
        call("BufferPool.close", () => p.close());
      }
      if (chance(0.05)) {
        const h = heap();
        if (h) {
          const bad = call(
            "createBufferPool(bad)",
            () =>
              createBufferPool(
                h,
                pick<any>([
                  { count: 0, size: 4096 },
                  { count: 2, size: -1 },
                  { count: NaN, size: 4096 },
                  null,
                  { count: 1, size: 2 ** 53 },
                ]),
              ),
          );
          if (bad) w.pools.push(bad);
        }
      }
    }],
    [1, "setKernel", () => {
      const v = pick<unknown>(["bogus", 5, {}, "Linux", undefined]);
      call("setKernel(bad)", () => setKernel(v as any));
      call("openHeap(after setKernel)", () => openHeap("system").close());
      setKernel(k);
    }],
    [6, "close", () => {
      const what = r();
      if (what < 0.6) {
        const b = buf();
        if (b) call("DmaBuf.close", () => chance(0.5) ? b.close() : b[Symbol.dispose]());
        if (b && chance(0.3)) call("DmaBuf.map(after close)", () => b.map());
      } else if (what < 0.8 && w.syncFiles.length) {
        const s = pick(w.syncFiles);
        call("SyncFile.close", () => s.close());
      } else if (w.sockets.length) {
        const s = pick(w.sockets);
        call("UnixSocket.close", () => s.close());
      }
    }],
    [3, "drop", () => {
      // Let the GC backstop release a buffer (and its mappings) that is never closed.
      const open = w.bufs.filter((b) => !b.closed);
      if (!open.length) return;
      const b = pick(open);
      w.bufs = w.bufs.filter((x) => x !== b);
      w.maps = w.maps.filter((e) => e.buf !== b);
      w.views = w.views.filter((e) => e.buf !== b);
      w.dropped++;
    }],
    [1, "syscalls", () => {
      // The syscall layer of the simulated kernel with hostile arguments, on a private machine.
      trace("syscallStorm");
      const { calls, bad } = syscallStorm(Math.floor(r() * 2 ** 31), 40);
      for (let i = 0; i < calls; i++) {
        const e = bad.get(i);
        record(
          "SimProcess syscall",
          e === undefined ? "ok" : e === null ? "typed" : "untyped",
          e ?? undefined,
        );
      }
    }],
  ];
  const total = ops.reduce((s, o) => s + o[0], 0);

  try {
    while (result.calls < options.calls) {
      let x = r() * total;
      const op = ops.find((o) => (x -= o[0]) < 0) ?? ops[0];
      const t = performance.now();
      await op[2]();
      PROFILE.set(op[1], (PROFILE.get(op[1]) ?? 0) + performance.now() - t);
    }
  } catch (e) {
    if (!(e instanceof Hang)) throw e;
    return result; // state is poisoned: the child stops after a hang
  }

  // Cleanup through the public API, then the invariants.
  const tInvariants = performance.now();
  const views = w.views.map((e) => e.view);
  await cleanup(w, call);
  w.bufs = [];
  w.maps = [];
  w.views = [];
  w.moved = [];
  views.forEach((v, i) => {
    if (v.byteLength !== 0) {
      result.invariants.push(`view ${i} of a closed buffer still has length ${v.byteLength}`);
    }
  });
  await collect();
  const after = snapshot(k);
  const leakedFds = after.fds.filter((fd) => !before.fds.includes(fd));
  if (leakedFds.length) {
    result.invariants.push(
      `fds left open: ${leakedFds.map((fd) => `${fd} → ${link(k, fd)}`).join(", ")}` +
        ` (dropped without close: ${w.dropped}, errors kept: ${w.kept.length})`,
    );
  }
  const leakedMaps = after.maps.filter((l) => !before.maps.includes(l));
  if (leakedMaps.length) {
    result.invariants.push(`mappings left: ${leakedMaps.slice(0, 4).join(" | ")}`);
  }
  if (k.kind === "simulated") {
    // `end-without-begin` is the simulated udmabuf's diagnostic for DMA_BUF_IOCTL_SYNC END
    // without START — misuse the fuzzer commits on purpose (`endCpuAccess` alone), which real
    // Linux answers with a silent EINVAL (`end_cpu_udmabuf`), as the library passes on.
    const warnings = defaultSimMachine().warnings.slice(warningsBefore)
      .filter((x) => x.kind !== "end-without-begin");
    if (warnings.length) {
      result.invariants.push(
        `kernel warnings: ${warnings.slice(0, 3).map((x) => JSON.stringify(x)).join("; ")}`,
      );
    }
  }
  w.kept.length = 0;
  PROFILE.set(
    "(invariants)",
    (PROFILE.get("(invariants)") ?? 0) + performance.now() - tInvariants,
  );
  return result;
}

async function cleanup(w: World, call: <T>(name: string, fn: () => T) => T | undefined) {
  for (const p of w.pools) call("cleanup BufferPool.close", () => p.close());
  for (const s of w.stages) call("cleanup Stage.close", () => s.close());
  for (const e of w.maps) call("cleanup DmaBufMapping.unmap", () => e.m.unmap());
  for (const b of w.bufs) call("cleanup DmaBuf.close", () => b.close());
  for (const s of w.syncFiles) call("cleanup SyncFile.close", () => s.close());
  for (const [a, b] of w.pairs) {
    call("cleanup UnixSocket.close", () => a.close());
    call("cleanup UnixSocket.close", () => b.close());
  }
  for (const s of w.sockets) call("cleanup UnixSocket.close", () => s.close());
  for (const { l } of w.listeners) call("cleanup UnixListener.close", () => l.close());
  for (const a of w.allocators) call("cleanup close", () => a.close());
  for (const h of w.heaps) call("cleanup DmaHeap.close", () => h.close());
  for (const fd of w.raw) {
    try {
      w.k.close(fd);
    } catch {
      // A raw fd may have been handed on (from(), intoFd()) and closed by its new owner.
    }
  }
  // Let pending timers (aborts scheduled by the ops) fire before the GC rounds.
  await new Promise((res) => setTimeout(res, 20));
}

/** GC rounds with turns of the event loop between them, so FinalizationRegistry callbacks run. */
export async function collect(rounds = 4): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < rounds; i++) {
    gc?.();
    await new Promise((res) => setTimeout(res, 0));
  }
}

function link(k: Kernel, fd: string): string {
  try {
    return k.readLink(`/proc/self/fd/${fd}`);
  } catch {
    return "?";
  }
}

/** The process's fds and its dma-buf and memfd mappings, read through the kernel seam. */
export function snapshot(k: Kernel): { fds: string[]; maps: string[] } {
  const fds = k.readDir("/proc/self/fd");
  const maps = k.readText("/proc/self/maps").split("\n")
    .filter((l) => /dmabuf|memfd:|udmabuf/.test(l));
  return { fds, maps };
}
