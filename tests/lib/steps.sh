# steps.sh - sourced by the shell tests of the command-line tools (tests/ctl_*):
# each step runs a command as a user would, checks its exit status and what it
# printed. The sourcing script sets D to its scratch directory first.
#
#   step TEXT            announce a step
#   die TEXT             fail the test
#   run STATUS CMD...    run CMD, stdout in $D/out and stderr in $D/err; fail
#                        (showing both) unless it exits with STATUS
#   has FILE RE          $D/FILE matches the basic regular expression RE
#   hasF FILE TEXT       $D/FILE contains TEXT
#   lines FILE N         $D/FILE has N lines

step() { printf '== %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

run() {
	want=$1
	shift
	set +e
	"$@" >"$D/out" 2>"$D/err"
	got=$?
	set -e
	if [ "$got" != "$want" ]; then
		printf -- '--- stdout\n' >&2
		cat "$D/out" >&2
		printf -- '--- stderr\n' >&2
		cat "$D/err" >&2
		die "$* exited $got, expected $want"
	fi
}
has() { grep -q -- "$2" "$D/$1" || { cat "$D/$1" >&2; die "$1 lacks: $2"; }; }
hasF() { grep -qF -- "$2" "$D/$1" || { cat "$D/$1" >&2; die "$1 lacks: $2"; }; }
lines() { [ "$(wc -l <"$D/$1")" -eq "$2" ] || { cat "$D/$1" >&2; die "$1 is not $2 lines"; }; }
