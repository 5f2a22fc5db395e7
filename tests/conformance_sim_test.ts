/**
 * The conformance suite against the simulated kernel: a fresh simulated machine per case, so
 * observations do not depend on what ran before.
 *
 * The machine is the default one, the seed's non-coherent arm64 board, and each case must leave
 * its coherency sanitizer silent: the cases use the library's own paths, which make every
 * `DMA_BUF_IOCTL_SYNC` a non-coherent CPU needs. The real kernels these observations are held
 * against (`compare.ts`) run in qemu guests, x86 or arm64 under TCG, whose caches are coherent:
 * so the suite also runs on a coherent simulated board, and its observations must be the same
 * case by case — the cache model may not change what a correct program observes, else the
 * comparison with a coherent real kernel would hide or invent a divergence.
 */
import assert from "node:assert/strict";
import { registerConformance } from "./conformance/mod.ts";
import { recordResults } from "./conformance/record.ts";
import { compareResults } from "./conformance/compare.ts";
import { createSimMachine, type SimMachine } from "../src/sim/mod.ts";

const machines: SimMachine[] = [];
const results = {};
registerConformance("simulated", () => {
  const m = createSimMachine();
  machines.push(m);
  return m.process();
}, results);
recordResults("simulated", results);

const coherent = {};
registerConformance(
  "simulated, coherent board",
  () => createSimMachine({ coherency: "coherent" }).process(),
  coherent,
);

Deno.test("[simulated] the conformance cases make no coherency report on the non-coherent board, but for the two that probe unbalanced SYNC", () => {
  assert.ok(machines.length > 0 && machines[0].coherency === "non-coherent");
  const reports = machines.flatMap((m) =>
    m.coherencyReports.map((r) => r.text.replace(/^.*\): /, ""))
  );
  // "DMA_BUF_IOCTL_SYNC accepts flags 1,2,3,5,6,7 only" sends the flags in numeric order, and
  // "DmaBuf.endCpuAccess() without a START succeeds on a heap buffer" does what it says: both
  // observe that the kernel accepts an unbalanced SYNC, which the sanitizer rightly flags.
  assert.deepEqual(reports.sort(), [
    "SYNC END(READ) after SYNC START(RW)",
    "SYNC END(RW) without SYNC START",
    "SYNC END(WRITE) without SYNC START",
    "SYNC END(WRITE) without SYNC START",
  ]);
});

Deno.test("[simulated] the non-coherent and the coherent board observe the same, case by case", () => {
  const r = compareResults(results, coherent, ["non-coherent", "coherent"]);
  assert.deepEqual(r.divergences, []);
  assert.ok(r.compared > 0);
});
