#!/bin/sh
# test_cli_pki.sh - `regularsctl pki` and `regularsctl broker config` end to
# end, with every certificate cross-checked by the openssl CLI (chain, subject,
# extensions, key pair), the refusals and exit codes (1 failure, 2 usage), and
# key files 0600. Usage: test_cli_pki.sh REGULARSCTL OPENSSL
set -eu
CTL=$1
OPENSSL=$2
[ -x "$CTL" ] || { echo "no regularsctl at $CTL" >&2; exit 1; }
[ -x "$OPENSSL" ] || { echo "no openssl (got '$OPENSSL'): install the openssl package" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/rg-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
export REGULARS_LOG_LEVEL=warn
P=$T/pki

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
# expect CODE CMD...: run CMD, require exit status CODE, keep its stderr in $T/err
expect() {
	want=$1; shift
	set +e; "$@" >"$T/out" 2>"$T/err"; got=$?; set -e
	[ "$got" = "$want" ] || { cat "$T/out" "$T/err" >&2; fail "exit $got, want $want: $*"; }
}
has() { grep -q -- "$2" "$1" || { cat "$1" >&2; fail "'$2' not in $1"; }; }

expect 0 "$CTL" pki init --dir "$P" --tenant acme
expect 0 "$CTL" pki issue --dir "$P" --kind device --id dev-0042-k1 --store 0042
expect 0 "$CTL" pki issue --dir "$P" --kind gateway --id gw-0042 --store 0042
expect 0 "$CTL" pki issue --dir "$P" --kind cloud --id cloud-1 --days 30
expect 0 "$CTL" pki issue --dir "$P" --kind broker --id broker-0042 --store 0042 \
	--san localhost --san 127.0.0.1
ok "init and issue"

# The chain, as openssl sees it.
for id in dev-0042-k1 gw-0042 cloud-1 broker-0042; do
	"$OPENSSL" verify -CAfile "$P/ca.crt" "$P/$id.crt" >"$T/v" 2>&1 || { cat "$T/v"; fail "openssl verify $id"; }
	has "$T/v" ": OK"
	# The key file holds the key of the certificate.
	a=$("$OPENSSL" pkey -in "$P/$id.key" -pubout)
	b=$("$OPENSSL" x509 -in "$P/$id.crt" -noout -pubkey)
	[ "$a" = "$b" ] || fail "$id.key does not match $id.crt"
	[ "$(stat -c %a "$P/$id.key")" = 600 ] || fail "$id.key is not 0600"
done
[ "$(stat -c %a "$P/ca.key")" = 600 ] || fail "ca.key is not 0600"
ok "openssl verify, key pairs, key modes"

"$OPENSSL" x509 -in "$P/ca.crt" -noout -subject -ext basicConstraints,keyUsage >"$T/x"
has "$T/x" "subject=CN = acme Regulars CA, O = acme"
has "$T/x" "critical"
has "$T/x" "CA:TRUE, pathlen:0"
has "$T/x" "Certificate Sign, CRL Sign"
"$OPENSSL" x509 -in "$P/dev-0042-k1.crt" -noout -subject -ext extendedKeyUsage,basicConstraints >"$T/x"
has "$T/x" "subject=CN = dev-0042-k1, OU = device:0042, O = acme"
has "$T/x" "TLS Web Client Authentication"
has "$T/x" "CA:FALSE"
! grep -q "Server Authentication" "$T/x" || fail "device certificate has serverAuth"
"$OPENSSL" x509 -in "$P/cloud-1.crt" -noout -subject -ext extendedKeyUsage >"$T/x"
has "$T/x" "subject=CN = cloud-1, OU = cloud, O = acme"
has "$T/x" "TLS Web Client Authentication"
"$OPENSSL" x509 -in "$P/gw-0042.crt" -noout -subject >"$T/x"
has "$T/x" "subject=CN = gw-0042, OU = gateway:0042, O = acme"
"$OPENSSL" x509 -in "$P/broker-0042.crt" -noout -subject -ext extendedKeyUsage,subjectAltName >"$T/x"
has "$T/x" "subject=CN = broker-0042, OU = broker:0042, O = acme"
has "$T/x" "TLS Web Server Authentication"
has "$T/x" "DNS:localhost, IP Address:127.0.0.1"
! grep -q "Client Authentication" "$T/x" || fail "broker certificate has clientAuth"
# openssl's own purpose checks agree.
"$OPENSSL" verify -CAfile "$P/ca.crt" -purpose sslclient "$P/dev-0042-k1.crt" >/dev/null
"$OPENSSL" verify -CAfile "$P/ca.crt" -purpose sslserver "$P/broker-0042.crt" >/dev/null
! "$OPENSSL" verify -CAfile "$P/ca.crt" -purpose sslserver "$P/dev-0042-k1.crt" >/dev/null 2>&1 ||
	fail "a device certificate passes as a server"
"$OPENSSL" verify -CAfile "$P/ca.crt" -verify_hostname localhost "$P/broker-0042.crt" >/dev/null
"$OPENSSL" verify -CAfile "$P/ca.crt" -verify_ip 127.0.0.1 "$P/broker-0042.crt" >/dev/null
! "$OPENSSL" verify -CAfile "$P/ca.crt" -verify_hostname evil.example "$P/broker-0042.crt" \
	>/dev/null 2>&1 || fail "broker certificate valid for evil.example"
# 30 days asked: the certificate ends within 31 days, and not within 29.
"$OPENSSL" x509 -in "$P/cloud-1.crt" -noout -checkend $((31 * 86400)) >/dev/null &&
	fail "cloud-1 outlives --days 30"
"$OPENSSL" x509 -in "$P/cloud-1.crt" -noout -checkend $((29 * 86400)) >/dev/null ||
	fail "cloud-1 ends before --days 30"
ok "subjects, extensions, purposes, host names, validity"

# A leaf of another CA does not verify under this one.
expect 0 "$CTL" pki init --dir "$T/other" --tenant acme
expect 0 "$CTL" pki issue --dir "$T/other" --kind device --id dev-0042-k1 --store 0042
! "$OPENSSL" verify -CAfile "$P/ca.crt" "$T/other/dev-0042-k1.crt" >/dev/null 2>&1 ||
	fail "a leaf of another CA verifies"
ok "foreign CA refused by openssl"

# Refusals and exit codes.
before=$(cat "$P/dev-0042-k1.key")
expect 1 "$CTL" pki issue --dir "$P" --kind device --id dev-0042-k1 --store 0042
has "$T/err" "already exists"
[ "$before" = "$(cat "$P/dev-0042-k1.key")" ] || fail "a key was replaced without --force"
expect 0 "$CTL" pki issue --dir "$P" --kind device --id dev-0042-k1 --store 0042 --force
[ "$before" != "$(cat "$P/dev-0042-k1.key")" ] || fail "--force did not make a new key"
expect 1 "$CTL" pki issue --dir "$P" --kind cloud --id dev-0042-k1 --force
has "$T/err" "never changes kind"
expect 1 "$CTL" pki init --dir "$P" --tenant acme
has "$T/err" "refusing to replace"
expect 1 "$CTL" pki issue --dir "$P" --kind device --id 'dev/1' --store 0042
has "$T/err" "identity"
expect 1 "$CTL" pki issue --dir "$P" --kind device --id 'dev+1' --store 0042
expect 1 "$CTL" pki issue --dir "$P" --kind device --id dev-1
has "$T/err" "needs a store"
expect 1 "$CTL" pki issue --dir "$P" --kind gateway --id gw-0043 --store 0042
has "$T/err" "must be named gw-0042"
expect 1 "$CTL" pki issue --dir "$P" --kind device --id gw-0042x --store 0042
has "$T/err" "reserved for gateways"
expect 1 "$CTL" pki issue --dir "$P" --kind broker --id broker-x
has "$T/err" "subjectAltName"
expect 2 "$CTL" pki issue --dir "$P" --kind admin --id x
expect 2 "$CTL" pki issue --kind device --id x --store 1
has "$T/err" "--dir is required"
expect 2 "$CTL" pki issue --dir "$P" --kind device --id x --store 1 --bogus
has "$T/err" "unknown option --bogus"
expect 2 "$CTL" pki frobnicate
expect 1 "$CTL" pki issue --dir "$T/nowhere" --kind device --id x --store 1
has "$T/err" "ca.crt"
ok "refusals"

expect 0 "$CTL" pki list --dir "$P"
has "$T/out" "dev-0042-k1 *device *0042 .* ok"
has "$T/out" "broker-0042 *broker .*san=localhost,127.0.0.1"
has "$T/out" "CA: acme Regulars CA"
cp "$T/other/dev-0042-k1.crt" "$P/dev-9.crt"
cp "$T/other/dev-0042-k1.crt" "$P/imposter.crt"
expect 0 "$CTL" pki list --dir "$P"
! grep -q "^dev-9 " "$T/out" || fail "a certificate whose CN is not its file name is listed"
rm "$P/dev-9.crt" "$P/imposter.crt"
ok "list"

expect 0 "$CTL" pki --help
has "$T/out" "usage: regularsctl pki init"
expect 0 "$CTL" pki issue --help
has "$T/out" "--san NAME"
expect 0 "$CTL" broker --help
has "$T/out" "usage: regularsctl broker config"
expect 0 "$CTL" broker config --help
ok "help"

# Broker configurations.
expect 0 "$CTL" broker config --dir "$P" --role store --store 0042 --port 8883 --out "$T/store"
has "$T/store/mosquitto.conf" "^require_certificate true$"
has "$T/store/mosquitto.conf" "^listener 8883$"
! grep -q "^user root" "$T/store/mosquitto.conf" || fail "user root without --run-as-root"
has "$T/store/acl" "^pattern write rg/v1/s/0042/d/%u/up/#$"
has "$T/store/acl" "^user gw-0042$"
[ "$(stat -c %a "$T/store/certs/broker.key")" = 600 ] || fail "broker key copy is not 0600"
cmp -s "$T/store/certs/broker.key" "$P/broker-0042.key" || fail "broker key copy differs"
expect 0 "$CTL" broker config --dir "$P" --role store --store 0042 --port 8883 --out "$T/store" \
	--run-as-root --bind 127.0.0.1
has "$T/store/mosquitto.conf" "^user root$"
has "$T/store/mosquitto.conf" "^listener 8883 127.0.0.1$"
expect 2 "$CTL" broker config --dir "$P" --role store --port 8883 --out "$T/x"
has "$T/err" "needs --store"
expect 2 "$CTL" broker config --dir "$P" --role edge --port 8883 --out "$T/x"
expect 2 "$CTL" broker config --dir "$P" --role central --port 0 --out "$T/x"
expect 1 "$CTL" broker config --dir "$P" --role central --port 8884 --out "$T/central"
has "$T/err" "pki issue --kind broker"
expect 0 "$CTL" pki issue --dir "$P" --kind broker --id broker-central --san localhost
expect 0 "$CTL" broker config --dir "$P" --role central --port 8884 --out "$T/central"
has "$T/central/acl" "^user gw-0042$"
has "$T/central/acl" "^user cloud-1$"
! grep -q "dev-0042-k1" "$T/central/acl" || fail "a device has rights on the central broker"
# The broker never needs the CA key.
mkdir "$T/public"
cp "$P"/*.crt "$P/broker-central.key" "$T/public/"
expect 0 "$CTL" broker config --dir "$T/public" --role central --port 8884 --out "$T/central2"
ok "broker config"
echo "PASS"
