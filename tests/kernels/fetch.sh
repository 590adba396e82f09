#!/usr/bin/env bash
# Fetch Debian kernel packages with a private apt configuration and unpack
# their /boot/vmlinuz-*. Never touches the host's apt sources or state.
#
#   fetch.sh CACHE_DIR ARCH SUITE_URL SUITE PACKAGE_REGEX NAME
#
# Takes the newest package whose whole name matches PACKAGE_REGEX (an ERE,
# e.g. 'linux-image-6\.1\.0-[0-9]+-amd64')
# and prints the path of its vmlinuz, unpacked under CACHE_DIR/boot/NAME. Cached: a second call with the
# same arguments downloads nothing.
set -euo pipefail

cache=$1 arch=$2 url=$3 suite=$4 pkg=$5 kname=$6
root=$cache/apt-$arch-$suite
out=$cache/boot/$kname
if [ -n "$(ls "$out"/vmlinuz-* 2>/dev/null)" ]; then
	ls "$out"/vmlinuz-*
	exit 0
fi
mkdir -p "$root/lists/partial" "$root/cache/archives/partial" "$root/etc" "$out"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $url $suite main" \
	>"$root/etc/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$root/etc/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
	-o "Dir::State::Lists=$root/lists" -o "Dir::Cache=$root/cache"
	-o "Dir::State::Status=/dev/null" -o "APT::Architecture=$arch"
	-o "APT::Architectures::=$arch" -o "Debug::NoLocking=1" -q)
apt-get "${apt_opts[@]}" update >&2
name=$(apt-cache "${apt_opts[@]}" pkgnames linux-image- | grep -E "^($pkg)\$" | sort -V | tail -1)
[ -n "$name" ] || { echo "fetch.sh: no package $pkg in $suite ($arch)" >&2; exit 1; }
( cd "$root/cache/archives" && apt-get "${apt_opts[@]}" download "$name:$arch" >&2 )
deb=$(ls -t "$root/cache/archives/${name}"_*.deb | head -1)
tmp=$(mktemp -d "$cache/unpack.XXXXXX")
dpkg-deb -x "$deb" "$tmp"
cp "$tmp"/boot/vmlinuz-* "$tmp"/boot/config-* "$out"/
rm -rf "$tmp"
ls "$out"/vmlinuz-*
