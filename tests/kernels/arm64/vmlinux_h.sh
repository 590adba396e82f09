#!/usr/bin/env bash
# Regenerate vmlinux/arm64/vmlinux.h from the BTF of Debian bookworm's arm64
# 6.1 kernel (the one the matrix boots): fetch.sh unpacks its vmlinuz (an
# uncompressed arm64 Image), the raw BTF blob is cut out of it by its header
# (magic 0xeb9f, version 1), and bpftool dumps it as C.
#
#   tests/kernels/arm64/vmlinux_h.sh        (from the repo root)
set -euo pipefail

cache=${APS_KERNEL_CACHE:-/var/cache/aps-bpf/kernels}
image=$(tests/kernels/fetch.sh "$cache" arm64 http://deb.debian.org/debian-security \
	bookworm-security 'linux-image-6\.1\.0-[0-9]+-arm64' 6.1-arm64 | tail -1)
btf=$(mktemp)
trap 'rm -f "$btf"' EXIT
python3 - "$image" "$btf" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
at = 0
while (at := data.find(b"\x9f\xeb\x01\x00", at)) >= 0:
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<5I", data, at + 4)
    if hdr_len == 24 and type_off == 0 and str_off == type_len and type_len > 1 << 20:
        open(sys.argv[2], "wb").write(data[at:at + hdr_len + str_off + str_len])
        sys.exit(0)
    at += 1
sys.exit(f"no BTF in {sys.argv[1]}")
PY
bpftool btf dump file "$btf" format c >vmlinux/arm64/vmlinux.h.tmp
mv vmlinux/arm64/vmlinux.h.tmp vmlinux/arm64/vmlinux.h
echo "vmlinux/arm64/vmlinux.h from $(basename "$image")"
