#!/bin/sh
# ctl_config.sh REGULARSCTL - `regularsctl config` offline, as IT uses it on
# laptops: three people make keys, a 2-of-3 trust anchor, one signature is not
# enough, a second person adds theirs to the same envelope, a tampered payload
# and a document a device would refuse are caught, diff shows what changed,
# and a key-set rotation is checked. Every step checks the exit status and
# what the user reads. (Push and status against a real broker: test_ctl_config_broker.)
set -eu

CTL=${1:?usage: ctl_config.sh REGULARSCTL}
D=$(mktemp -d "${TMPDIR:-/tmp}/rg-ctl-config-XXXXXX")
trap 'rm -rf "$D"' EXIT INT TERM

. "$(dirname "$0")/../lib/steps.sh"

NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LATER=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)
PAST=$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%SZ)
EARLIER=$(date -u -d '-2 days' +%Y-%m-%dT%H:%M:%SZ)

step "help for every action; usage errors exit 2"
run 0 "$CTL" config --help
has out "regularsctl config keygen"
for a in keygen anchor sign verify push status diff; do
	run 0 "$CTL" config "$a" --help
	has out "regularsctl config $a"
done
run 2 "$CTL" config
run 2 "$CTL" config frobnicate
has err "keygen, anchor, sign"
run 2 "$CTL" config sign --bogus x
has err "unknown option --bogus"
run 2 "$CTL" config diff --key k a b
has err "does not apply"
run 2 "$CTL" config keygen --out "$D"
has err "required"
run 2 "$CTL" config anchor --tenant acme --threshold 0 x.pub
has err "--threshold"

step "keygen x3 (three laptops), never overwriting"
for k in alice bob carol; do
	mkdir -p "$D/$k"
	run 0 "$CTL" config keygen --out "$D/$k" --name "$k"
	grep -Eq '^[0-9a-f]{64}$' "$D/out" || die "keygen did not print a 64-hex key id"
	cp "$D/out" "$D/$k.id"
	[ "$(stat -c %a "$D/$k/$k.key")" = 600 ] || die "$k.key is not 0600"
	grep -q "BEGIN PUBLIC KEY" "$D/$k/$k.pub" || die "$k.pub is not a PEM public key"
done
cp "$D/alice/alice.key" "$D/alice.key.before"
run 1 "$CTL" config keygen --out "$D/alice" --name alice
has err "never replaced"
cmp -s "$D/alice/alice.key" "$D/alice.key.before" || die "a refused keygen changed the key"
run 2 "$CTL" config keygen --out "$D/alice" --name ../x
run 1 "$CTL" config keygen --out "$D/nowhere" --name x
has err "not a directory"

step "anchor: 2 of 3 public keys; private keys and duplicates refused"
run 0 "$CTL" config anchor --tenant acme --threshold 2 --out "$D/anchor.json" \
	"$D/alice/alice.pub" "$D/bob/bob.pub" "$D/carol/carol.pub"
has out "key set v1 of tenant acme"
has out "3 keys, threshold 2"
for k in alice bob carol; do
	grep -q "$(cat "$D/$k.id")" "$D/anchor.json" || die "anchor lacks $k's key id"
done
grep -q '"threshold": 2' "$D/anchor.json" || die "anchor lacks the threshold"
run 1 "$CTL" config anchor --tenant acme --threshold 1 "$D/alice/alice.key"
has err "private key"
run 1 "$CTL" config anchor --tenant acme --threshold 1 "$D/alice/alice.pub" "$D/alice/alice.pub"
has err "same key"
run 2 "$CTL" config anchor --tenant acme --threshold 3 "$D/alice/alice.pub" "$D/bob/bob.pub"
has err "more than the 2 keys"
run 2 "$CTL" config anchor --tenant 'Acme Corp' --threshold 1 "$D/alice/alice.pub"

step "a store document signed by one key: verify says signature"
cat >"$D/store-7.json" <<JSON
{"type": "regulars-config", "tenant": "acme", "scope": "store", "store": "0042",
 "version": 7, "issued": "$NOW", "expires": "$LATER",
 "settings": {"screen": {"idle_after_ms": 15000, "privacy": "first_name"}}}
JSON
run 0 "$CTL" config sign --key "$D/alice/alice.key" --out "$D/store-7.signed" "$D/store-7.json"
has err "1 signature"
run 1 "$CTL" config verify --trust "$D/anchor.json" "$D/store-7.signed"
has err "refused: signature"
has err "1 valid signature of the 2 required"

step "bob adds his signature to the same envelope: verify OK"
run 0 "$CTL" config sign --key "$D/bob/bob.key" --envelope "$D/store-7.signed" \
	--out "$D/store-7.signed" "$D/store-7.json"
has err "2 signature"
run 0 "$CTL" config verify --trust "$D/anchor.json" "$D/store-7.signed"
has out "^OK scope=store tenant=acme store=0042 version=7 "
has out "signatures=2 threshold=2 keyset=1"
run 0 "$CTL" config verify --trust "$D/anchor.json" --store 0042 "$D/store-7.signed"
run 1 "$CTL" config verify --trust "$D/anchor.json" --store 0043 "$D/store-7.signed"
has err "wrong_target"
# The same signature twice counts once.
run 0 "$CTL" config sign --key "$D/bob/bob.key" --envelope "$D/store-7.signed" \
	--out "$D/again.signed" "$D/store-7.json"
has err "2 signature"
# A signature on another document is refused, not merged.
sed 's/"version": 7/"version": 8/' "$D/store-7.json" >"$D/store-8.json"
run 1 "$CTL" config sign --key "$D/carol/carol.key" --envelope "$D/store-7.signed" "$D/store-8.json"
has err "another document"

step "a tampered payload fails verification"
# Change one setting inside the signed payload (base64url) and keep the signatures.
payload=$(sed 's/.*"payload":"\([^"]*\)".*/\1/' "$D/store-7.signed")
pad=$(printf '%s' "$payload" | wc -c)
case $((pad % 4)) in 2) payload="$payload==" ;; 3) payload="$payload=" ;; esac
printf '%s' "$payload" | tr '_-' '/+' | base64 -d | sed 's/15000/15001/' >"$D/tampered.doc"
grep -q 15001 "$D/tampered.doc" || die "could not build the tampered document"
tpay=$(base64 -w0 "$D/tampered.doc" | tr '/+' '_-' | tr -d '=')
sed "s|\"payload\":\"[^\"]*\"|\"payload\":\"$tpay\"|" "$D/store-7.signed" >"$D/tampered.signed"
run 1 "$CTL" config verify --trust "$D/anchor.json" "$D/tampered.signed"
has err "refused: signature"
has err "0 valid signatures"

step "sign refuses what a device would refuse, and says which key"
sed 's/"privacy": "first_name"/"colour": "red"/' "$D/store-7.json" >"$D/unknown.json"
run 1 "$CTL" config sign --key "$D/alice/alice.key" --out "$D/unknown.signed" "$D/unknown.json"
has err "invalid"
has err "screen.colour"
[ ! -e "$D/unknown.signed" ] || die "a refused document was written"
sed 's/15000/5/' "$D/store-7.json" >"$D/range.json"
run 1 "$CTL" config sign --key "$D/alice/alice.key" "$D/range.json"
has err "screen.idle_after_ms"
[ ! -s "$D/out" ] || die "a refused document was printed"
sed "s/\"expires\": \"$LATER\"/\"expires\": \"$PAST\"/; s/\"issued\": \"$NOW\"/\"issued\": \"$EARLIER\"/" \
	"$D/store-7.json" >"$D/expired.json"
run 1 "$CTL" config sign --key "$D/alice/alice.key" "$D/expired.json"
has err "expired"
sed 's/"scope": "store"/"scope": "tenant"/' "$D/store-7.json" >"$D/scope.json"
run 1 "$CTL" config sign --key "$D/alice/alice.key" "$D/scope.json"
has err "malformed"
echo '{"hello": "world"}' >"$D/other.json"
run 1 "$CTL" config sign --key "$D/alice/alice.key" "$D/other.json"
has err "not a configuration or key-set document"
echo 'not json' >"$D/text.json"
run 1 "$CTL" config sign --key "$D/alice/alice.key" "$D/text.json"
has err "not JSON"
run 1 "$CTL" config sign --key "$D/alice/alice.pub" "$D/store-7.json"
has err "public key"

step "diff: header and settings changes; 0 same, 1 different"
cat >"$D/store-8.json" <<JSON
{"type": "regulars-config", "tenant": "acme", "scope": "store", "store": "0042",
 "version": 8, "issued": "$NOW", "expires": "$LATER",
 "settings": {"screen": {"idle_after_ms": 20000, "default_language": "de"}}}
JSON
run 1 "$CTL" config diff "$D/store-7.signed" "$D/store-8.json"
has out "^~ version: 7 -> 8$"
has out "^~ screen.idle_after_ms: 15000 -> 20000$"
has out "^- screen.privacy: \"first_name\"$"
has out "^+ screen.default_language: \"de\"$"
lines out 4
run 0 "$CTL" config diff "$D/store-7.signed" "$D/store-7.json"
lines out 0
run 2 "$CTL" config diff "$D/store-7.json"
run 2 "$CTL" config diff "$D/store-7.json" "$D/text.json"
has err "not JSON"

step "rotation: key set v2 {carol, dave}, signed by the old set and the new"
mkdir -p "$D/dave"
run 0 "$CTL" config keygen --out "$D/dave" --name dave
run 0 "$CTL" config anchor --tenant acme --threshold 2 --version 2 --expires-days 365 \
	--out "$D/keys-2.json" "$D/carol/carol.pub" "$D/dave/dave.pub"
has out "key set v2"
run 0 "$CTL" config sign --key "$D/carol/carol.key" --key "$D/dave/dave.key" \
	--out "$D/keys-2.signed" "$D/keys-2.json"
run 1 "$CTL" config verify --trust "$D/anchor.json" "$D/keys-2.signed"
has err "refused: signature"
has err "key set v1"
run 0 "$CTL" config sign --key "$D/alice/alice.key" --envelope "$D/keys-2.signed" \
	--out "$D/keys-2.signed" "$D/keys-2.json"
run 0 "$CTL" config verify --trust "$D/anchor.json" "$D/keys-2.signed"
has out "^OK scope=keys tenant=acme version=2 keys=2 threshold=2 "
# After the rotation alice and bob are retired; carol and dave sign.
run 1 "$CTL" config verify --trust "$D/anchor.json" --keys "$D/keys-2.signed" "$D/store-7.signed"
has err "refused: signature"
run 0 "$CTL" config sign --key "$D/carol/carol.key" --key "$D/dave/dave.key" \
	--out "$D/store-8.signed" "$D/store-8.json"
run 0 "$CTL" config verify --trust "$D/anchor.json" --keys "$D/keys-2.signed" "$D/store-8.signed"
has out "version=8 .*keyset=2"
run 1 "$CTL" config verify --trust "$D/anchor.json" --keys "$D/store-8.signed" "$D/store-8.signed"
has err "rotation"
run 1 "$CTL" config diff "$D/anchor.json" "$D/keys-2.json"
has out "^~ version: 1 -> 2$"
has out "^- keys: $(cat "$D/alice.id")$"
has out "^+ keys: "

step "push refuses before connecting: unsigned, oversized, version-1 key set"
P="--broker 127.0.0.1:1 --ca $D/none --cert $D/none --key $D/none"
# shellcheck disable=SC2086
run 1 "$CTL" config push $P "$D/store-7.json"
has err "not a signed envelope"
head -c 70000 /dev/zero | tr '\0' ' ' >"$D/huge.signed"
# shellcheck disable=SC2086
run 1 "$CTL" config push $P "$D/huge.signed"
has err "over the limit of 65536"
run 0 "$CTL" config sign --key "$D/alice/alice.key" --out "$D/anchor.signed" "$D/anchor.json"
# shellcheck disable=SC2086
run 1 "$CTL" config push $P "$D/anchor.signed"
has err "never published"
# shellcheck disable=SC2086
run 2 "$CTL" config push $P --clear store/00+42
run 2 "$CTL" config push --broker nowhere "$D/store-7.signed"
has err "required"

echo "ok: regularsctl config offline"
