# Sourced: a private apt configuration for Debian bookworm arm64 (main and
# security) under $APT_ROOT. Never touches the host's apt sources or state.
#   apt_arm64 ARGS...      runs apt-get with it
#   apt_cache_arm64 ARGS... runs apt-cache with it
: "${APT_ROOT:?}"
mkdir -p "$APT_ROOT/lists/partial" "$APT_ROOT/cache/archives/partial" "$APT_ROOT/etc"
cat >"$APT_ROOT/etc/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
SRC
APT_OPTS=(-o "Dir::Etc::SourceList=$APT_ROOT/etc/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
	-o "Dir::State::Lists=$APT_ROOT/lists" -o "Dir::Cache=$APT_ROOT/cache"
	-o "Dir::State::Status=/dev/null" -o "APT::Architecture=arm64"
	-o "APT::Architectures::=arm64" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root" -q)
apt_arm64() { apt-get "${APT_OPTS[@]}" "$@"; }
apt_cache_arm64() { apt-cache "${APT_OPTS[@]}" "$@"; }
