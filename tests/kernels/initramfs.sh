#!/usr/bin/env bash
# Build the kernel matrix's initramfs (an uncompressed cpio) from host files:
# static busybox, aps-bpf and its libraries (ldd's and the dlopened ones),
# each interpreter given (binary, standard library minus tests, C modules,
# libraries, debug files by build-id), tests/scenarios and the guest checks.
#
#   initramfs.sh base OUT.cpio INTERPRETER...   the system: busybox, libraries, Pythons
#   initramfs.sh overlay OUT.cpio [APS_BPF]     /init, aps-bpf and tests/ (rebuilt every run)
#
# The kernel unpacks concatenated archives in order: boot `cat base overlay`.
# An INTERPRETER is a python binary; its library is found from the binary
# itself (sysconfig), so the same script serves any architecture's host.
set -euo pipefail

mode=$1 out=$2; shift 2
repo=$(cd "$(dirname "$0")/../.." && pwd)
stage=$(mktemp -d "${out%/*}/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT

copy() {	# copy files to the same path in the stage (symlinks: their targets too)
	local f
	for f in "$@"; do
		[ -e "$f" ] || continue
		mkdir -p "$stage${f%/*}"
		cp -a "$f" "$stage$f"
		if [ -L "$f" ]; then copy "$(readlink -f "$f")"; fi
	done
}
libs_of() {	# the shared libraries ldd lists for each file
	ldd "$@" 2>/dev/null | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}' | sort -u
}
debug_of() {	# the debug file of each ELF file, by build-id
	local f id
	for f in "$@"; do
		id=$(readelf -n "$f" 2>/dev/null | awk '/Build ID/{print $3}')
		[ -n "$id" ] && ls "/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug" 2>/dev/null || true
	done
}

pack() {
	( cd "$stage" && find . | busybox cpio -o -H newc 2>/dev/null ) >"$out.tmp"
	mv "$out.tmp" "$out"
}

if [ "$mode" = overlay ]; then
	mkdir -p "$stage/aps/tests"
	cp "${1:-$repo/aps-bpf}" "$stage/aps/aps-bpf"
	cp -r "$repo/tests/scenarios" "$repo/tests/integration" "$repo/tests/kernels" "$stage/aps/tests/"
	find "$stage/aps" -name __pycache__ -prune -exec rm -rf {} +
	cp "$repo/tests/kernels/init" "$stage/init"
	pack
	exit 0
fi

mkdir -p "$stage"/{bin,dev,proc,sys,tmp,run,aps}
for d in lib lib64; do	# merged /usr: the same links as the host's
	if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$stage/$d" && mkdir -p "$stage/$(readlink "/$d")"; fi
done
cp /bin/busybox "$stage/bin/busybox"
! readelf -l "$stage/bin/busybox" | grep -q INTERP ||
	{ echo "initramfs.sh: /bin/busybox is not static (install busybox-static)" >&2; exit 1; }
# aps-bpf, and the libraries it dlopens (lazy_libs.c)
bins=("$repo/aps-bpf")
bins+=($(ldconfig -p | awk '/libcapstone\.so\.[0-9]/{print $NF}' | head -1))
for py in "$@"; do
	read -r stdlib dynload libdir < <("$py" -S -c 'import sysconfig as s
print(s.get_path("stdlib"), s.get_path("platstdlib") + "/lib-dynload", s.get_config_var("LIBDIR"))')
	copy "$py"
	tar -C / --exclude=test --exclude=tests --exclude=idlelib --exclude=tkinter --exclude=turtledemo \
		--exclude=ensurepip --exclude=lib2to3 --exclude=site-packages --exclude=dist-packages \
		--exclude='config-3*' --exclude='*.opt-?.pyc' --exclude='*d-*-linux-gnu.so' --exclude='_tkinter*' \
		-cf - "${stdlib#/}" | tar -C "$stage" -xf -
	mods=$(ls "$dynload"/*.so 2>/dev/null | grep -v 'd-[^/]*-linux-gnu\.so$\|_tkinter' || true)
	bins+=("$py" $mods)
	# the interpreter's own libpython (not the debug build's libpython3.Yd: 24 MB unused)
	for l in "$libdir"/libpython3*[0-9].so*; do [ -e "$l" ] && bins+=("$l") && copy "$l"; done
	copy $(debug_of "$py" $mods)
	# a stripped _asyncio copy for the symbol-free case (no strip in the guest)
	for m in $mods; do
		case "${m##*/}" in _asyncio.*)
			mkdir -p "$stage/aps-symfree/${py##*/}"
			strip --strip-all -o "$stage/aps-symfree/${py##*/}/${m##*/}" "$m" ;;
		esac
	done
done
copy "${bins[@]}" $(libs_of "${bins[@]}")
pack
du -h "$out" | cut -f1
