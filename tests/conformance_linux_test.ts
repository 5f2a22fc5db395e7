/**
 * The conformance suite against the real kernel, whenever `/dev/dma_heap/system` is usable;
 * otherwise every case is reported as ignored and the reason is printed once.
 */
import { registerConformance } from "./conformance/mod.ts";
import { recordResults } from "./conformance/record.ts";
import { linuxKernel } from "../src/kernel/linux.ts";
import { unusable } from "./_helpers.ts";

const why = unusable(linuxKernel(), "/dev/dma_heap/system");
if (why) {
  console.log(`Real-kernel conformance skipped: ${why}`);
  Deno.test({ name: `[linux] conformance suite (skipped: ${why})`, ignore: true, fn() {} });
} else {
  const results = {};
  registerConformance("linux", linuxKernel, results);
  recordResults("linux", results);
}
