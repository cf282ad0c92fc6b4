#!/bin/sh
# ctl_device.sh REGULARSCTL [REGULARS-DEVICE] - `regularsctl device` and
# `regularsctl customers` against a real device database and file keystore
# under $TMPDIR. Each step checks what the user would see (output and exit
# status) and, where it matters, what the database holds afterwards. With the
# daemon's path, the last steps run beside a live regulars-device: taps it
# records show up in `device outbox`, and a seed while it runs is identified.
set -eu

CTL=${1:?usage: ctl_device.sh REGULARSCTL [REGULARS-DEVICE]}
DAEMON=${2:-}
D=$(mktemp -d "${TMPDIR:-/tmp}/rg-ctl-device-XXXXXX")
DPID=
cleanup() {
	if [ -n "$DPID" ]; then kill "$DPID" 2>/dev/null || true; wait "$DPID" 2>/dev/null || true; fi
	rm -rf "$D"
}
trap cleanup EXIT INT TERM
export REGULARS_LOG_LEVEL=warn

. "$(dirname "$0")/../lib/steps.sh"

CFG=$D/device.json
cat >"$CFG" <<JSON
{
  "device_id": "dev-test-h1",
  "store_id": "0042",
  "role": "handheld",
  "database": "$D/device.db",
  "keystore": {"backend": "file", "options": "dir=$D/keys"},
  "readers": [{"backend": "sim", "options": "path=$D/reader.sock"}],
  "http": {"port": 0},
  "identifiers": {}
}
JSON

step "help"
run 0 "$CTL" device --help
has out "regularsctl device lookup"
run 0 "$CTL" customers generate --help
has out "GS1 check digit"

step "a bad config is a clear error and exit 2"
printf '{"device_id":"dev-test-h1","store_id":"0042","role":"kiosk","database":"%s/x.db","colour":"red"}\n' "$D" >"$D/bad.json"
run 2 "$CTL" device stats --config "$D/bad.json"
has err "bad.json"
has err "colour"
run 2 "$CTL" device stats --config "$D/missing.json"
has err "missing.json"
run 2 "$CTL" device stats
has err "needs --config"
[ ! -e "$D/x.db" ] || die "a bad config created a database"

step "before anything: no database, stats says so"
run 1 "$CTL" device stats --config "$CFG"
has err "no database"
[ ! -e "$D/device.db" ] || die "stats created the database"

step "seed before provisioning is refused"
"$CTL" customers generate --count 3 --out "$D/three.jsonl"
run 1 "$CTL" device seed --config "$CFG" --file "$D/three.jsonl"
has err "tenant.key is not provisioned"

step "provision"
head -c 32 /dev/urandom >"$D/tenant.key"
run 0 "$CTL" device provision --config "$CFG" --tenant-key-file "$D/tenant.key"
has out "tenant.key provisioned"
[ -f "$D/keys/tenant.key" ] || die "no tenant.key in the keystore"
cmp -s "$D/tenant.key" "$D/keys/tenant.key" || die "keystore tenant.key differs from the file"
run 0 "$CTL" device provision --config "$CFG" --tenant-key-file "$D/tenant.key"
has out "nothing changed"
run 1 "$CTL" device provision --config "$CFG" --generate-tenant-key
has err "use --force"
cmp -s "$D/tenant.key" "$D/keys/tenant.key" || die "a refused provision replaced the key"
run 2 "$CTL" device provision --config "$CFG" --tenant-key-hex 00zz22
has err "not hex"
run 2 "$CTL" device provision --config "$CFG" --tenant-key-file "$D/tenant.key" --generate-tenant-key
run 1 "$CTL" device provision --config "$CFG" --tenant-key-hex 0011 --force
has err "16 to 64 bytes"

step "seed 1000 generated customers"
"$CTL" customers generate --count 1000 --out "$D/customers.jsonl"
[ "$(wc -l <"$D/customers.jsonl")" -eq 1000 ] || die "generate wrote the wrong count"
run 0 "$CTL" customers check --file "$D/customers.jsonl"
has out "1000 customers"
run 0 "$CTL" device seed --config "$CFG" --file "$D/customers.jsonl"
has out "seeded 1000 customers"

step "stats shows 1000"
run 0 "$CTL" device stats --config "$CFG"
has out "^profiles  *1000 "
has out "^identifiers  *1500$"
run 0 "$CTL" device stats --config "$CFG" --json
has out '"profiles":[[:space:]]*1000,'
has out '"outbox":[[:space:]]*0,'

step "lookup of generated cards prints the right name"
# customer 42: card "2" + 42 as 11 digits + check digit 8
name42=$(sed -n '42p' "$D/customers.jsonl" | sed 's/.*"profile":{"name":"\([^"]*\)".*/\1/')
[ -n "$name42" ] || die "cannot read customer 42's name"
run 0 "$CTL" device lookup --config "$CFG" --card 2000000000428
hasF out "$name42"
hasF out '"profile_id":	"p-000042"'
hasF out '"identifier_type":	"loyalty"'
# customer 43 has an NFC UID: 04 + 43 as 6 bytes
name43=$(sed -n '43p' "$D/customers.jsonl" | sed 's/.*"profile":{"name":"\([^"]*\)".*/\1/')
run 0 "$CTL" device lookup --config "$CFG" --nfc-uid 0400000000002b
hasF out "$name43"
hasF out '"identifier_type":	"nfc_uid"'

step "an unknown card exits 1; a refused one says why"
run 1 "$CTL" device lookup --config "$CFG" --card 2000000050003
has out "not in the local cache"
run 1 "$CTL" device lookup --config "$CFG" --card 2000000000427
has out "refused: bad_check_digit"
run 2 "$CTL" device lookup --config "$CFG"

step "the outbox of a fresh device is empty"
run 0 "$CTL" device outbox --config "$CFG"
has out "outbox is empty"
run 0 "$CTL" device outbox --config "$CFG" --json
[ "$(tr -d ' \n\t' <"$D/out")" = "[]" ] || die "outbox --json of a fresh device is not []"

step "a bad import line is reported with its number and loads nothing"
"$CTL" customers generate --count 10 --first-id 2001 --out "$D/more.jsonl"
# line 6: customer 2006's card with a wrong check digit
sed -i '6s/"value":"2000000020068"/"value":"2000000020069"/' "$D/more.jsonl"
grep -q 2000000020069 "$D/more.jsonl" || die "test setup: line 6 was not changed"
run 1 "$CTL" device seed --config "$CFG" --file "$D/more.jsonl"
has err "line 6: identifiers\[0\]: loyalty: refused by the identifier rules: bad_check_digit"
has err "nothing was loaded"
if grep -q 2000000020069 "$D/err"; then die "the raw card number is in the error"; fi
run 0 "$CTL" device stats --config "$CFG" --json
has out '"profiles":[[:space:]]*1000,'
run 1 "$CTL" device lookup --config "$CFG" --card 2000000020013
has out "not in the local cache"
# a repeated id is refused too
sed -n '1p' "$D/customers.jsonl" >"$D/dup.jsonl"
sed -n '1p' "$D/customers.jsonl" | sed 's/2000000000015/2000000050003/' >>"$D/dup.jsonl"
run 1 "$CTL" device seed --config "$CFG" --file "$D/dup.jsonl"
has err "line 2: the profile id is also on line 1"

step "the database holds no seeded name and no card number"
surname=$(printf '%s' "$name42" | sed 's/.* //')
for f in "$D/device.db" "$D/device.db-wal"; do
	[ -f "$f" ] || continue
	if grep -qaF "$name42" "$f"; then die "$f contains a seeded name"; fi
	if grep -qaF "2000000000428" "$f"; then die "$f contains a card number"; fi
done

step "pin-hash"
printf '4711\n' | "$CTL" device pin-hash --iterations 1000 >"$D/out"
has out '^pbkdf2-sha256\$1000\$'
run 1 sh -c "printf '12\n' | '$CTL' device pin-hash"
has err "at least 4"

if [ -z "$DAEMON" ]; then
	echo "ok (without the daemon steps)"
	exit 0
fi

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds (bounded)
wait_for() {
	n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
outbox_rows() { # outbox_rows N: the outbox --json lists N rows
	"$CTL" device outbox --config "$CFG" --json >"$D/ob.json" 2>/dev/null || return 1
	[ "$(grep -c '"seq":' "$D/ob.json")" -eq "$1" ]
}

step "beside a running daemon: taps land in the outbox, listed oldest first"
"$DAEMON" --config "$CFG" >"$D/daemon.log" 2>&1 &
DPID=$!
wait_for 20 "$CTL" tap --socket "$D/reader.sock" ping || { cat "$D/daemon.log" >&2; die "the daemon's reader never listened"; }
run 0 "$CTL" tap --socket "$D/reader.sock" barcode 2000000050003
run 0 "$CTL" tap --socket "$D/reader.sock" barcode 2000000000428
wait_for 20 outbox_rows 2 || { cat "$D/ob.json" >&2; die "the two taps never showed in the outbox"; }
run 0 "$CTL" device outbox --config "$CFG"
has out "^1  *[0-9a-f-]\{36\}  *[0-9.]*  *unknown_identifier  *-  "
has out "^2  *[0-9a-f-]\{36\}  *[0-9.]*  *identified  *p-000042  "
run 0 "$CTL" device outbox --config "$CFG" --json
has out '"kind":[[:space:]]*"unknown_identifier"'
has out '"body":[[:space:]]*{'
if grep -qF 2000000050003 "$D/out"; then die "the outbox shows a raw card number"; fi
run 0 "$CTL" device outbox --config "$CFG" --limit 1
has out "1 of 2 rows shown"
run 0 "$CTL" device stats --config "$CFG"
has out "^outbox  *2 waiting"

step "seeding while the daemon runs: the daemon identifies the new customer"
"$CTL" customers generate --count 5 --first-id 5000 --out "$D/late.jsonl"
run 0 "$CTL" device seed --config "$CFG" --file "$D/late.jsonl"
has out "seeded 5 customers"
run 0 "$CTL" tap --socket "$D/reader.sock" barcode 2000000050003
wait_for 20 outbox_rows 3 || die "the third tap never showed in the outbox"
grep -q '"profile":[[:space:]]*"p-005000"' "$D/ob.json" || { cat "$D/ob.json" >&2; die "the daemon did not identify the customer seeded while it ran"; }
kill "$DPID"
wait "$DPID" || die "the daemon did not stop cleanly"
DPID=

echo "ok"
