#!/bin/sh
# Checks that every ELF executable and static library object in a build
# directory was built for the expected machine (readelf's "Machine:" text),
# so a cross build that silently produced host binaries fails loudly.
# Usage: check-arch.sh BUILD_DIR MACHINE   e.g. check-arch.sh build-aarch64 AArch64
set -eu
dir=$1 want=$2
n=0 bad=0
for f in $(find "$dir" -type f \( -perm -u+x -o -name '*.a' \) ! -name '*.sh' ! -path '*/CMakeFiles/*'); do
	m=$(readelf -h "$f" 2>/dev/null | sed -n 's/^ *Machine: *//p' | head -n 1)
	[ -n "$m" ] || continue
	n=$((n + 1))
	case "$m" in
	*"$want"*) ;;
	*) echo "check-arch: $f is built for '$m', not $want" >&2; bad=$((bad + 1)) ;;
	esac
done
if [ "$n" -eq 0 ]; then
	echo "check-arch: no binaries found in $dir" >&2
	exit 1
fi
if [ "$bad" -ne 0 ]; then
	echo "check-arch: $bad of $n binaries and libraries in $dir are not $want" >&2
	exit 1
fi
echo "check-arch: all $n binaries and libraries in $dir are $want"
