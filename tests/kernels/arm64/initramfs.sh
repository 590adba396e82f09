#!/usr/bin/env bash
# The arm64 guest's base initramfs: the arm64 root of root.sh (busybox,
# python3.11 and its debug files, the libraries aps-bpf needs) as one
# uncompressed cpio. The overlay (/init, aps-bpf, tests/) is the x86 one's:
# APS_BIN=.output-arm64/aps-bpf tests/kernels/initramfs.sh overlay OUT.
#
#   initramfs.sh CACHE_DIR OUT.cpio
set -euo pipefail

cache=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$("$here/root.sh" "$cache")
if [ -s "$out" ] && [ "$out" -nt "$root" ]; then
	exit 0
fi
mkdir -p "$root"/{dev,proc,sys,tmp,run,aps}
( cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null ) >"$out.tmp"
mv "$out.tmp" "$out"
