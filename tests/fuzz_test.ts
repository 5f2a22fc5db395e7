/**
 * The short run of the public-API fuzzer (`tests/fuzz/`), part of the test command on both
 * kernels: a few hundred random public calls, in child processes that use the kernel this test
 * process was told to use (`DMABUF_KERNEL`, so `linux` in the guests). Any crash, hang, untyped
 * error or invariant failure fails the test, with the seed and call that found it. The long run
 * is `deno task fuzz`.
 */
import assert from "node:assert/strict";
import { fuzz, report } from "./fuzz/run.ts";

const linux = Deno.env.get("DMABUF_KERNEL") === "linux";

for (const seed of [1, 2]) {
  Deno.test(`fuzz: 160 random public calls find no crash, hang, untyped error or leak (seed ${seed})`, async () => {
    const summary = await fuzz({
      seed,
      sequences: 4,
      perSequence: 40,
      perChild: 4,
      hangMs: linux ? 20000 : 5000,
    });
    console.log(report(summary));
    assert.ok(summary.calls >= 100, `only ${summary.calls} calls were made`);
    assert.ok(
      summary.counts.ok > 0 && summary.counts.typed > 0,
      "the run neither succeeded nor misused",
    );
    if (linux) assert.equal(summary.kernel, "linux");
    assert.ok(summary.problems.length === 0, `the fuzzer found problems:\n${report(summary)}`);
  });
}
