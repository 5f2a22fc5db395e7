/**
 * Chains stages into a pipeline: buffers from a {@linkcode BufferPool} go
 * through every stage in order — queued on one, taken back when done, queued on the next — and
 * return to the pool. Readiness comes from one `pollAsync` over the stages' fds, so the thread
 * is free while the drivers work, and an `AbortSignal` stops the run.
 *
 * @module
 */
import type { Kernel, PollRequest } from "../kernel/types.ts";
import { argumentError, describe, errnoError, instanceArg, intArg, optionsArg } from "../errors.ts";
import { Errno, errnoName } from "../uapi/errno.ts";
import { POLLERR, POLLIN, POLLNVAL, POLLOUT } from "../uapi/constants.ts";
import { type PipelineStage, type PipelineStageResult, Stage, type StageResult } from "./stage.ts";
import { BufferPool, type PooledBuffer } from "./pool.ts";
import {
  claimStages,
  giveBack,
  leave,
  leftoverCount,
  nextCookie,
  releaseStages,
  takeLeftovers,
} from "./_ledger.ts";

/** A buffer that went through every stage. */
export interface PipelineFrame<R extends PipelineStageResult = StageResult> {
  /** Frame number, 0 … frames − 1, in the order they were produced. */
  readonly frame: number;
  /** The pool buffer carrying it (given back to the pool after `consume`). */
  readonly buffer: PooledBuffer;
  /** What each stage reported, in stage order (its DMA address, checksum). */
  readonly results: readonly R[];
  /** Milliseconds from queueing on the first stage to dequeueing from the last. */
  readonly latencyMs: number;
}

/** Options for {@linkcode Pipeline.run}. */
export interface PipelineRunOptions<R extends PipelineStageResult = StageResult> {
  /** How many frames to push through. */
  frames: number;
  /**
   * Stops the run: in-flight buffers are drained back into the pool for at most
   * {@linkcode DRAIN_GRACE_MS}, then `run` rejects; what a stage still holds then returns to
   * the pool when the stage gives it back or is closed.
   */
  signal?: AbortSignal;
  /** Fills a buffer before it enters the first stage (use its mapping's `write`); awaited. */
  produce?(buffer: PooledBuffer, frame: number): unknown;
  /** Sees each finished frame, in completion order, before its buffer returns to the pool. */
  consume?(frame: PipelineFrame<R>): unknown;
}

/** What a run measured. */
export interface PipelineStats {
  /** Frames that went through every stage. */
  readonly frames: number;
  /** Wall time of the run in ms. */
  readonly elapsedMs: number;
  /** Frames per second. */
  readonly fps: number;
  /** Per-frame latency (first QUEUE to last DEQUEUE) in ms. */
  readonly latencyMs: { readonly min: number; readonly mean: number; readonly max: number };
}

/**
 * After its signal aborts, how long a run still waits for the stages to give buffers back
 * before it rejects: one poll interval (the Linux kernel's `POLL_SLICE_MS`). A buffer a stage
 * still holds then is not lost: it returns to the pool when the stage gives it back (the pool's
 * next `tryAcquire`/`acquire`, or the next run on that stage, takes it) or at once when the
 * stage is closed.
 */
export const DRAIN_GRACE_MS = 50;

interface Trip<R extends PipelineStageResult> {
  readonly frame: number;
  /** What the stages are given: unique across runs (a stage may still hold an older run's). */
  readonly cookie: number;
  readonly buffer: PooledBuffer;
  readonly results: R[];
  t0: number;
  /** Set for a buffer an earlier run left in the stage: it only goes back to its pool. */
  readonly leftover?: { readonly pool: BufferPool; readonly stage: PipelineStage<R> };
}

/**
 * A chain of stages fed from a buffer pool. The pipeline borrows both: close the stages and the
 * pool yourself (after `run` settles).
 *
 * @example Three stages over four buffers
 * ```ts
 * import { openHeap } from "@dmabuf/dmabuf";
 * import { createBufferPool, openStage, Pipeline } from "@dmabuf/dmabuf/pipeline";
 * import assert from "node:assert/strict";
 *
 * using heap = openHeap("system");
 * using pool = createBufferPool(heap, { count: 4, size: 4096 });
 * using a = openStage("/dev/driverA", { op: "invert" });
 * using b = openStage("/dev/driverB", { op: "increment" });
 * using c = openStage("/dev/driverA", { op: "invert" });
 * const stats = await new Pipeline([a, b, c], pool).run({
 *   frames: 8,
 *   produce: (buf, frame) => buf.mapping.write((bytes) => bytes.fill(frame + 1)),
 *   consume: (f) => assert.equal(f.buffer.mapping.read((bytes) => bytes[0]), f.frame),
 * });
 * assert.equal(stats.frames, 8);
 * assert.equal(pool.available, 4);
 * ```
 */
export class Pipeline<R extends PipelineStageResult = StageResult> {
  /** The stages, in order. */
  readonly stages: readonly PipelineStage<R>[];
  /** The pool buffers come from. */
  readonly pool: BufferPool;
  readonly #kernel: Kernel;

  /**
   * Chains `stages`, fed from `pool`.
   *
   * @param stages At least one stage, all on the same kernel, each at most once.
   * @param pool Where buffers come from and go back to.
   * @throws {TypeError} `EINVAL` without stages, for a stage given twice (a buffer cannot be in
   *   one stage twice at once), for stages on different kernels, or a `pool` that is not a
   *   BufferPool or holds buffers of another kernel than the stages'.
   */
  constructor(stages: readonly PipelineStage<R>[], pool: BufferPool) {
    const where = "new Pipeline";
    if (!Array.isArray(stages) || stages.length === 0) {
      throw argumentError(
        "type",
        where,
        "stages",
        `must be a non-empty array of Stage, got ${describe(stages)}`,
      );
    }
    stages.forEach((stage, i) => {
      if (!isPipelineStage(stage)) {
        throw argumentError(
          "type",
          where,
          `stages[${i}]`,
          `must be a Stage (or another PipelineStage), got ${describe(stage)}`,
        );
      }
      if (stages.indexOf(stage) !== i) {
        throw argumentError(
          "type",
          where,
          `stages[${i}]`,
          `is the same Stage as stages[${
            stages.indexOf(stage)
          }]; open the device again for a second stage`,
        );
      }
      if (stage.kernel !== stages[0].kernel) {
        throw argumentError("type", where, `stages[${i}]`, "is on another kernel than stages[0]");
      }
    });
    instanceArg(where, "pool", pool, BufferPool);
    if (pool.buffers.some((b) => b.buffer.kernel !== stages[0].kernel)) {
      throw argumentError(
        "type",
        where,
        "pool",
        "holds buffers of another kernel than the stages'",
      );
    }
    this.stages = [...stages];
    this.pool = pool;
    this.#kernel = stages[0].kernel;
  }

  /**
   * Pushes `frames` buffers through every stage. Never more than the pool's buffers are in
   * flight (backpressure). When the signal aborts or anything fails, the buffers in the stages
   * are waited for and taken back, every buffer returns to the pool, and the promise rejects.
   * After an abort that wait lasts at most {@linkcode DRAIN_GRACE_MS}; a buffer a stage still
   * holds then goes back to the pool later, when the stage gives it back or is closed (see
   * {@linkcode BufferPool}). A run on a stage that still holds an earlier run's buffers takes
   * them back as they come.
   *
   * @param options Frames, producer, consumer, signal.
   * @returns The measured frames per second and latency.
   * @throws {DOMException} The signal's reason when aborted.
   * @throws {ErrnoError} A stage's failure (`status` of DEQUEUE) or a syscall's; `EBUSY` (before
   *   anything is queued) when one of the stages is in another run that has not settled.
   */
  async run(options: PipelineRunOptions<R>): Promise<PipelineStats> {
    const where = "Pipeline.run";
    if (options === undefined) {
      throw argumentError("type", where, "options", "must be an object with frames, got undefined");
    }
    const { signal, produce, consume } = optionsArg(where, options);
    const frames = intArg(where, "options.frames", options.frames, 0);
    if (signal !== undefined) instanceArg(where, "options.signal", signal, AbortSignal);
    for (const [name, fn] of [["produce", produce], ["consume", consume]] as const) {
      if (fn !== undefined && typeof fn !== "function") {
        throw argumentError(
          "type",
          where,
          `options.${name}`,
          `must be a function, got ${describe(fn)}`,
        );
      }
    }
    signal?.throwIfAborted();
    const stages = this.stages;
    // A run takes back from its stages whatever they give back: a second run on a stage would
    // take the first's buffers and lose them. One run per stage (EBUSY).
    claimStages(stages);
    try {
      return await this.#run(frames, signal, produce, consume);
    } finally {
      releaseStages(stages);
    }
  }

  async #run(
    frames: number,
    signal: AbortSignal | undefined,
    produce: PipelineRunOptions<R>["produce"],
    consume: PipelineRunOptions<R>["consume"],
  ): Promise<PipelineStats> {
    const stages = this.stages, n = stages.length;
    const pending: Trip<R>[][] = stages.map(() => []); // ready for stage i, not yet queued
    const inStage: Map<number, Trip<R>>[] = stages.map(() => new Map());
    // Buffers earlier runs left in these stages: taken back (to their pools) as they come.
    stages.forEach((stage, i) => {
      for (const left of takeLeftovers(stage)) {
        inStage[i].set(left.cookie, {
          frame: -1,
          cookie: left.cookie,
          buffer: left.buffer,
          results: [],
          t0: 0,
          leftover: { pool: left.pool, stage },
        });
      }
    });
    const latencies: number[] = [];
    let next = 0, completed = 0;
    const start = performance.now();
    try {
      while (completed < frames) {
        signal?.throwIfAborted();
        while (next < frames && pending[0].length === 0) {
          const buffer = this.pool.tryAcquire();
          if (!buffer) break;
          const trip: Trip<R> = {
            frame: next++,
            cookie: nextCookie(),
            buffer,
            results: [],
            t0: 0,
          };
          try {
            if (produce) await untilAborted(produce(buffer, trip.frame), signal);
          } catch (e) {
            this.#recycle(trip);
            throw e;
          }
          pending[0].push(trip);
        }
        for (let i = 0; i < n; i++) {
          while (pending[i].length > 0) {
            const trip = pending[i][0];
            if (i === 0) trip.t0 = performance.now();
            if (!stages[i].tryQueue(trip.buffer.buffer, trip.cookie)) break;
            pending[i].shift();
            inStage[i].set(trip.cookie, trip);
          }
        }
        let progressed = false;
        for (let i = 0; i < n; i++) {
          for (let r = stages[i].dequeue(); r !== null; r = stages[i].dequeue()) {
            progressed = true;
            const trip = take(inStage[i], r, stages[i]);
            if (trip.leftover) {
              this.#recycle(trip);
              continue;
            }
            if (r.status < 0) {
              this.#recycle(trip);
              throw errnoError(-r.status, "dequeue", {
                path: stages[i].path,
                detail: `The stage failed on frame ${trip.frame}: ${errnoName(-r.status)}`,
              });
            }
            if (i + 1 < n) {
              pending[i + 1].push(trip);
              continue;
            }
            const latencyMs = performance.now() - trip.t0;
            latencies.push(latencyMs);
            try {
              if (consume) {
                await untilAborted(
                  consume({
                    frame: trip.frame,
                    buffer: trip.buffer,
                    results: trip.results,
                    latencyMs,
                  }),
                  signal,
                );
              }
            } finally {
              this.#recycle(trip);
            }
            completed++;
          }
        }
        if (progressed || completed >= frames) continue;
        // Nothing more enters stage i: let a stage that keeps its last buffer give it back.
        let upstreamEmpty = next >= frames, flushed = false;
        for (let i = 0; i < n; i++) {
          if (upstreamEmpty && pending[i].length === 0 && inStage[i].size > 0) {
            flushed = stages[i].flush?.() === true || flushed;
          }
          upstreamEmpty &&= pending[i].length === 0 && inStage[i].size === 0;
        }
        if (flushed) continue;
        const set: PollRequest[] = [];
        for (let i = 0; i < n; i++) {
          const s = stages[i];
          const events = (inStage[i].size > 0 ? s.doneEvents ?? POLLIN : 0) |
            (pending[i].length > 0 ? s.roomEvents ?? POLLOUT : 0);
          if (events) set.push({ fd: s.fd, events });
        }
        if (set.length === 0) {
          if (leftoverCount(this.pool) > 0) {
            // The pool's buffers are in other stages, left there by an aborted run: wait for
            // one to come back (the pool polls those stages).
            this.pool.recycle(await this.pool.acquire(signal));
            continue;
          }
          throw errnoError(Errno.EINVAL, "Pipeline.run", {
            detail: "Nothing in flight and no buffer free (a pool buffer was not recycled?)",
          });
        }
        const revents = await this.#kernel.pollAsync(set, -1, signal);
        revents.forEach((r, j) => {
          if (r & (POLLERR | POLLNVAL)) {
            throw errnoError(r & POLLNVAL ? Errno.EBADF : Errno.EIO, "poll", {
              detail: `A stage's fd ${set[j].fd} reported 0x${r.toString(16)}`,
            });
          }
        });
      }
    } finally {
      try {
        await this.#drain(pending, inStage, signal);
      } finally {
        // What the stages still hold goes back to its pool when they give it back or close.
        stages.forEach((stage, i) => {
          for (const trip of inStage[i].values()) {
            const left = trip.leftover;
            leave(stage, trip.cookie, left?.pool ?? this.pool, trip.buffer);
          }
        });
      }
    }
    const elapsedMs = performance.now() - start;
    return {
      frames: completed,
      elapsedMs,
      fps: elapsedMs > 0 ? (completed * 1000) / elapsedMs : 0,
      latencyMs: {
        min: latencies.length ? Math.min(...latencies) : 0,
        mean: latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : 0,
        max: latencies.length ? Math.max(...latencies) : 0,
      },
    };
  }

  /**
   * Takes every buffer of this run back from the stages (waiting for them) and returns all to
   * the pool; buffers an earlier run left in the stages are taken back when they come, not
   * waited for. Once `signal` has aborted, the waiting lasts at most {@linkcode DRAIN_GRACE_MS}
   * more, so `run` never outlives its signal by more than that: what the stages still hold then
   * (a device may still be writing it) is left to the ledger by `run`, and returns to the pool
   * when the stage gives it back or is closed.
   */
  async #drain(
    pending: Trip<R>[][],
    inStage: Map<number, Trip<R>>[],
    signal: AbortSignal | undefined,
  ): Promise<void> {
    for (const list of pending) for (const trip of list.splice(0)) this.#recycle(trip);
    const waitFor = (i: number) => [...inStage[i].values()].some((t) => !t.leftover);
    let deadline: number | undefined;
    for (;;) {
      const set: PollRequest[] = [];
      for (let i = 0; i < this.stages.length; i++) {
        if (inStage[i].size === 0) continue;
        if (this.stages[i].closed) {
          // Closed under the run: the driver dropped its references at release.
          for (const trip of inStage[i].values()) this.#recycle(trip);
          inStage[i].clear();
          continue;
        }
        if (!waitFor(i)) continue;
        if (this.stages[i].flush?.()) {
          set.length = 0;
          break;
        }
        set.push({ fd: this.stages[i].fd, events: this.stages[i].doneEvents ?? POLLIN });
      }
      if (set.length === 0 && !inStage.some((_, i) => waitFor(i) && !this.stages[i].closed)) {
        return;
      }
      let timeout = -1;
      if (signal?.aborted) {
        deadline ??= performance.now() + DRAIN_GRACE_MS;
        timeout = Math.ceil(deadline - performance.now());
        if (timeout <= 0) return;
      }
      try {
        if (set.length > 0) {
          await this.#kernel.pollAsync(set, timeout, timeout < 0 ? signal : undefined);
        }
      } catch (e) {
        if (!signal?.aborted) throw e;
        // Aborted while waiting: one more grace period, then give up.
      }
      for (let i = 0; i < this.stages.length; i++) {
        if (this.stages[i].closed) continue;
        for (let r = this.stages[i].dequeue(); r !== null; r = this.stages[i].dequeue()) {
          const trip = inStage[i].get(r.cookie);
          if (!trip) continue;
          inStage[i].delete(r.cookie);
          this.#recycle(trip);
        }
      }
    }
  }

  /** Gives a trip's buffer back to its pool: this run's, or the earlier run's that left it. */
  #recycle(trip: Trip<R>): void {
    const left = trip.leftover;
    if (left) {
      giveBack({ stage: left.stage, cookie: trip.cookie, pool: left.pool, buffer: trip.buffer });
    } else if (!this.pool.closed) {
      this.pool.recycle(trip.buffer);
    }
  }
}

/** What user code returned, awaited — or `signal`'s reason as soon as it aborts. */
function untilAborted<T>(value: T | PromiseLike<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return Promise.resolve(value);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    Promise.resolve(value).then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}

function take<R extends PipelineStageResult>(
  inStage: Map<number, Trip<R>>,
  r: R,
  stage: PipelineStage<R>,
): Trip<R> {
  const trip = inStage.get(r.cookie);
  if (!trip) {
    throw errnoError(Errno.EINVAL, "dequeue", {
      path: stage.path,
      detail: `The stage gave back cookie ${r.cookie}, which it was not given`,
    });
  }
  inStage.delete(r.cookie);
  trip.results.push(r);
  return trip;
}

/** Whether `s` has the shape of a {@linkcode PipelineStage} (a `Stage`, a V4L2 queue stage, …). */
function isPipelineStage(s: unknown): s is PipelineStage<PipelineStageResult> {
  if (s instanceof Stage) return true;
  const p = s as PipelineStage<PipelineStageResult> | null;
  return typeof p === "object" && p !== null && typeof p.fd === "number" &&
    typeof p.tryQueue === "function" && typeof p.dequeue === "function" &&
    typeof p.kernel === "object" && p.kernel !== null;
}
