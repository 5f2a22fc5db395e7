import assert from "node:assert/strict";
import { createSimMachine } from "../../src/sim/mod.ts";
import { LogBuf, ratelimit_state } from "../../src/sim/printk.ts";
import { assertErrno } from "./_helpers.ts";
import { O_CLOEXEC, O_DIRECTORY, O_RDONLY, O_RDWR } from "../../src/uapi/constants.ts";
import { SW_SYNC_PATH } from "../../src/uapi/sync_file.ts";

Deno.test("open() walks paths as fs/namei.c: dot-dot at the root, directories, debugfs", () => {
  const k = createSimMachine().process();
  const dir = k.open("/dev/dma_heap/../../dev/./dma_heap/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert.equal(k.readLink(`/proc/self/fd/${dir}`), "/dev/dma_heap");
  k.close(dir);
  k.close(k.open("/../../dev/null", O_RDONLY));
  k.close(k.open("dev/null", O_RDONLY)); // no working directory but "/"
  assertErrno(() => k.open("/dev/dma_heap", O_RDWR), "EISDIR");
  assert.deepEqual(k.readDir("/sys/kernel/debug"), ["dma_buf", "sync"]);
  assert.deepEqual(k.readDir("/sys/kernel/debug/sync"), ["sw_sync"]);
  k.close(k.open(SW_SYNC_PATH, O_RDWR));
});

Deno.test("sw_sync: EACCES below debugfs for non-root, ENOENT without CONFIG_SW_SYNC", () => {
  const m = createSimMachine();
  assertErrno(() => m.process("user", { uid: 1000 }).open(SW_SYNC_PATH, O_RDWR), "EACCES");
  const debian = createSimMachine({ swSync: false }).process();
  assertErrno(() => debian.open(SW_SYNC_PATH, O_RDWR), "ENOENT");
  assert.deepEqual(debian.readDir("/sys/kernel/debug"), ["dma_buf"]);
});

Deno.test("ratelimit_state allows a burst per interval, then reports what it suppressed", async () => {
  const log = new LogBuf();
  const rs = new ratelimit_state(20e6, 2); // 20 ms, 2 per window
  assert.deepEqual([1, 2, 3, 4].map(() => rs.ratelimit(log, "__cma_alloc")), [
    true,
    true,
    false,
    false,
  ]);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(rs.ratelimit(log, "__cma_alloc"), true);
  assert.match(log.dmesg(), /\] __cma_alloc: 2 callbacks suppressed\n$/);
});
