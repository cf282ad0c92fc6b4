#!/bin/sh
# tests/browser/run.sh - ctest's entry for the browser test of the device
# screens (docs/testing-browser.md). Checks that node and Chromium are there
# (missing ones FAIL the test: `make deps` installs them), makes sure the
# pinned playwright-core is installed in the build directory (no network when
# it already is; `npm ci` from the committed lockfile otherwise), then runs
# device_screens.mjs with every argument passed through.
#
#   run.sh --work DIR [--chromium PATH] -- <device_screens.mjs arguments>
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=""
chromium="${REGULARS_CHROMIUM:-}"
while [ $# -gt 0 ]; do
	case "$1" in
	--work) work="$2"; shift 2 ;;
	--chromium) [ -z "$chromium" ] && chromium="$2"; shift 2 ;;
	--) shift; break ;;
	*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
if [ -z "$work" ]; then
	echo "usage: run.sh --work DIR [--chromium PATH] -- ARGS..." >&2
	exit 2
fi

mkdir -p "$work"
work=$(cd "$work" && pwd)

fail() {
	echo "FAIL: $*" >&2
	echo "      (make deps, i.e. scripts/deps.sh as root, installs chromium, nodejs and npm)" >&2
	exit 1
}

command -v node >/dev/null 2>&1 || fail "node is not installed (Debian package nodejs)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || fail "node $(node --version) is too old; playwright-core needs 18 or newer"
if [ -z "$chromium" ]; then
	chromium=$(command -v chromium 2>/dev/null || true)
fi
[ -n "$chromium" ] && [ -x "$chromium" ] || fail "chromium is not installed (Debian package chromium)"

# The pinned version is the one in the committed lockfile.
want=$(node -e 'const l=require(process.argv[1]);process.stdout.write(l.packages["node_modules/playwright-core"].version)' \
	"$here/package-lock.json")
have=""
if [ -f "$work/node_modules/playwright-core/package.json" ]; then
	have=$(node -e 'process.stdout.write(require(process.argv[1]).version)' \
		"$work/node_modules/playwright-core/package.json")
fi
if [ "$have" != "$want" ]; then
	command -v npm >/dev/null 2>&1 || fail "npm is not installed (Debian package npm) and playwright-core $want is not in $work/node_modules"
	cp "$here/package.json" "$here/package-lock.json" "$work/"
	echo "browser: installing playwright-core $want into $work/node_modules (npm ci)"
	if ! (cd "$work" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error >"$work/npm-ci.log" 2>&1); then
		cat "$work/npm-ci.log" >&2
		fail "npm ci failed (see above); the npm registry must be reachable once to install playwright-core $want"
	fi
fi

exec node "$here/device_screens.mjs" --modules "$work/node_modules" --chromium "$chromium" "$@"
