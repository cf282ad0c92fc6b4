#!/bin/sh
# make demo: starts the Regulars system from the build directory given as $1.
# Parts are started as they exist in the build; until the daemons land it
# shows what there is to try.
set -eu
build=${1:-build}
echo "Regulars demo"
echo
have() { [ -x "$build/$1" ]; }
if have tools/regularsctl/regularsctl; then
	echo "  regularsctl:  $build/tools/regularsctl/regularsctl --help"
	"$build/tools/regularsctl/regularsctl" --help | sed 's/^/      /'
fi
for d in firmware/regulars-device gateway/regulars-gateway cloud-sync/regulars-cloud; do
	if have "$d"; then
		echo "  daemon built: $build/$d"
	else
		echo "  not built yet: $(basename "$d") (arrives with its issue)"
	fi
done
echo
echo "The full store demo (brokers, cloud, gateway, kiosk, handheld) starts here once the"
echo "daemons exist; see README.md, 'What works today'."
