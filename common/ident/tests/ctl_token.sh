#!/bin/sh
# ctl_token.sh - integration test of `regularsctl token`: keygen writes a
# 0600 key and refuses to overwrite without --force; pubkey prints PEM and
# the raw form; issue + verify round trip; verify refuses other keys, early,
# expired and tampered tokens with the reason and exit 1; --help everywhere.
# Usage: ctl_token.sh /path/to/regularsctl
set -u
ctl=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/rg-ctl-token-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# expect STATUS OUTPUT_REGEX cmd...
expect() {
	want=$1 re=$2
	shift 2
	out=$("$@" 2>&1)
	got=$?
	[ "$got" = "$want" ] || fail "$* exited $got, want $want: $out"
	printf '%s\n' "$out" | grep -Eq -- "$re" || fail "$*: output does not match /$re/: $out"
}

k=$dir/app.key
expect 0 "wrote .*key id [0-9a-f]{16}" "$ctl" token keygen --out "$k"
mode=$(stat -c %a "$k")
[ "$mode" = 600 ] || fail "key mode is $mode, want 600"
expect 1 "exists" "$ctl" token keygen --out "$k"
cp "$k" "$dir/old.key"
expect 0 "wrote" "$ctl" token keygen --out "$k" --force
cmp -s "$k" "$dir/old.key" && fail "--force did not replace the key"
[ "$(stat -c %a "$k")" = 600 ] || fail "replaced key is not 0600"
"$ctl" token keygen --out "$dir/other.key" >/dev/null || fail "keygen other"

"$ctl" token pubkey --key "$k" >"$dir/app.pub" || fail "pubkey"
grep -q "BEGIN PUBLIC KEY" "$dir/app.pub" || fail "pubkey is not a PEM public key"
grep -q "PRIVATE" "$dir/app.pub" && fail "pubkey printed private material"
"$ctl" token pubkey --key "$dir/other.key" >"$dir/other.pub" || fail "pubkey other"
expect 0 "^[A-Za-z0-9_-]{87}$" "$ctl" token pubkey --key "$k" --raw

now=$(date +%s)
tok=$("$ctl" token issue --key "$k" --customer cust-42 --ttl 60) || fail "issue"
case $tok in RGT1.*) ;; *) fail "token does not start with RGT1.: $tok" ;; esac
expect 0 "^ok customer=cust-42 iat=[0-9]+ exp=[0-9]+$" "$ctl" token verify --pub "$dir/app.pub" "$tok"
expect 0 "^ok " "$ctl" token verify --pub "$dir/other.pub" --pub "$dir/app.pub" "$tok"
expect 0 "^ok " "$ctl" token verify --pub "$k" "$tok"
expect 1 "^token_unknown_key$" "$ctl" token verify --pub "$dir/other.pub" "$tok"
expect 1 "^token_expired$" "$ctl" token verify --pub "$dir/app.pub" --now $((now + 3600)) "$tok"
expect 1 "^token_not_yet_valid$" "$ctl" token verify --pub "$dir/app.pub" --now $((now - 3600)) "$tok"
expect 1 "^token_lifetime_too_long$" "$ctl" token verify --pub "$dir/app.pub" --max-lifetime 30 "$tok"
# flip one character in the middle of the signature
mid=$((${#tok} - 20))
c=$(printf '%s' "$tok" | cut -c $mid)
if [ "$c" = A ]; then r=B; else r=A; fi
bad=$(printf '%s' "$tok" | cut -c 1-$((mid - 1)))$r$(printf '%s' "$tok" | cut -c $((mid + 1))-)
expect 1 "^token_(bad_signature|malformed)$" "$ctl" token verify --pub "$dir/app.pub" "$bad"
expect 1 "^token_malformed$" "$ctl" token verify --pub "$dir/app.pub" "RGT1.AAAA"

early=$("$ctl" token issue --key "$k" --customer c.1 --not-before $((now + 7200)) --ttl 300)
expect 1 "^token_not_yet_valid$" "$ctl" token verify --pub "$dir/app.pub" "$early"
expect 0 "^ok customer=c.1 iat=$((now + 7200)) exp=$((now + 7500))$" \
	"$ctl" token verify --pub "$dir/app.pub" --now $((now + 7200)) "$early"

expect 2 "customer" "$ctl" token issue --key "$k" --customer "a:b"
expect 2 "ttl" "$ctl" token issue --key "$k" --customer a --ttl 0
expect 2 "required" "$ctl" token verify "$tok"
expect 1 "no private key" "$ctl" token issue --key "$dir/app.pub" --customer a
expect 1 "cannot load" "$ctl" token issue --key "$dir/missing.key" --customer a
expect 2 "action" "$ctl" token frobnicate
for a in keygen pubkey issue verify; do
	expect 0 "usage: regularsctl token" "$ctl" token $a --help
done
expect 0 "usage: regularsctl token" "$ctl" token --help
expect 0 "token" "$ctl" --help

[ "$fails" = 0 ] || { echo "ctl_token: $fails failure(s)" >&2; exit 1; }
echo "ctl_token: ok"
