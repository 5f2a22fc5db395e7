/** Writes conformance observations to `$DMABUF_CONFORMANCE_OUT` once every case has run. */
import type { Observations } from "./harness.ts";

/** Registers a last test that writes `results` as JSON when the env variable is set. */
export function recordResults(results: Record<string, Observations | { skipped: string }>) {
  Deno.test("conformance results are written when DMABUF_CONFORMANCE_OUT is set", () => {
    let out: string | undefined;
    try {
      out = Deno.env.get("DMABUF_CONFORMANCE_OUT");
    } catch {
      out = undefined;
    }
    if (!out) return;
    Deno.writeTextFileSync(out, JSON.stringify(results, null, 1) + "\n");
    console.log(`  wrote ${Object.keys(results).length} cases to ${out}`);
  });
}
