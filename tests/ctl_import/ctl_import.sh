#!/bin/sh
# ctl_import.sh REGULARSCTL SQLITE3 - `regularsctl import` and `regularsctl
# profile` against a real central store under $TMPDIR. Each step checks what
# the operator sees (output, exit status) and what the database holds.
set -eu

CTL=${1:?usage: ctl_import.sh REGULARSCTL SQLITE3}
SQL=${2:?usage: ctl_import.sh REGULARSCTL SQLITE3}
D=$(mktemp -d "${TMPDIR:-/tmp}/rg-ctl-import-XXXXXX")
trap 'rm -rf "$D"' EXIT INT TERM
export REGULARS_LOG_LEVEL=warn
DB=$D/central.db

. "$(dirname "$0")/../lib/steps.sh"
lacks() { ! grep -qF -- "$2" "$D/$1" || { cat "$D/$1" >&2; die "$1 has: $2"; }; }
q() { "$SQL" "$DB" "$1"; }
eq() { [ "$1" = "$2" ] || die "$3: got '$1', expected '$2'"; }

# a fixed tenant key: 32 bytes
printf '0123456789abcdef0123456789abcdef' >"$D/tenant.key"

step "help and usage"
run 0 "$CTL" import --help
hasF out "regularsctl import --db CENTRAL.db"
for sub in show link merge unmerge erase; do
	run 0 "$CTL" profile "$sub" --help
	hasF out "regularsctl profile merge"
done
run 2 "$CTL" import "$D/x.jsonl"
hasF err "--db is required"
run 2 "$CTL" import --db "$DB"
run 2 "$CTL" import --db "$DB" --batch 0 "$D/x.jsonl"
run 2 "$CTL" profile merge --db "$DB" p-1
run 2 "$CTL" profile frobnicate
run 2 "$CTL" profile show --db "$DB" p-1 --bogus

step "files: profiles as JSON Lines and CSV, interactions as JSON Lines and CSV"
"$CTL" customers generate --count 4 --out "$D/customers.jsonl"
cat >"$D/more.csv" <<'EOF'
id,version,name,first_name,tier,points,language,loyalty
p-000050,1,"Zoë ""Zed"" Quux",Zoë,gold,700,fr,2000000000503
EOF
cat >"$D/history.jsonl" <<'EOF'
{"type":"interaction","id":"0190a000-0000-7000-8000-000000000001","profile":"p-000001","channel":"web","department":"orders","kind":"order","at":"2026-01-10T10:00:00Z","body":{"summary":"Order 7001 ready for pickup"}}

{"type":"interaction","id":"0190a000-0000-7000-8000-000000000002","identifier":{"type":"loyalty","value":"2000000000503"},"channel":"call_centre","department":"service","kind":"episode_opened","at":"2026-01-11T09:00:00+01:00","body":{"episode":"e-90","title":"Washer noisy"}}
EOF
cat >"$D/calls.csv" <<'EOF'
id,profile,identifier_type,identifier_value,channel,department,kind,at,episode,points,reason
0190a000-0000-7000-8000-000000000003,p-000050,,,call_centre,repairs,episode_assigned,2026-01-12T09:00:00Z,e-90,,
0190a000-0000-7000-8000-000000000004,,loyalty,2000000000015,web,loyalty,points_earned,2026-01-12T10:00:00Z,,250,web order
EOF
# a bad line in each format: named by file:line and field, nothing applied
cp "$D/history.jsonl" "$D/bad.jsonl"
echo '{"type":"interaction","id":"0190a000-0000-7000-8000-000000000009","profile":"p-000001","channel":"web","kind":"order","at":"2026-02-30T10:00:00Z","body":{"summary":"x"}}' >>"$D/bad.jsonl"
cp "$D/calls.csv" "$D/bad.csv"
echo '0190a000-0000-7000-8000-00000000000a,p-000001,,,web,,points_earned,2026-01-12T11:00:00Z,,lots,' >>"$D/bad.csv"

step "bad lines: every one reported, nothing imported"
run 1 "$CTL" import --db "$DB" --tenant-key "$D/tenant.key" "$D/customers.jsonl" "$D/bad.jsonl" "$D/bad.csv"
hasF err "bad.jsonl:4: key \"at\": not an RFC 3339 time"
hasF err "bad.csv:4: column \"points\": a whole number"
hasF err "2 bad lines; nothing was imported"
eq "$(q 'select count(*) from profiles')" 0 "profiles after a refused import"
eq "$(q 'select count(*) from interactions')" 0 "interactions after a refused import"

step "identifiers without the tenant key are bad lines"
run 1 "$CTL" import --db "$DB" "$D/customers.jsonl"
hasF err "customers.jsonl:1: identifiers: tokenising them needs the tenant key"

step "import"
run 0 "$CTL" import --db "$DB" --tenant-key "$D/tenant.key" "$D/customers.jsonl" "$D/more.csv" "$D/history.jsonl" "$D/calls.csv"
hasF out "import: 4 files"
hasF out "5 profiles (5 written), 4 interactions (4 applied"
eq "$(q 'select count(*) from profiles')" 5 "profiles"
eq "$(q "select count(*) from interactions where device = 'import'")" 4 "interactions"
# raw card numbers are never stored
lacks_db() { ! grep -qaF -- "$1" "$DB" "$DB-wal" 2>/dev/null || die "the database holds $1"; }
lacks_db 2000000000503
lacks_db 2000000000015

step "the imported history shows on the profile"
run 0 "$CTL" profile show --db "$DB" p-000050
hasF out 'name: Zoë "Zed" Quux  tier: gold'
hasF out "points 700"
hasF out "e-90       repairs    open      Washer noisy"
hasF out "loyalty  token"
lacks out "2000000000503"
run 0 "$CTL" profile show --db "$DB" --card 2000000000015 --tenant-key "$D/tenant.key"
hasF out "profile p-000001"
hasF out "Order 7001 ready for pickup"

step "re-import: nothing changes"
before=$(q 'select max(seq) from changes')
run 0 "$CTL" import --db "$DB" --tenant-key "$D/tenant.key" --batch 2 "$D/customers.jsonl" "$D/more.csv" "$D/history.jsonl" "$D/calls.csv"
hasF out "5 profiles (0 written), 4 interactions (0 applied, 4 already there"
eq "$(q 'select max(seq) from changes')" "$before" "change log after a re-import"

step "--skip-bad imports the good lines and counts the bad"
run 0 "$CTL" import --db "$DB" --tenant-key "$D/tenant.key" --skip-bad "$D/bad.jsonl" "$D/bad.csv"
hasF err "bad.jsonl:4:"
hasF out "2 bad lines skipped"
eq "$(q "select count(*) from interactions where device = 'import'")" 4 "interactions after --skip-bad"

step "merge, show through the absorbed id, unmerge"
p1_before=$(q "select visits, points_delta from profiles where id = 'p-000001'")
run 0 "$CTL" profile merge --db "$DB" p-000050 p-000001 --by alice
hasF out "merge 1: p-000050 merged into p-000001"
eq "$(q "select merged_into from profiles where id = 'p-000050'")" p-000001 "redirect"
eq "$(q "select count(*) from identifiers where profile_id = 'p-000001'")" 3 "identifiers moved"
run 0 "$CTL" profile show --db "$DB" p-000050
hasF out "p-000050 is merged into p-000001; showing p-000001"
hasF out "Washer noisy"
hasF out "merge 1: p-000050 into p-000001"
hasF out "by alice, 1 identifier moved"
run 1 "$CTL" profile merge --db "$DB" p-000050 p-000002
hasF err "p-000050 is merged into p-000001 already"
run 0 "$CTL" profile merge --db "$DB" p-000001 p-000002 --by bob
run 1 "$CTL" profile unmerge --db "$DB" 1
hasF err "merge 2 builds on it"
run 0 "$CTL" profile unmerge --db "$DB" 2
run 0 "$CTL" profile unmerge --db "$DB" 1
hasF out "merge 1 undone"
eq "$(q "select coalesce(merged_into, '-') from profiles where id = 'p-000050'")" - "redirect removed"
eq "$(q "select count(*) from identifiers where profile_id = 'p-000050'")" 1 "identifier back"
eq "$(q "select visits, points_delta from profiles where id = 'p-000001'")" "$p1_before" "p-000001 derived state"
run 0 "$CTL" profile show --db "$DB" p-000050
hasF out "e-90       repairs    open      Washer noisy"
hasF out "undone at"
eq "$(q "select group_concat(what, ',') from (select what from changes where what in ('merge','unmerge') order by seq)")" \
	"merge,merge,merge,merge,unmerge,unmerge,unmerge,unmerge" "change log of the merges"

step "link: a taken card is refused, --move takes it"
run 1 "$CTL" profile link --db "$DB" p-000002 --card 2000000000503 --tenant-key "$D/tenant.key"
hasF err "linked to profile p-000050"
run 0 "$CTL" profile link --db "$DB" p-000002 --card 2000000000503 --tenant-key "$D/tenant.key" --move
hasF out "linked a loyalty card to p-000002"
run 1 "$CTL" profile link --db "$DB" p-000002 --card 2000000000504 --tenant-key "$D/tenant.key"
hasF err "bad_check_digit"

step "erase: confirmation, then nothing of the person is left"
run 2 "$CTL" profile erase --db "$DB" p-000050 </dev/null
hasF err "--yes confirms the erasure"
run 0 "$CTL" profile erase --db "$DB" p-000050 --yes
hasF out "erased p-000050 (1 profile)"
run 0 "$CTL" profile show --db "$DB" p-000050
hasF out "ERASED (tombstone)"
run 0 "$CTL" profile erase --db "$DB" p-000050 --yes
hasF out "erased already"
run 1 "$CTL" profile erase --db "$DB" p-999999 --yes
hasF err "no profile p-999999"
if grep -qaF "Quux" "$DB" "$DB-wal" 2>/dev/null; then die "the erased name is still in the database files"; fi
if grep -qaF "Washer noisy" "$DB" "$DB-wal" 2>/dev/null; then die "the erased episode is still in the database files"; fi
# a re-import neither revives the person nor applies their history again
run 0 "$CTL" import --db "$DB" --tenant-key "$D/tenant.key" "$D/more.csv"
hasF out "1 profiles (0 written)"
eq "$(q "select erased from profiles where id = 'p-000050'")" 1 "tombstone after a re-import"

echo "ok"
