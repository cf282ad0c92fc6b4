#!/bin/sh
# nfc_list_test.sh - proves pn532_emu against a libnfc client we did not
# write: Debian's nfc-list must see the emulated card's UID through the
# emulator's symlink. Usage: nfc_list_test.sh PATH/TO/pn532_emu
# Exit 77 (skipped) when nfc-list (package libnfc-bin) is not installed.
set -eu
emu=$1
command -v nfc-list >/dev/null 2>&1 || { echo "nfc-list not installed: skipped"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/rg-nfclist-XXXXXX")
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
mkfifo "$dir/ctl"
"$emu" --link "$dir/pn532" <"$dir/ctl" >"$dir/out" &
pid=$!
exec 3>"$dir/ctl"
echo "card a 04A1B2C3" >&3
i=0
until grep -q '^ok$' "$dir/out" 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || { echo "emulator did not start"; exit 1; }
	sleep 0.05
done
out=$(LIBNFC_AUTO_SCAN=false LIBNFC_LOG_LEVEL=0 LIBNFC_DEVICE="pn532_uart:$dir/pn532" \
	timeout 20 nfc-list -t 1)
echo "$out"
echo "$out" | grep -q 'UID (NFCID1): 04  a1  b2  c3' || { echo "UID not listed"; exit 1; }
echo "quit" >&3
