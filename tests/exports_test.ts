/**
 * The package's public surface: every entry of deno.json exports exactly the names on the
 * reviewed list in `fixtures/public_exports.json` (values and types, as `deno doc` sees them).
 * A name added or removed is a change of the promise kept until 2.0: review it, then update the
 * list.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
const reviewed: Record<string, string[]> = JSON.parse(
  await Deno.readTextFile(new URL("fixtures/public_exports.json", import.meta.url)),
);

/** The names `deno doc` lists for one entry file. */
async function exportedNames(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", entry],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const doc = JSON.parse(new TextDecoder().decode(out.stdout));
  const names = new Set<string>();
  for (const mod of Object.values(doc.nodes) as { symbols?: { name: string }[] }[]) {
    for (const s of mod.symbols ?? []) names.add(s.name);
  }
  names.delete("default");
  return [...names].sort();
}

Deno.test("deno.json exports exactly the reviewed entries", () => {
  assert.deepEqual(Object.keys(config.exports).sort(), Object.keys(reviewed).sort());
});

for (const [entry, file] of Object.entries(config.exports as Record<string, string>)) {
  Deno.test(`entry "${entry}" exports only reviewed names`, async () => {
    const names = await exportedNames(file);
    const list = reviewed[entry] ?? [];
    assert.deepEqual(
      {
        added: names.filter((n) => !list.includes(n)),
        removed: list.filter((n) => !names.includes(n)),
      },
      { added: [], removed: [] },
      `${entry} (${file}) changed its exports: review them and update tests/fixtures/public_exports.json`,
    );
  });
}

for (const [entry, file] of Object.entries(config.exports as Record<string, string>)) {
  // deno doc hides `@ignore`d symbols; the module object does not.
  Deno.test(`entry "${entry}" has no runtime export off the reviewed list`, async () => {
    const mod = await import(new URL(file, root).href);
    const list = reviewed[entry] ?? [];
    assert.deepEqual(Object.keys(mod).filter((n) => !list.includes(n)), []);
  });
}

Deno.test("no entry exports an internal name", () => {
  const internal = ["FdResource", "closedError", "errnoError", "backstop", "getKernel"];
  for (const [entry, names] of Object.entries(reviewed)) {
    for (const n of internal) {
      if (n === "getKernel" && entry === "./kernel") continue; // the seam's own entry
      assert.ok(!names.includes(n), `${entry} exports internal ${n}`);
    }
  }
});
