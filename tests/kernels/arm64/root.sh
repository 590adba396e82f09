#!/usr/bin/env bash
# Build (once; cached) an arm64 root from Debian bookworm's arm64 packages:
# python3.11 with its standard library and the debug files of python3.11-dbg,
# static busybox, and the libraries aps-bpf needs. Downloaded with a private
# apt configuration (apt.sh), unpacked with dpkg-deb -x: nothing is installed.
#
#   root.sh CACHE_DIR      prints the root's path (CACHE_DIR/arm64-root)
set -euo pipefail

cache=$1
root=$cache/arm64-root
here=$(cd "$(dirname "$0")" && pwd)
if [ -x "$root/usr/bin/python3.11" ] && [ -x "$root/bin/busybox" ] && [ -d "$root/usr/lib/debug/.build-id" ] &&
	[ -n "$(find "$root/usr/lib" -name 'libmicrohttpd.so.*' -print -quit)" ] &&
	[ -n "$(find "$root/usr/lib" -name 'libprotobuf-c.so.*' -print -quit)" ]; then
	echo "$root"
	exit 0
fi
APT_ROOT=$cache/apt-arm64-bookworm
# shellcheck source=tests/kernels/arm64/apt.sh
. "$here/apt.sh"
apt_arm64 update >&2
# the closure of what runs in the guest, without dpkg/perl/tar (packaging only)
mapfile -t pkgs < <(apt_cache_arm64 depends --recurse --no-recommends --no-suggests \
	--no-conflicts --no-breaks --no-replaces --no-enhances --no-pre-depends \
	python3.11-minimal libpython3.11-stdlib busybox-static libbpf1 libelf1 libcapstone4 \
	libmicrohttpd12 libprotobuf-c1 |
	grep -v '^[ <]' | sort -u |
	grep -vxE 'dpkg|install-info|perl.*|libperl.*|tar|mailcap|mime-support|libacl1|libmd0|libselinux1|libpcre2-8-0')
pkgs+=(python3.11-dbg)
( cd "$APT_ROOT/cache/archives" && apt_arm64 download "${pkgs[@]/%/:arm64}" >&2 )
tmp=$(mktemp -d "$cache/arm64-root.XXXXXX")
for p in "${pkgs[@]}"; do
	deb=$(find "$APT_ROOT/cache/archives" -maxdepth 1 -name "${p}_*.deb" | sort -V | tail -1)
	[ -n "$deb" ] || { echo "root.sh: no .deb for $p" >&2; exit 1; }
	if [ "$p" = python3.11-dbg ]; then	# only the debug files, not the debug interpreter
		mkdir -p "$tmp.dbg"
		dpkg-deb -x "$deb" "$tmp.dbg"
		mkdir -p "$tmp/usr/lib/debug"
		cp -a "$tmp.dbg/usr/lib/debug/.build-id" "$tmp/usr/lib/debug/"
		rm -rf "$tmp.dbg"
	else
		dpkg-deb -x "$deb" "$tmp"
	fi
done
# bookworm is merged-/usr: the loader is looked up as /lib/ld-linux-aarch64.so.1
for d in bin sbin lib; do
	[ -e "$tmp/$d" ] || ln -s "usr/$d" "$tmp/$d"
done
rm -rf "$tmp/usr/share/doc" "$tmp/usr/share/man" "$tmp/usr/share/locale" "$tmp/usr/lib/python3.11/test"
rm -rf "$root"
mv "$tmp" "$root"
echo "$root"
