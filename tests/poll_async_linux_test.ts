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
