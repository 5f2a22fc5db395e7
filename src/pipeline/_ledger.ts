/**
 * Internal: pool buffers that outlive the run that queued them. A `Pipeline.run` that is aborted
 * waits at most `DRAIN_GRACE_MS` for its stages; a buffer a stage still holds then (a device
 * still writing it, a V4L2 queue waiting for a frame, a job behind a fence) is written down
 * here, by stage and cookie, instead of being lost to its pool. It goes back to its pool when
 * the stage gives it back — taken by the next `tryAcquire`/`acquire` on that pool, or by the
 * next run on that stage — or at once when the stage is closed (the driver drops its references
 * at release). Nothing runs in the background: a process with such buffers can still exit.
 *
 * Also here: which stages a run is using (a stage serves one run at a time: two would take each
 * other's buffers back), and the cookies, unique across runs so that a stage's leftovers are
 * never mistaken for a new run's frames.
 *
 * @module
 */
import type { Kernel, PollRequest } from "../kernel/types.ts";
import { errnoError } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import { POLLERR, POLLHUP, POLLIN, POLLNVAL } from "../uapi/constants.ts";
import type { BufferPool, PooledBuffer } from "./pool.ts";
import type { PipelineStage, PipelineStageResult } from "./stage.ts";

type AnyStage = PipelineStage<PipelineStageResult>;

/** A buffer a stage held when its run settled. */
export interface Leftover {
  readonly stage: AnyStage;
  readonly cookie: number;
  readonly pool: BufferPool;
  readonly buffer: PooledBuffer;
}

const byStage = new WeakMap<AnyStage, Map<number, Leftover>>();
const byPool = new WeakMap<BufferPool, Set<Leftover>>();
/** Stages in a run. */
const inRun = new WeakSet<AnyStage>();
/** Stages that cannot give buffers back (their poll or dequeue failed): only close frees them. */
const failed = new WeakMap<AnyStage, string>();
let lastCookie = 0;

/** A cookie no other buffer of any run has. */
export function nextCookie(): number {
  return ++lastCookie;
}

/**
 * Marks `stages` as used by a run.
 *
 * @throws {Deno.errors.Busy} `EBUSY` when another run is using one of them.
 */
export function claimStages(stages: readonly AnyStage[]): void {
  const busy = stages.findIndex((s) => inRun.has(s));
  if (busy >= 0) {
    throw errnoError(Errno.EBUSY, "Pipeline.run", {
      path: stages[busy].path,
      detail: `stages[${busy}] is in a Pipeline run that has not settled; await it first`,
    });
  }
  for (const s of stages) inRun.add(s);
}

/**
 * Ends a run's claim on `stages`. Pools whose buffers the stages still hold wake their waiting
 * `acquire`s: those stages can be polled for them now.
 */
export function releaseStages(stages: readonly AnyStage[]): void {
  for (const s of stages) inRun.delete(s);
  const pools = new Set<BufferPool>();
  for (const s of stages) for (const left of byStage.get(s)?.values() ?? []) pools.add(left.pool);
  for (const pool of pools) wakers.get(pool)?.();
}

const wakers = new WeakMap<BufferPool, () => void>();

/** Registers what wakes every pending `acquire` of `pool`. */
export function onLeftovers(pool: BufferPool, wakeAll: () => void): void {
  wakers.set(pool, wakeAll);
}

/** Writes down a buffer `stage` still holds as its run settles. */
export function leave(
  stage: AnyStage,
  cookie: number,
  pool: BufferPool,
  buffer: PooledBuffer,
): void {
  if (pool.closed) return; // its buffers are closed; the stage's references die with it
  if (stage.closed) return giveBack({ stage, cookie, pool, buffer });
  const left: Leftover = { stage, cookie, pool, buffer };
  let s = byStage.get(stage);
  if (!s) byStage.set(stage, s = new Map());
  s.set(cookie, left);
  let p = byPool.get(pool);
  if (!p) byPool.set(pool, p = new Set());
  p.add(left);
}

/** Takes the leftovers of `stage` off the ledger (a new run on it takes them back itself). */
export function takeLeftovers(stage: AnyStage): Leftover[] {
  const s = byStage.get(stage);
  if (!s) return [];
  const all = [...s.values()];
  for (const left of all) forget(left);
  return all;
}

/** Returns `left.buffer` to its pool (unless the pool is closed) and forgets it. */
export function giveBack(left: Leftover): void {
  forget(left);
  if (left.pool.closed) return;
  try {
    left.pool.recycle(left.buffer);
  } catch {
    // The caller recycled it by hand already (it was not out any more): nothing to give back.
  }
}

function forget(left: Leftover): void {
  const s = byStage.get(left.stage);
  s?.delete(left.cookie);
  if (s?.size === 0) byStage.delete(left.stage);
  const p = byPool.get(left.pool);
  p?.delete(left);
  if (p?.size === 0) byPool.delete(left.pool);
}

/**
 * `stage` is closing: the driver drops every buffer it holds, so they are the pools' again.
 * Called by the stages' `close()`; never throws.
 */
export function stageClosed(stage: AnyStage): void {
  const s = byStage.get(stage);
  if (s) { for (const left of [...s.values()]) giveBack(left); }
  failed.delete(stage);
}

/** `pool` is closing: its buffers are closed with it, nothing is owed to it any more. */
export function poolClosed(pool: BufferPool): void {
  const p = byPool.get(pool);
  if (p) { for (const left of [...p]) forget(left); }
}

/** How many of `pool`'s buffers stages hold for settled runs. */
export function leftoverCount(pool: BufferPool): number {
  return byPool.get(pool)?.size ?? 0;
}

/**
 * Takes back, without waiting, every buffer of `pool` that a stage (not in a run) has given
 * back or that a closed stage held; other pools' buffers the same stages give back go home too.
 */
export function reclaim(pool: BufferPool): void {
  const p = byPool.get(pool);
  if (!p) return;
  for (const stage of new Set([...p].map((l) => l.stage))) {
    if (inRun.has(stage)) continue; // the run takes them back itself
    if (stage.closed) {
      stageClosed(stage);
      continue;
    }
    if (failed.has(stage)) continue;
    try {
      // A device that keeps its last buffer until another replaces it (vivid's output) gives
      // it back now: nothing more will come.
      stage.flush?.();
      for (let r = stage.dequeue(); r !== null; r = stage.dequeue()) {
        const left = byStage.get(stage)?.get(r.cookie);
        if (left) giveBack(left);
      }
    } catch (e) {
      failed.set(stage, (e as Error).message);
    }
  }
}

/** What to poll for the buffers of `pool` that stages still hold, grouped by kernel. */
export function leftoverPolls(
  pool: BufferPool,
): Map<Kernel, { stage: AnyStage; req: PollRequest }[]> {
  const groups = new Map<Kernel, { stage: AnyStage; req: PollRequest }[]>();
  const p = byPool.get(pool);
  if (!p) return groups;
  for (const stage of new Set([...p].map((l) => l.stage))) {
    if (inRun.has(stage) || stage.closed || failed.has(stage)) continue;
    let g = groups.get(stage.kernel);
    if (!g) groups.set(stage.kernel, g = []);
    g.push({ stage, req: { fd: stage.fd, events: stage.doneEvents ?? POLLIN } });
  }
  return groups;
}

/**
 * Notes the stages whose poll reported an error or a hang-up: they cannot give buffers back
 * (and polling them again would return at once, forever).
 */
export function notePollErrors(polled: { stage: AnyStage }[], revents: readonly number[]): void {
  revents.forEach((r, i) => {
    const { stage } = polled[i];
    if (r & (POLLERR | POLLNVAL | POLLHUP) && !stage.closed) {
      const what = r & POLLNVAL ? "POLLNVAL" : r & POLLERR ? "POLLERR" : "POLLHUP";
      failed.set(stage, `poll reported ${what} on its fd`);
    }
  });
}

/**
 * The error for an `acquire` that could only wait for stages that cannot give buffers back,
 * or `undefined` when something can still end the wait.
 */
export function stuckError(pool: BufferPool): Error | undefined {
  const p = byPool.get(pool);
  if (!p || p.size < pool.count) return undefined; // the caller holds some: they may come back
  const reasons = new Map<string, string>();
  for (const left of p) {
    const why = failed.get(left.stage);
    if (why === undefined || inRun.has(left.stage)) return undefined;
    reasons.set(left.stage.path, why);
  }
  const list = [...reasons].map(([path, why]) => `${path} (${why})`).join(", ");
  return errnoError(Errno.EIO, "BufferPool.acquire", {
    detail: `Every buffer of the pool is held by a stage of an aborted Pipeline.run that cannot ` +
      `give it back: ${list}. Close the stage to return them to the pool`,
  });
}
