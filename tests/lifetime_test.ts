/**
 * The GC backstop: fds and mappings of objects collected without close() are released.
 * Needs `--v8-flags=--expose-gc` (set by `deno task test`); skipped with a note otherwise.
 */
import assert from "node:assert/strict";
import { getKernel } from "../src/kernel/mod.ts";
import { leakedCount, openHeap } from "../mod.ts";

const gc = (globalThis as { gc?: () => void }).gc;

async function collect(): Promise<void> {
  // FinalizationRegistry callbacks run in a later task after a full collection.
  for (let i = 0; i < 5; i++) {
    gc!();
    await new Promise((r) => setTimeout(r, 10));
  }
}

function leakOne(): number {
  const heap = openHeap("system");
  const buf = heap.allocate(4096);
  buf.map().write((b) => b.fill(1));
  return buf.fd;
}

Deno.test({
  name: "FinalizationRegistry closes fds and unmaps mappings of collected objects",
  ignore: gc === undefined,
  async fn() {
    const k = getKernel();
    const before = new Set(k.readDir("/proc/self/fd"));
    const leaks = leakedCount();
    const fd = leakOne();
    assert.ok(k.readDir("/proc/self/fd").includes(String(fd)));
    await collect();
    assert.deepEqual(new Set(k.readDir("/proc/self/fd")), before);
    assert.ok(leakedCount() >= leaks + 3, "heap, buffer and mapping were released");
  },
});

Deno.test({
  name: "a live view keeps its mapping and buffer alive through collection",
  ignore: gc === undefined,
  async fn() {
    const view = (() => {
      const heap = openHeap("system");
      const buf = heap.allocate(4096);
      heap.close();
      const map = buf.map();
      map.write((b) => b.fill(7));
      return map.bytes;
    })();
    await collect();
    assert.equal(view.length, 4096);
    assert.equal(view[100], 7);
  },
});

if (gc === undefined) console.log("lifetime tests need --v8-flags=--expose-gc");
