/**
 * LinuxKernel.pollAsync on this host's kernel (memfds only, so it runs on any Linux with
 * `--allow-ffi`): readiness, timeout, abort, bad fds — the path `DmaBuf.wait`, `SyncFile.wait`
 * and the pipeline take on a real kernel.
 */
import assert from "node:assert/strict";
import { POLLIN, POLLNVAL, POLLOUT } from "../src/uapi/constants.ts";

const ffi = Deno.build.os === "linux" &&
  (await Deno.permissions.query({ name: "ffi" })).state === "granted";

async function kernel() {
  const { linuxKernel } = await import("../src/kernel/linux.ts");
  return linuxKernel();
}

Deno.test({
  name: "LinuxKernel.pollAsync() resolves with revents of a ready fd, POLLNVAL for a closed one",
  ignore: !ffi,
  async fn() {
    const k = await kernel();
    const fd = k.memfdCreate("poll_async", 0);
    try {
      assert.deepEqual(await k.pollAsync([{ fd, events: POLLIN | POLLOUT }], -1), [
        POLLIN | POLLOUT,
      ]);
      assert.deepEqual(
        await k.pollAsync([{ fd: -1, events: POLLIN }, { fd, events: POLLOUT }], 0),
        [
          0,
          POLLOUT,
        ],
      );
    } finally {
      k.close(fd);
    }
    assert.deepEqual(await k.pollAsync([{ fd, events: POLLIN }], 1000), [POLLNVAL]);
  },
});

Deno.test({
  name: "LinuxKernel.pollAsync() times out with zeros and rejects promptly on abort",
  ignore: !ffi,
  async fn() {
    const k = await kernel();
    // fd -1 is ignored by poll(2): nothing can become ready.
    let t0 = performance.now();
    assert.deepEqual(await k.pollAsync([{ fd: -1, events: POLLIN }], 60), [0]);
    assert.ok(performance.now() - t0 >= 55);
    t0 = performance.now();
    await assert.rejects(k.pollAsync([{ fd: -1, events: POLLIN }], -1, AbortSignal.timeout(80)), {
      name: "TimeoutError",
    });
    // The poll had no timeout (-1): that it ended at all is the abort's doing. No upper bound
    // on the time: speed is for benchmarks, and guests under TCG are slow.
    const took = performance.now() - t0;
    assert.ok(took >= 75, `the abort fired early, after ${took} ms`);
    await assert.rejects(k.pollAsync([], 0, AbortSignal.abort()), { name: "AbortError" });
    await assert.rejects(k.pollAsync([{ fd: -1, events: POLLIN }], 0.5), { code: "EINVAL" });
    // Let the last background slice finish before the test ends (its result is dropped).
    await new Promise((r) => setTimeout(r, 60));
  },
});

Deno.test({
  name: "LinuxKernel.pollAsync() reuses a pollfd array only once its poll returned",
  ignore: !ffi,
  async fn() {
    const k = await kernel();
    const fd = k.memfdCreate("poll_async_reuse", 0);
    try {
      for (let round = 0; round < 3; round++) {
        // Concurrent waits: each keeps its own array while its thread polls (a shared one would
        // hand the never-ready wait the memfd and end it early with POLLOUT).
        const never = k.pollAsync([{ fd: -1, events: POLLIN }], 60);
        const ready = k.pollAsync([{ fd, events: POLLOUT }], -1);
        assert.deepEqual(await ready, [POLLOUT]);
        assert.deepEqual(await never, [0]);
      }
      // An aborted wait's array stays reserved while its slice runs on: the waits after it,
      // with other fds, get their own results.
      await assert.rejects(
        k.pollAsync([{ fd: -1, events: POLLIN }], -1, AbortSignal.timeout(10)),
        { name: "TimeoutError" },
      );
      for (let i = 0; i < 5; i++) {
        assert.deepEqual(
          await k.pollAsync([{ fd: -1, events: POLLIN }, { fd, events: POLLIN }], 0),
          [
            0,
            POLLIN,
          ],
        );
      }
      // More fds than the pool's arrays hold: an array of their own.
      const many = Array.from(
        { length: 12 },
        (_, i) => ({ fd: i === 11 ? fd : -1, events: POLLIN }),
      );
      assert.deepEqual(await k.pollAsync(many, 0), [...Array(11).fill(0), POLLIN]);
      await new Promise((r) => setTimeout(r, 60)); // the aborted slice ends
    } finally {
      k.close(fd);
    }
  },
});
