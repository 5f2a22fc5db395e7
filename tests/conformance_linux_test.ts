/**
 * The conformance suite against the real kernel, whenever `/dev/dma_heap/system` is usable;
 * otherwise every case is reported as ignored and the reason is printed once.
 */
import { registerConformance } from "./conformance/mod.ts";
import { recordResults } from "./conformance/record.ts";
import { linuxKernel } from "../src/kernel/linux.ts";
import { O_CLOEXEC, O_RDONLY } from "../src/uapi/constants.ts";

function usable(): string | undefined {
  if (Deno.build.os !== "linux") return `not Linux (${Deno.build.os})`;
  try {
    const k = linuxKernel();
    k.close(k.open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC));
    return undefined;
  } catch (e) {
    return `/dev/dma_heap/system is not usable: ${(e as Error).message}`;
  }
}

const why = usable();
if (why) {
  console.log(`Real-kernel conformance skipped: ${why}`);
  Deno.test({ name: `[linux] conformance suite (skipped: ${why})`, ignore: true, fn() {} });
} else {
  const results = {};
  registerConformance("linux", linuxKernel, results);
  recordResults("linux", results);
}
