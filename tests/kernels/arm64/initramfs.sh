#!/usr/bin/env bash
# The arm64 guest's base initramfs, as tests/kernels/initramfs.sh base makes
# the x86 one: the arm64 root of root.sh (busybox, python3.11 and its debug
# files, the libraries aps-bpf needs; from Debian's arm64 packages, since
# the host's files are x86) as one uncompressed cpio, plus a stripped copy
# of each Python's _asyncio under /aps-symfree/NAME/ for the symbol-free case.
# The overlay (/init, aps-bpf, tests/) is the x86 one's, given
# .output-arm64/aps-bpf (tests/kernels/run.py).
#
#   initramfs.sh base OUT.cpio PYTHON...    PYTHONs: paths inside the root
# Environment: APS_KERNEL_CACHE (default /var/cache/aps-bpf/kernels).
set -euo pipefail

[ "${1:-}" = base ] && [ $# -ge 3 ] || { echo "usage: $0 base OUT.cpio PYTHON..." >&2; exit 2; }
out=$2
shift 2
cache=${APS_KERNEL_CACHE:-/var/cache/aps-bpf/kernels}
here=$(cd "$(dirname "$0")" && pwd)
root=$("$here/root.sh" "$cache")
stage=$(mktemp -d "${out%/*}/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{dev,proc,sys,tmp,run,aps}
for py in "$@"; do
	[ -x "$root$py" ] || { echo "initramfs.sh: no $py in the arm64 root $root" >&2; exit 1; }
	for m in "$root"/usr/lib/python3*/lib-dynload/_asyncio.*-aarch64-linux-gnu.so; do
		case $m in "$root/usr/lib/${py##*/}/"*) ;; *) continue ;; esac
		mkdir -p "$stage/aps-symfree/${py##*/}"
		aarch64-linux-gnu-strip --strip-all -o "$stage/aps-symfree/${py##*/}/${m##*/}" "$m"
	done
done
{
	( cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null )
	( cd "$stage" && find . | busybox cpio -o -H newc 2>/dev/null )
} >"$out.tmp"
mv "$out.tmp" "$out"
du -h "$out" | cut -f1
