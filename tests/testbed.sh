#!/usr/bin/env bash
# Provision the aps-bpf test bed, idempotently. Run by `make testbed` and
# `make test` (as root); `--packages-only` does only the apt part (used by
# `make demo` and CI).
#
#   1. apt packages to build aps-bpf and run the tests (installed if missing);
#   2. a Debian sid root with python3.14 + its debug files, made with
#      debootstrap, cached at $APS_SID_ROOT (default below), and aiohttp +
#      uvloop for the bench (installed into an existing root if missing);
#   3. checks that every interpreter of the bed is there, prints a summary
#      and writes the bed, as JSON, to $APS_BED_FILE for the integration tests.
#
# Environment: APS_SID_ROOT, APS_BED_FILE, APS_DEBIAN_MIRROR (for debootstrap).
set -euo pipefail

SID_ROOT=${APS_SID_ROOT:-/var/cache/aps-bpf/sid-root}
BED_FILE=${APS_BED_FILE:-/var/cache/aps-bpf/bed.json}
MIRROR=${APS_DEBIAN_MIRROR:-}
PYENV=/root/.pyenv/versions
PYENV_VERSIONS=(3.10.13 3.11.7 3.12.1 3.13.0)
MULTIARCH="$(uname -m)-linux-gnu"
# in the sid root, for bench/run.py --only loop (the aiohttp + uvloop service on 3.14)
SID_PACKAGES=(python3-aiohttp python3-uvloop)

PACKAGES=(clang libclang-rt-dev llvm libbpf-dev bpftool libelf-dev zlib1g-dev libcapstone-dev make gcc
	binutils debootstrap python3 python3.11 python3.11-dbg
	python3-greenlet util-linux libdebuginfod-dev debuginfod
	libmicrohttpd-dev prometheus	# the agent's /metrics, and its test
	libprotobuf-c-dev protobuf-c-compiler golang-go	# profile: pprof; its tests: go tool pprof
	qemu-system-x86 busybox-static)	# the last two: the kernel matrix (tests/kernels)
# `make ARCH=arm64` (cross-build) and the arm64 guest of the kernel matrix
ARM64_PACKAGES=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross libbpf-dev:arm64 libelf-dev:arm64
	zlib1g-dev:arm64 libcapstone-dev:arm64 libdebuginfod-dev:arm64 libprotobuf-c-dev:arm64
	libmicrohttpd-dev:arm64 qemu-system-arm)

export DEBIAN_FRONTEND=noninteractive

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { printf 'testbed: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
	cat <<EOF
usage: $0 [--packages-only]
  Provision the aps-bpf test bed (run as root).
  --packages-only  only install the apt packages (no sid root, no checks)
EOF
}

packages_only=0
case "${1:-}" in
	"") ;;
	--packages-only) packages_only=1 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
esac

need_root() {
	[ "$(id -u)" -eq 0 ] || die "$1 needs root: run as root (e.g. sudo make test)"
}

# ---- 1. apt packages -----------------------------------------------------
install_packages() {
	local missing=() p
	local all=("${PACKAGES[@]}")
	[ "$(uname -m)" = x86_64 ] && all+=("${ARM64_PACKAGES[@]}")
	local native name arch installed
	native=$(dpkg --print-architecture)
	# one dpkg-query for all: "NAME:ARCH ii " per installed package
	installed=$(dpkg-query -W -f='${Package}:${Architecture} ${db:Status-Abbrev}\n' \
		"${all[@]%%:*}" 2>/dev/null || true)
	for p in "${all[@]}"; do
		# NAME: the native (or arch-all) package; NAME:ARCH: a foreign one
		name=${p%%:*} arch="$native|all"
		[ "$name" = "$p" ] || arch=${p#*:}
		grep -E "^$name:($arch) ii $" <<<"$installed" >/dev/null || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	need_root "installing ${missing[*]}"
	log "installing: ${missing[*]}"
	case " ${missing[*]}" in
		*:arm64*)
			dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64 ;;
	esac
	apt-get update -q </dev/null
	apt-get install -y -q "${missing[@]}" </dev/null
}

# ---- 2. Debian sid root with python3.14 -------------------------------------
sid_root_ok() {
	[ -x "$1/usr/bin/python3.14" ] &&
		[ -n "$(find "$1/usr/lib/debug/.build-id" -name '*.debug' -print -quit 2>/dev/null)" ]
}

# Unmount anything debootstrap left mounted under $1 (interrupted run), then remove it.
remove_tree() {
	local dir=$1 m
	[ -e "$dir" ] || return 0
	{ findmnt -rn -o TARGET 2>/dev/null || true; } | { grep -F "$dir/" || true; } |
		sort -r | while read -r m; do
			umount -l "$m" || true
		done
	rm -rf --one-file-system "$dir"
}

make_sid_root() {
	if sid_root_ok "$SID_ROOT"; then
		return 0
	fi
	need_root "building the sid root"
	local tmp="$SID_ROOT.tmp"
	mkdir -p "$(dirname "$SID_ROOT")"
	remove_tree "$tmp"
	log "building Debian sid root at $SID_ROOT (debootstrap, ~1 min, ~620 MB)"
	# shellcheck disable=SC2086
	debootstrap --variant=minbase --include="python3.14,python3.14-dbg,$(IFS=,; echo "${SID_PACKAGES[*]}")" \
		sid "$tmp" $MIRROR </dev/null
	sid_root_ok "$tmp" || die "debootstrap finished but $tmp has no python3.14 or no debug files"
	if [ -e "$SID_ROOT" ]; then
		log "replacing invalid sid root $SID_ROOT"
		remove_tree "$SID_ROOT.old"
		mv "$SID_ROOT" "$SID_ROOT.old"
		mv "$tmp" "$SID_ROOT"
		remove_tree "$SID_ROOT.old"
	else
		mv "$tmp" "$SID_ROOT"
	fi
}

# The bench's packages in a root built before they were asked for: best
# effort (the bench says when they are missing), never fatal.
sid_root_extras() {
	chroot "$SID_ROOT" python3.14 -c 'import aiohttp, uvloop' >/dev/null 2>&1 && return 0
	need_root "installing ${SID_PACKAGES[*]} into the sid root"
	log "installing ${SID_PACKAGES[*]} into $SID_ROOT"
	# the root's package lists first; fresh ones (a cached mirror may serve an expired Release) if not
	chroot "$SID_ROOT" apt-get install -y -q --no-install-recommends "${SID_PACKAGES[@]}" </dev/null >&2 ||
		{ chroot "$SID_ROOT" apt-get update -q -o Acquire::Check-Valid-Until=false &&
		  chroot "$SID_ROOT" apt-get install -y -q --no-install-recommends "${SID_PACKAGES[@]}"; } \
		</dev/null >&2 || log "warning: could not install ${SID_PACKAGES[*]} into the sid root"
}

# ---- 3. interpreter checks ---------------------------------------------------
errors=()
labels=() argvs=() versions=() roots=() paths=()

build_id() {
	readelf -n "$1" 2>/dev/null | awk '/Build ID:/ { print $3; exit }'
}

# check_debug ROOT MODULE: the debug file of MODULE (a path inside ROOT) is there
check_debug() {
	local root=$1 mod=$2 id dbg
	if [ ! -f "$root$mod" ]; then
		errors+=("missing module $root$mod")
		return
	fi
	id=$(build_id "$root$mod")
	if [ -z "$id" ]; then
		errors+=("no build-id in $root$mod")
		return
	fi
	dbg="$root/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
	[ -f "$dbg" ] || errors+=("missing debug file $dbg for $root$mod (build-id $id)")
}

# add LABEL ROOT PATH ARGV...: check the interpreter runs, record it
add() {
	local label=$1 root=$2 path=$3 version
	shift 3
	if [ ! -x "$path" ]; then
		errors+=("$label: missing interpreter $path")
		return
	fi
	if ! version=$("$@" -c 'import platform; print(platform.python_version())' 2>&1 </dev/null); then
		errors+=("$label: $* does not run: $version")
		return
	fi
	version=${version##*$'\n'}  # last line, in case of startup warnings
	labels+=("$label") roots+=("$root") paths+=("$path") versions+=("$version")
	argvs+=("$(printf '%s\037' "$@")")
}

check_bed() {
	local v mm
	for v in "${PYENV_VERSIONS[@]}"; do
		mm=${v%.*}
		add "pyenv-$mm" / "$PYENV/$v/bin/python$mm" "$PYENV/$v/bin/python$mm"
	done
	[ ${#errors[@]} -eq 0 ] ||
		errors+=("(pyenv interpreters: install with 'pyenv install ${PYENV_VERSIONS[*]}')")

	add debian-3.11 / /usr/bin/python3.11 /usr/bin/python3.11
	check_debug "" "/usr/lib/python3.11/lib-dynload/_asyncio.cpython-311-$MULTIARCH.so"

	add sid-3.14 "$SID_ROOT" "$SID_ROOT/usr/bin/python3.14" chroot "$SID_ROOT" python3.14
	check_debug "$SID_ROOT" "/usr/lib/python3.14/lib-dynload/_asyncio.cpython-314-$MULTIARCH.so"

	if [ ${#errors[@]} -ne 0 ]; then
		printf 'testbed: ERROR: %s\n' "${errors[@]}" >&2
		die "the test bed is incomplete (see above)"
	fi
}

write_bed() {
	local i args=()
	for i in "${!labels[@]}"; do
		args+=("${labels[$i]}" "${argvs[$i]}" "${versions[$i]}" "${roots[$i]}")
	done
	mkdir -p "$(dirname "$BED_FILE")"
	/usr/bin/python3 - "$BED_FILE" "${args[@]}" <<'EOF'
import json, os, sys
out, rest = sys.argv[1], sys.argv[2:]
bed = [{"label": rest[i], "argv": rest[i + 1].split("\x1f")[:-1],
        "version": rest[i + 2], "root": rest[i + 3]}
       for i in range(0, len(rest), 4)]
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(bed, f, indent=1)
    f.write("\n")
os.replace(tmp, out)
EOF
}

summary() {
	local i
	echo "test bed (${#labels[@]} interpreters, written to $BED_FILE):"
	for i in "${!labels[@]}"; do
		printf '  %-12s %-50s %s\n' "${labels[$i]}" "${paths[$i]}" "${versions[$i]}"
	done
}

# ---- main ----------------------------------------------------------------------
install_packages
[ "$packages_only" -eq 1 ] && exit 0

need_root "provisioning the test bed"
# One provisioning at a time (two `make test` runs at once).
mkdir -p "$(dirname "$SID_ROOT")"
exec 9>"$SID_ROOT.lock"
flock 9

make_sid_root
sid_root_extras
check_bed
write_bed
summary
