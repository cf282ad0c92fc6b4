#!/bin/sh
# Installs the Debian packages Regulars needs, only those missing, quietly.
#   scripts/deps.sh          native build, tests, fuzzing
#   scripts/deps.sh cross    + aarch64 cross compiler, qemu and arm64 libraries
# Idempotent: when everything is installed it does nothing (no apt-get update).
set -eu

NATIVE="build-essential cmake pkg-config clang libclang-rt-14-dev
libmosquitto-dev mosquitto mosquitto-clients libsqlite3-dev sqlite3
libmbedtls-dev libnfc-dev libnfc-bin libcjson-dev libcmocka-dev
libmicrohttpd-dev libpq-dev openssl oathtool procps iproute2 python3
chromium nodejs npm"
CROSS="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
libsqlite3-dev:arm64 libmosquitto-dev:arm64 libmbedtls-dev:arm64
libcjson-dev:arm64 libcmocka-dev:arm64 libnfc6:arm64 libmicrohttpd-dev:arm64"

want="$NATIVE"
if [ "${1:-}" = cross ]; then
	want="$want $CROSS"
fi

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=""
for p in $want; do
	# Some nodejs builds (not Debian's) bundle npm and conflict with the npm
	# package: an npm on the PATH is enough.
	if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then
		continue
	fi
	if ! installed "$p"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi

echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: need root to install packages; run 'sudo make deps' (or install them yourself)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
case "$missing" in
*:arm64*)
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		dpkg --add-architecture arm64
	fi
	;;
esac
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done"
