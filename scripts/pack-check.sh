#!/usr/bin/env bash
# Packs offloop and installs the tarball into an empty folder with no Rust or C toolchain on PATH,
# then calls it from ESM and CJS. Proves that a user needs nothing but Node and npm.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# `npm pack` builds the release binary; the first build on a machine fetches napi-rs's cross
# toolchain from the npm registry, so a transient registry failure gets one more try, and the
# output of a failed try is shown. No `--pack-destination`: npm hands it to the prepack script's
# environment (`npm_config_pack_destination`), and napi-rs fetches its toolchain with an `npm pack`
# of its own, which then put the toolchain's tarball in `$work` instead of where napi-rs reads it
# (a fresh machine failed with ENOENT twice). The tarball is moved out of the checkout instead.
pack() {
  (cd "$root" && npm pack --silent >"$work/pack.out" 2>"$work/pack.log") || return 1
  local name
  name=$(tail -n 1 "$work/pack.out")
  mv "$root/$name" "$work/$name" && echo "$name"
}
if ! tarball=$(pack); then
  echo "pack-check: npm pack failed, retrying once; its output:" >&2
  tail -n 40 "$work/pack.out" "$work/pack.log" >&2
  tarball=$(pack) || { tail -n 40 "$work/pack.out" "$work/pack.log" >&2; exit 1; }
fi
echo "packed $tarball ($(du -h "$work/$tarball" | cut -f1))"
tar -tzf "$work/$tarball" | sed 's/^/  /'

# The packed binary must be the one built against glibc 2.17 (README: glibc >= 2.17), not a
# rebuild for this machine's glibc.
mkdir -p "$work/unpacked"
tar -xzf "$work/$tarball" -C "$work/unpacked" package/prebuilds
newest=$(objdump -T "$work/unpacked/package/prebuilds/offloop.linux-x64-gnu.node" | grep -oE 'GLIBC_[0-9]+\.[0-9]+' | sort -uV | tail -n 1)
echo "newest glibc symbol version the binary needs: $newest"
if [ "$(printf '%s\nGLIBC_2.17\n' "$newest" | sort -V | tail -n 1)" != "GLIBC_2.17" ]; then
  echo "pack-check: the packed binary needs $newest, newer than glibc 2.17" >&2
  exit 1
fi

# Every node and npm call below sees a PATH holding node and npm only.
mkdir -p "$work/bin" "$work/app"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(command -v npm)" "$work/bin/npm"
bare() { env PATH="$work/bin" "$@"; }
for tool in cargo rustc cc gcc; do
  if bare /bin/sh -c "command -v $tool" >/dev/null 2>&1; then echo "pack-check: $tool is still on PATH" >&2; exit 1; fi
done

cd "$work/app"
bare npm init -y >/dev/null
bare npm install --no-audit --no-fund --offline "$work/$tarball" >/dev/null

bare node --input-type=module -e "
  import { kernels, stats } from 'offloop';
  const s = await kernels.sum(new Float64Array([1, 2, 3.5]), { mode: 'pool' });
  if (s !== 6.5) throw new Error('ESM sum gave ' + s);
  console.log('esm ok: sum =', s, 'simd =', stats().simd);
"
bare node -e "
  const { kernels } = require('offloop');
  kernels.dot(new Float64Array([1, 2]), new Float64Array([3, 4]), { mode: 'pool' }).then((d) => {
    if (d !== 11) throw new Error('CJS dot gave ' + d);
    console.log('cjs ok: dot =', d);
  });
"
echo "pack-check passed"
