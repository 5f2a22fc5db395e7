/**
 * Pins the DRM and vgem ioctl numbers and struct layouts of `src/uapi/drm.ts`: first as literals,
 * then (when gcc and the headers exist) against a C program compiled with the kernel's uapi
 * headers `drm/drm.h`, `drm/drm_mode.h` and `drm/vgem_drm.h`.
 *
 * Where the headers come from, first found: `$DMABUF_DRM_INCLUDE` (a directory holding `drm.h`
 * and `vgem_drm.h`); `/usr/include/drm` (distributions whose linux-libc-dev ships them — Debian's
 * leaves them to libdrm-dev, which has no `vgem_drm.h`); the 6.12 header tree that
 * `tools/kernel/prepare.sh` unpacks (`include/uapi/drm` under the kernel cache).
 */
import assert from "node:assert/strict";
import { _IOC_SIZE, _IOC_TYPE } from "../src/uapi/ioctl.ts";
import * as drm from "../src/uapi/drm.ts";
import { C_PROBE_MACROS, gccProbe, gccSkipReason } from "./_helpers.ts";

const REQUESTS: [string, number, number][] = [
  ["DRM_IOCTL_VERSION", drm.DRM_IOCTL_VERSION, 0xC0406400],
  ["DRM_IOCTL_GEM_CLOSE", drm.DRM_IOCTL_GEM_CLOSE, 0x40086409],
  ["DRM_IOCTL_GET_CAP", drm.DRM_IOCTL_GET_CAP, 0xC010640C],
  ["DRM_IOCTL_PRIME_HANDLE_TO_FD", drm.DRM_IOCTL_PRIME_HANDLE_TO_FD, 0xC00C642D],
  ["DRM_IOCTL_PRIME_FD_TO_HANDLE", drm.DRM_IOCTL_PRIME_FD_TO_HANDLE, 0xC00C642E],
  ["DRM_IOCTL_MODE_CREATE_DUMB", drm.DRM_IOCTL_MODE_CREATE_DUMB, 0xC02064B2],
  ["DRM_IOCTL_MODE_MAP_DUMB", drm.DRM_IOCTL_MODE_MAP_DUMB, 0xC01064B3],
  ["DRM_IOCTL_MODE_DESTROY_DUMB", drm.DRM_IOCTL_MODE_DESTROY_DUMB, 0xC00464B4],
  ["DRM_IOCTL_VGEM_FENCE_ATTACH", drm.DRM_IOCTL_VGEM_FENCE_ATTACH, 0xC0106441],
  ["DRM_IOCTL_VGEM_FENCE_SIGNAL", drm.DRM_IOCTL_VGEM_FENCE_SIGNAL, 0x40086442],
];

for (const [name, actual, expected] of REQUESTS) {
  Deno.test(`${name} is 0x${expected.toString(16).toUpperCase()}`, () => {
    assert.equal(actual, expected);
    assert.equal(_IOC_TYPE(actual), "d".charCodeAt(0));
  });
}

const LAYOUTS: [string, Record<string, number>, Record<string, number>][] = [
  ["drm_version", drm.drm_version, {
    size: 64,
    version_major: 0,
    version_minor: 4,
    version_patchlevel: 8,
    name_len: 16,
    name: 24,
    date_len: 32,
    date: 40,
    desc_len: 48,
    desc: 56,
  }],
  ["drm_get_cap", drm.drm_get_cap, { size: 16, capability: 0, value: 8 }],
  ["drm_gem_close", drm.drm_gem_close, { size: 8, handle: 0, pad: 4 }],
  ["drm_prime_handle", drm.drm_prime_handle, { size: 12, handle: 0, flags: 4, fd: 8 }],
  ["drm_mode_create_dumb", drm.drm_mode_create_dumb, {
    size: 32,
    height: 0,
    width: 4,
    bpp: 8,
    flags: 12,
    handle: 16,
    pitch: 20,
    size_: 24,
  }],
  ["drm_mode_map_dumb", drm.drm_mode_map_dumb, { size: 16, handle: 0, pad: 4, offset: 8 }],
  ["drm_mode_destroy_dumb", drm.drm_mode_destroy_dumb, { size: 4, handle: 0 }],
  ["drm_vgem_fence_attach", drm.drm_vgem_fence_attach, {
    size: 16,
    handle: 0,
    flags: 4,
    out_fence: 8,
    pad: 12,
  }],
  ["drm_vgem_fence_signal", drm.drm_vgem_fence_signal, { size: 8, fence: 0, flags: 4 }],
];

for (const [name, layout, expected] of LAYOUTS) {
  Deno.test(`struct ${name} has size ${expected.size} and the kernel's offsets`, () => {
    assert.deepEqual({ ...layout }, expected);
  });
}

Deno.test("DRM ioctl requests carry their struct sizes", () => {
  assert.equal(_IOC_SIZE(drm.DRM_IOCTL_VERSION), drm.drm_version.size);
  assert.equal(_IOC_SIZE(drm.DRM_IOCTL_PRIME_FD_TO_HANDLE), drm.drm_prime_handle.size);
  assert.equal(_IOC_SIZE(drm.DRM_IOCTL_MODE_CREATE_DUMB), drm.drm_mode_create_dumb.size);
  assert.equal(_IOC_SIZE(drm.DRM_IOCTL_VGEM_FENCE_ATTACH), drm.drm_vgem_fence_attach.size);
});

// ---------------------------------------------------------------------------------------------
// The same numbers from the C compiler and the kernel's uapi headers.

const C_SOURCE = `${C_PROBE_MACROS}
#include <fcntl.h>
#include <drm.h>
#include <drm_mode.h>
#include <vgem_drm.h>

int main(void) {
  N(DRM_IOCTL_VERSION); N(DRM_IOCTL_GEM_CLOSE); N(DRM_IOCTL_GET_CAP);
  N(DRM_IOCTL_PRIME_HANDLE_TO_FD); N(DRM_IOCTL_PRIME_FD_TO_HANDLE);
  N(DRM_IOCTL_MODE_CREATE_DUMB); N(DRM_IOCTL_MODE_MAP_DUMB); N(DRM_IOCTL_MODE_DESTROY_DUMB);
  N(DRM_IOCTL_VGEM_FENCE_ATTACH); N(DRM_IOCTL_VGEM_FENCE_SIGNAL);
  N(DRM_COMMAND_BASE); N(DRM_VGEM_FENCE_ATTACH); N(DRM_VGEM_FENCE_SIGNAL); N(VGEM_FENCE_WRITE);
  N(DRM_CLOEXEC); N(DRM_RDWR); N(DRM_CAP_DUMB_BUFFER); N(DRM_CAP_PRIME);
  N(DRM_CAP_TIMESTAMP_MONOTONIC); N(DRM_PRIME_CAP_IMPORT); N(DRM_PRIME_CAP_EXPORT);
  S(drm_version); O(drm_version, version_major); O(drm_version, version_minor);
  O(drm_version, version_patchlevel); O(drm_version, name_len); O(drm_version, name);
  O(drm_version, date_len); O(drm_version, date); O(drm_version, desc_len);
  O(drm_version, desc);
  S(drm_get_cap); O(drm_get_cap, capability); O(drm_get_cap, value);
  S(drm_gem_close); O(drm_gem_close, handle); O(drm_gem_close, pad);
  S(drm_prime_handle); O(drm_prime_handle, handle); O(drm_prime_handle, flags);
  O(drm_prime_handle, fd);
  S(drm_mode_create_dumb); O(drm_mode_create_dumb, height); O(drm_mode_create_dumb, width);
  O(drm_mode_create_dumb, bpp); O(drm_mode_create_dumb, flags); O(drm_mode_create_dumb, handle);
  O(drm_mode_create_dumb, pitch); O(drm_mode_create_dumb, size);
  S(drm_mode_map_dumb); O(drm_mode_map_dumb, handle); O(drm_mode_map_dumb, pad);
  O(drm_mode_map_dumb, offset);
  S(drm_mode_destroy_dumb); O(drm_mode_destroy_dumb, handle);
  S(drm_vgem_fence_attach); O(drm_vgem_fence_attach, handle); O(drm_vgem_fence_attach, flags);
  O(drm_vgem_fence_attach, out_fence); O(drm_vgem_fence_attach, pad);
  S(drm_vgem_fence_signal); O(drm_vgem_fence_signal, fence); O(drm_vgem_fence_signal, flags);
  printf("}\\n");
  return 0;
}
`;

function has(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** The first directory that holds `drm.h` and `vgem_drm.h`, or undefined. */
function headerDir(): string | undefined {
  const candidates: string[] = [];
  const explicit = env("DMABUF_DRM_INCLUDE");
  if (explicit) candidates.push(explicit);
  candidates.push("/usr/include/drm");
  const home = env("HOME");
  const cache = env("DMABUF_KERNEL_CACHE") ?? (home ? `${home}/.cache/dmabuf-deno-kernel` : "");
  try {
    for (const ver of Deno.readDirSync(`${cache}/debian`)) {
      const src = `${cache}/debian/${ver.name}/hdr/usr/src`;
      if (!has(src)) continue;
      for (const tree of Deno.readDirSync(src)) {
        candidates.push(`${src}/${tree.name}/include/uapi/drm`);
      }
    }
  } catch {
    // No kernel cache: the other candidates decide.
  }
  return candidates.find((d) => has(`${d}/drm.h`) && has(`${d}/vgem_drm.h`));
}

let reason: string | undefined;
let dir: string | undefined;
try {
  reason = gccSkipReason();
  if (!reason) {
    dir = headerDir();
    if (!dir) {
      reason = "no drm.h + vgem_drm.h found ($DMABUF_DRM_INCLUDE, /usr/include/drm, or the " +
        "kernel header tree of tools/kernel/prepare.sh)";
    }
  }
} catch (e) {
  reason = `cannot probe gcc or the headers: ${e instanceof Error ? e.message : e}`;
}
if (reason) console.log(`uapi_drm_test: skipping the C header comparison: ${reason}`);

Deno.test({
  name: "DRM and vgem numbers, sizes and offsets equal the kernel's uapi headers compiled with gcc",
  ignore: reason !== undefined,
  fn() {
    // Raw uapi headers (not run through headers_install) still carry the `__user` annotation.
    const c = gccProbe(C_SOURCE, ["-D__user=", "-I", dir!]);
    const ts: Record<string, number> = {};
    for (const [name] of REQUESTS) ts[name] = (drm as Record<string, unknown>)[name] as number;
    for (
      const name of [
        "DRM_COMMAND_BASE",
        "DRM_VGEM_FENCE_ATTACH",
        "DRM_VGEM_FENCE_SIGNAL",
        "VGEM_FENCE_WRITE",
        "DRM_CLOEXEC",
        "DRM_RDWR",
        "DRM_CAP_DUMB_BUFFER",
        "DRM_CAP_PRIME",
        "DRM_CAP_TIMESTAMP_MONOTONIC",
        "DRM_PRIME_CAP_IMPORT",
        "DRM_PRIME_CAP_EXPORT",
      ]
    ) ts[name] = (drm as Record<string, unknown>)[name] as number;
    for (const [name, layout] of LAYOUTS) {
      for (const [field, value] of Object.entries(layout)) {
        ts[field === "size" ? `sizeof ${name}` : `${name}.${field.replace(/_$/, "")}`] = value;
      }
    }
    assert.deepEqual(Object.keys(ts).sort(), Object.keys(c).sort(), "every value has a twin");
    assert.deepEqual(ts, Object.fromEntries(Object.keys(ts).map((k) => [k, c[k]])));
  },
});
