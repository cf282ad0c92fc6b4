#!/bin/sh
# scripts/demo.sh - a complete Regulars store on this machine: tenant PKI, the
# central broker with the cloud service and 1000 sample customers, the store
# broker with its gateway, a kiosk and a staff handheld with simulated
# readers. Prints where to look and what to try, then runs until Ctrl-C and
# stops everything in reverse order. `make demo` runs it; docs/demo.md.
set -eu

usage() {
	cat <<'EOF'
usage: scripts/demo.sh [--dir DIR] [--build DIR] [--check] [BUILD]
       scripts/demo.sh --help

Start a complete Regulars store from a build directory: tenant PKI, the
central Mosquitto broker and regulars-cloud (1000 sample customers), the
store broker and regulars-gateway, a kiosk and a staff handheld
(regulars-device with simulated readers). Prints the screens' URLs, the
staff PIN and `regularsctl tap` lines to try, then waits; Ctrl-C (SIGINT)
or SIGTERM stops every process in reverse order.

  --dir DIR    working directory for keys, configs, databases, sockets and
               logs (default $XDG_RUNTIME_DIR/regulars-demo, else a new
               directory under $TMPDIR). An earlier demo directory is reused:
               its processes are stopped and its contents replaced
  --build DIR  the CMake build directory (default: build, or BUILD)
  --check      non-interactive self test: start everything, tap known cards,
               check the interactions reach the central store and the
               outboxes drain, stop, exit 0 ("OK") or 1 with the reason.
               Without --dir it uses a temporary directory, removed on success
  --help       this text

Environment: REGULARS_MOSQUITTO (the broker binary; default mosquitto on
PATH, /usr/sbin, /usr/local/sbin); REGULARSCTL, REGULARS_DEVICE,
REGULARS_GATEWAY, REGULARS_CLOUD override the binaries found in the build
directory. Exit status: 0 clean stop or check passed, 1 failure, 2 usage
error.
EOF
}

# ---- command line ----
BUILD=build
DIR=
CHECK=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--dir)
		[ $# -ge 2 ] || { echo "demo: --dir needs a directory" >&2; exit 2; }
		DIR=$2
		shift 2
		;;
	--build)
		[ $# -ge 2 ] || { echo "demo: --build needs a directory" >&2; exit 2; }
		BUILD=$2
		shift 2
		;;
	--check)
		CHECK=1
		shift
		;;
	-*)
		echo "demo: unknown option $1 (see --help)" >&2
		exit 2
		;;
	*)
		BUILD=$1
		shift
		;;
	esac
done

# ---- fixed names of the demo store ----
TENANT=demo
STORE=0042
GW=gw-$STORE
CLOUD=cloud-1
KIOSK=dev-$STORE-k1
HANDHELD=dev-$STORE-h1
IT=it-demo
PIN=1234
N_CUSTOMERS=1000 # all of them at central
N_LOCAL=900      # the devices' local seed: 901..1000 are known only at central
# (central replicates to the store only its own customers and recent visitors:
# the others are found by a lookup through the gateway, docs/replication.md)
STOP_WAIT=10     # seconds a process gets after SIGTERM before SIGKILL

die() {
	printf '\ndemo: %s\n' "$*" >&2
	exit 1
}

# ---- binaries ----
[ -d "$BUILD" ] || die "no build directory $BUILD (run make, or give --build DIR)"
BUILD=$(cd "$BUILD" && pwd)
CTL=${REGULARSCTL:-$BUILD/tools/regularsctl/regularsctl}
DEVICE=${REGULARS_DEVICE:-$BUILD/firmware/daemon/regulars-device}
GATEWAY=${REGULARS_GATEWAY:-$BUILD/gateway/regulars-gateway}
CLOUDD=${REGULARS_CLOUD:-$BUILD/cloud-sync/regulars-cloud}
for b in "$CTL" "$DEVICE" "$GATEWAY" "$CLOUDD"; do
	[ -x "$b" ] || die "$b is not built (run make)"
done
MOSQ=${REGULARS_MOSQUITTO:-}
if [ -z "$MOSQ" ]; then
	MOSQ=$(command -v mosquitto 2>/dev/null || true)
	for m in /usr/sbin/mosquitto /usr/local/sbin/mosquitto; do
		[ -n "$MOSQ" ] || { [ -x "$m" ] && MOSQ=$m; } || true
	done
fi
if [ -z "$MOSQ" ] || [ ! -x "$MOSQ" ]; then
	die "mosquitto not found (make deps installs it; or set REGULARS_MOSQUITTO)"
fi
if [ "$CHECK" = 1 ] && ! command -v sqlite3 >/dev/null 2>&1; then
	die "--check needs the sqlite3 command (make deps installs it)"
fi

# ---- the working directory ----
REMOVE_DIR=0
if [ -z "$DIR" ]; then
	if [ "$CHECK" = 0 ] && [ -n "${XDG_RUNTIME_DIR:-}" ] && [ -d "$XDG_RUNTIME_DIR" ]; then
		DIR=$XDG_RUNTIME_DIR/regulars-demo
	else
		DIR=$(mktemp -d "${TMPDIR:-/tmp}/regulars-demo-XXXXXX")
		[ "$CHECK" = 0 ] || REMOVE_DIR=1
	fi
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
case $DIR in
*[[:space:]#]*) die "the demo directory must not contain spaces or '#' (Mosquitto configs): $DIR" ;;
esac
# A Unix socket path is at most 107 bytes: $DIR/handheld.sock must fit.
[ ${#DIR} -le 90 ] || die "the demo directory's path is too long for the reader sockets (max 90): $DIR"

pid_alive() { # pid_alive PID: running (not a zombie)
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

if [ -f "$DIR/.regulars-demo" ]; then
	# An earlier demo in this directory: refuse if it still runs, stop its
	# leftover daemons (only processes whose command line names this
	# directory), then start afresh.
	if [ -f "$DIR/run/demo.pid" ]; then
		p=$(cat "$DIR/run/demo.pid")
		if [ "$p" != "$$" ] && pid_alive "$p" && grep -qa "demo.sh" "/proc/$p/cmdline" 2>/dev/null; then
			die "a demo is already running in $DIR (pid $p); stop it with Ctrl-C or kill $p"
		fi
	fi
	for name in handheld kiosk gateway cloud store-broker central-broker; do
		f=$DIR/run/$name.pid
		[ -f "$f" ] || continue
		p=$(cat "$f")
		if pid_alive "$p" && grep -qaF "$DIR/" "/proc/$p/cmdline" 2>/dev/null; then
			echo "demo: stopping $name (pid $p) left over from an earlier run"
			kill -TERM "$p" 2>/dev/null || true
			n=$((STOP_WAIT * 10))
			while pid_alive "$p" && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
			if pid_alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
		fi
	done
	find "$DIR" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
elif [ -n "$(ls -A "$DIR")" ]; then
	die "$DIR is not empty and not a demo directory; give --dir an empty or new directory"
fi
chmod 700 "$DIR"
: >"$DIR/.regulars-demo"
mkdir -p "$DIR/logs" "$DIR/run" "$DIR/central" "$DIR/gateway" "$DIR/kiosk" "$DIR/handheld"
echo $$ >"$DIR/run/demo.pid"
SETUP_LOG=$DIR/logs/setup.log
: >"$SETUP_LOG"
PKI=$DIR/pki

# ---- processes ----
PROCS=""        # "name:pid" in start order
SLEEPER=""      # the wait loop's sleep
STOPPED_OK=1

# spawn NAME CMD...: start CMD in its own session (so a Ctrl-C in the
# terminal reaches only this script, which then stops everything in order),
# stdin from /dev/null, stdout+stderr to logs/NAME.log.
spawn() {
	name=$1
	shift
	if command -v setsid >/dev/null 2>&1; then
		setsid "$@" </dev/null >"$DIR/logs/$name.log" 2>&1 &
	else
		"$@" </dev/null >"$DIR/logs/$name.log" 2>&1 &
	fi
	SPAWNED=$!
	PROCS="$PROCS $name:$SPAWNED"
	echo "$SPAWNED" >"$DIR/run/$name.pid"
}

# stop_one NAME PID: SIGTERM, up to STOP_WAIT seconds, then SIGKILL; reaps it.
stop_one() {
	how="stopped"
	if pid_alive "$2"; then
		kill -TERM "$2" 2>/dev/null || true
		n=$((STOP_WAIT * 10))
		while pid_alive "$2" && [ $n -gt 0 ]; do
			sleep 0.1
			n=$((n - 1))
		done
		if pid_alive "$2"; then
			kill -KILL "$2" 2>/dev/null || true
			how="did not stop within ${STOP_WAIT}s: killed"
			STOPPED_OK=0
		fi
	else
		how="had already exited"
	fi
	rc=0
	wait "$2" 2>/dev/null || rc=$?
	[ "$how" != "had already exited" ] || how="$how (status $rc)"
	if [ "$how" = stopped ] && [ "$rc" != 0 ]; then
		how="stopped with exit status $rc"
		STOPPED_OK=0
	fi
	rm -f "$DIR/run/$1.pid"
	printf '  %-14s %s\n' "$1" "$how"
}

# stop_all: every process, in reverse start order.
stop_all() {
	[ -n "$PROCS" ] || return 0
	if [ -n "$SLEEPER" ]; then
		kill "$SLEEPER" 2>/dev/null || true
		wait "$SLEEPER" 2>/dev/null || true
		SLEEPER=""
	fi
	rev=""
	for p in $PROCS; do rev="$p $rev"; done
	PROCS=""
	echo "Stopping (SIGTERM, up to ${STOP_WAIT}s each, then SIGKILL):"
	for p in $rev; do
		stop_one "${p%%:*}" "${p#*:}"
	done
}

on_exit() {
	rc=$?
	trap - EXIT INT TERM
	if [ -n "$PROCS" ]; then
		stop_all
	fi
	rm -f "$DIR/run/demo.pid"
	if [ "$rc" = 0 ] && [ "$REMOVE_DIR" = 1 ]; then
		rm -rf "$DIR"
	elif [ "$rc" != 0 ] && [ "$CHECK" = 1 ]; then
		echo "demo: kept $DIR for a post-mortem (logs in $DIR/logs)" >&2
	fi
	exit "$rc"
}
on_signal() {
	trap '' INT TERM
	echo
	echo "Signal received."
	stop_all
	if [ "$STOPPED_OK" = 1 ]; then
		echo "Everything stopped cleanly. Files and logs stay in $DIR"
		exit 0
	fi
	echo "Everything stopped, not all cleanly (see above). Logs in $DIR/logs"
	exit 1
}
trap on_exit EXIT
trap on_signal INT TERM

# show_log FILE: the end of a log, for an error message.
show_log() {
	echo "--- last lines of $1:" >&2
	tail -n 15 "$1" >&2 || true
	echo "---" >&2
}

# wait_log NAME PID SECONDS PATTERN...: wait until logs/NAME.log matches every
# extended regex PATTERN, the process stays alive, at most SECONDS.
wait_log() {
	wl_name=$1
	wl_pid=$2
	wl_secs=$3
	n=$((wl_secs * 10))
	shift 3
	log=$DIR/logs/$wl_name.log
	while :; do
		all=1
		for pat in "$@"; do
			grep -Eq -- "$pat" "$log" 2>/dev/null || { all=0; break; }
		done
		[ "$all" = 0 ] || return 0
		if ! pid_alive "$wl_pid"; then
			WAIT_WHY="$wl_name exited before it was ready"
			return 2
		fi
		if [ $n -le 0 ]; then
			WAIT_WHY="$wl_name not ready within ${wl_secs}s (waiting for: $pat)"
			return 1
		fi
		sleep 0.1
		n=$((n - 1))
	done
}
# ready NAME PID SECONDS PATTERN...: wait_log or die naming the log.
ready() {
	WAIT_WHY=""
	if ! wait_log "$@"; then
		show_log "$DIR/logs/$1.log"
		die "$WAIT_WHY; see $DIR/logs/$1.log"
	fi
}

# quiet CMD...: run a setup command, output to logs/setup.log; on failure
# show it and stop.
quiet() {
	echo "\$ $*" >>"$SETUP_LOG"
	if ! "$@" >>"$SETUP_LOG" 2>&1; then
		show_log "$SETUP_LOG"
		die "failed: $*"
	fi
}

STEP=0
STEPS=8
step() {
	STEP=$((STEP + 1))
	printf '[%d/%d] %s\n' "$STEP" "$STEPS" "$*"
}

# A port nobody listens on, away from 1883/8883; brokers retry if it is
# taken by the time they bind.
pick_port() {
	while :; do
		r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
		p=$((20000 + r % 40000))
		if command -v ss >/dev/null 2>&1 && ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
			continue
		fi
		echo "$p"
		return 0
	done
}

# start_broker NAME ROLE OUT: broker config on a free port, start, wait for
# it; sets BROKER_PORT.
start_broker() {
	sb_name=$1
	sb_role=$2
	sb_out=$3
	root=""
	[ "$(id -u)" != 0 ] || root=--run-as-root
	store_arg=""
	[ "$sb_role" != store ] || store_arg="--store $STORE"
	tries=0
	while :; do
		BROKER_PORT=$(pick_port)
		# shellcheck disable=SC2086 # store_arg and root are one or two words
		quiet "$CTL" broker config --dir "$PKI" --role "$sb_role" $store_arg \
			--port "$BROKER_PORT" --bind 127.0.0.1 --out "$sb_out" $root
		spawn "$sb_name" "$MOSQ" -c "$sb_out/mosquitto.conf"
		WAIT_WHY=""
		if wait_log "$sb_name" "$SPAWNED" 10 "mosquitto version .* running"; then
			return 0
		fi
		tries=$((tries + 1))
		if grep -q "Address already in use" "$DIR/logs/$sb_name.log" && [ $tries -lt 5 ]; then
			stop_one "$sb_name" "$SPAWNED" >/dev/null
			PROCS=${PROCS% "$sb_name:$SPAWNED"}
			continue
		fi
		show_log "$DIR/logs/$sb_name.log"
		die "$WAIT_WHY; see $DIR/logs/$sb_name.log"
	done
}

# line_of FILE N / field extractors for the customer file (docs/customers.md)
cust_id() { sed 's/^{"id":"\([^"]*\)".*/\1/'; }
cust_name() { sed 's/.*"profile":{"name":"\([^"]*\)".*/\1/'; }
cust_card() { sed 's/.*{"type":"loyalty","value":"\([0-9]*\)"}.*/\1/'; }
cust_uid() { sed -n 's/.*{"type":"nfc_uid","value":"\([0-9A-Fa-f]*\)"}.*/\1/p'; }

# ---- 1. PKI ----
step "PKI: tenant CA \"$TENANT\"; certificates for broker-$STORE, broker-central, $GW, $CLOUD, $KIOSK (kiosk), $HANDHELD (handheld), $IT (IT); config-signing keys alice, bob, carol (2 of 3)"
quiet "$CTL" pki init --dir "$PKI" --tenant "$TENANT"
quiet "$CTL" pki issue --dir "$PKI" --kind broker --id "broker-$STORE" --store "$STORE" --san localhost --san 127.0.0.1
quiet "$CTL" pki issue --dir "$PKI" --kind broker --id broker-central --san localhost --san 127.0.0.1
quiet "$CTL" pki issue --dir "$PKI" --kind gateway --id "$GW" --store "$STORE"
quiet "$CTL" pki issue --dir "$PKI" --kind cloud --id "$CLOUD"
quiet "$CTL" pki issue --dir "$PKI" --kind device --id "$KIOSK" --store "$STORE"
quiet "$CTL" pki issue --dir "$PKI" --kind device --id "$HANDHELD" --store "$STORE"
quiet "$CTL" pki issue --dir "$PKI" --kind it --id "$IT"
# Pushed configuration (docs/config.md): three signers, any two of them
# together may reconfigure the store; the anchor goes to every receiver.
for signer in alice bob carol; do
	mkdir -p "$DIR/it/$signer"
	quiet "$CTL" config keygen --out "$DIR/it/$signer" --name "$signer"
done
ANCHOR=$DIR/it/config-trust.json
quiet "$CTL" config anchor --tenant "$TENANT" --threshold 2 --out "$ANCHOR" \
	"$DIR/it/alice/alice.pub" "$DIR/it/bob/bob.pub" "$DIR/it/carol/carol.pub"
# A tenant document for IT to sign and push: a new kiosk greeting.
ISSUED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EXPIRES=$(date -u -d '+90 days' +%Y-%m-%dT%H:%M:%SZ) || die "date -d is needed (GNU coreutils)"
cat >"$DIR/it/greeting.json" <<EOF
{"type": "regulars-config", "tenant": "$TENANT", "scope": "tenant", "version": 1,
 "issued": "$ISSUED", "expires": "$EXPIRES",
 "settings": {"screen": {"text": {"en": {"greeting": "Lovely to see you again, {name}!"}}}}}
EOF

# ---- 2. brokers ----
step "Brokers: central and store Mosquitto (mutual TLS, MQTT v5) on free ports of 127.0.0.1"
start_broker central-broker central "$DIR/brokers/central"
CENTRAL_PORT=$BROKER_PORT
CENTRAL_PID=$SPAWNED
start_broker store-broker store "$DIR/brokers/store"
STORE_PORT=$BROKER_PORT
STORE_PID=$SPAWNED

# ---- 3. tenant key and customers ----
step "Tenant identifier key (32 random bytes, 0600) and $N_CUSTOMERS sample customers"
(umask 077 && head -c 32 /dev/urandom >"$DIR/tenant.key")
chmod 600 "$DIR/tenant.key"
quiet "$CTL" customers generate --count "$N_CUSTOMERS" --out "$DIR/customers.jsonl"
quiet "$CTL" customers generate --count "$N_LOCAL" --out "$DIR/customers-local.jsonl"
quiet "$CTL" customers generate --count 1 --first-id 5000 --out "$DIR/not-a-customer.jsonl"
# A customer for IT to import centrally while the demo runs: a regular of this
# store, so replication brings them to both devices within seconds.
quiet "$CTL" customers generate --count 1 --first-id 6000 --out "$DIR/new-customer.tmp"
sed 's/"home_store":"[0-9]*"/"home_store":"'"$STORE"'"/' "$DIR/new-customer.tmp" >"$DIR/new-customer.jsonl"
rm -f "$DIR/new-customer.tmp"

# ---- 4. central: regulars-cloud ----
step "Central: regulars-cloud ($CLOUD) with all $N_CUSTOMERS customers in $DIR/central/cloud.db"
cat >"$DIR/central/cloud.json" <<EOF
{
  "identity": "$CLOUD",
  "broker": {"host": "127.0.0.1", "port": $CENTRAL_PORT},
  "tls": {"ca_file": "$PKI/ca.crt",
          "cert_file": "$PKI/$CLOUD.crt",
          "key_file": "$PKI/$CLOUD.key"},
  "store": {"backend": "sqlite", "path": "$DIR/central/cloud.db"},
  "tenant_key_file": "$DIR/tenant.key",
  "replication": {"policy": "home_and_recent"},
  "stats_interval_s": 15,
  "log_level": "info"
}
EOF
quiet "$CLOUDD" --config "$DIR/central/cloud.json" --seed "$DIR/customers.jsonl"
spawn cloud "$CLOUDD" --config "$DIR/central/cloud.json"
CLOUD_PID=$SPAWNED
ready cloud "$CLOUD_PID" 20 "comp=mqtt event=connected"

# ---- 5. store: regulars-gateway ----
step "Store: regulars-gateway ($GW) between the store broker and the central broker"
cat >"$DIR/gateway/gateway.json" <<EOF
{
  "store_id": "$STORE",
  "identity": "$GW",
  "store_broker": {"host": "127.0.0.1", "port": $STORE_PORT},
  "central_broker": {"host": "127.0.0.1", "port": $CENTRAL_PORT},
  "tls": {"ca_file": "$PKI/ca.crt",
          "cert_file": "$PKI/$GW.crt",
          "key_file": "$PKI/$GW.key"},
  "spool": {"path": "$DIR/gateway/spool.db", "budget_bytes": 268435456},
  "forward": {"window": 64, "resend_ms": 10000},
  "known_devices": ["$KIOSK", "$HANDHELD"],
  "config": {"trust_anchor": "$ANCHOR"},
  "stats_interval_s": 15,
  "log_level": "info"
}
EOF
spawn gateway "$GATEWAY" --config "$DIR/gateway/gateway.json"
GATEWAY_PID=$SPAWNED
ready gateway "$GATEWAY_PID" 20 "comp=gw-store event=connected" "comp=gw-central event=connected"

# ---- 6. device configs, keys and local customers ----
step "Devices: configs, tenant key provisioned, customers 1-$N_LOCAL seeded locally, staff PIN $PIN"
PIN_HASH=$(printf '%s\n' "$PIN" | "$CTL" device pin-hash) || die "regularsctl device pin-hash failed"
# device_config NAME ID ROLE STAFF: writes NAME/device.json
device_config() {
	staff=""
	[ "$4" = 0 ] || staff="
  \"staff\": {\"pin_hash\": \"$PIN_HASH\"},"
	cat >"$DIR/$1/device.json" <<EOF
{
  "device_id": "$2",
  "store_id": "$STORE",
  "role": "$3",
  "database": "$DIR/$1/device.db",
  "keystore": {"backend": "file", "options": "dir=$DIR/$1/keys"},
  "readers": [{"backend": "sim", "options": "path=$DIR/$1.sock"}],
  "http": {"bind": "127.0.0.1", "port": 0},$staff
  "uplink": {"host": "127.0.0.1", "port": $STORE_PORT,
             "ca_file": "$PKI/ca.crt",
             "cert_file": "$PKI/$2.crt",
             "key_file": "$PKI/$2.key",
             "resend_ms": 10000, "lookup_timeout_ms": 3000},
  "config": {"trust_anchor": "$ANCHOR"}
}
EOF
	quiet "$CTL" device provision --config "$DIR/$1/device.json" --tenant-key-file "$DIR/tenant.key"
	quiet "$CTL" device seed --config "$DIR/$1/device.json" --file "$DIR/customers-local.jsonl"
}
device_config kiosk "$KIOSK" kiosk 0
device_config handheld "$HANDHELD" handheld 1

# ---- 7./8. the devices ----
# start_device NAME: sets DEVICE_PID and DEVICE_PORT
start_device() {
	spawn "$1" "$DEVICE" --config "$DIR/$1/device.json"
	DEVICE_PID=$SPAWNED
	ready "$1" "$DEVICE_PID" 20 "event=http_listening" "comp=device event=started" \
		"comp=uplink event=connected"
	DEVICE_PORT=$(sed -n 's/.*event=http_listening .*port=\([0-9]*\).*/\1/p' "$DIR/logs/$1.log" | head -n 1)
	[ -n "$DEVICE_PORT" ] || die "cannot read $1's HTTP port from $DIR/logs/$1.log"
	n=100
	until "$CTL" tap --socket "$DIR/$1.sock" ping >/dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || die "$1's sim reader does not answer on $DIR/$1.sock; see $DIR/logs/$1.log"
		sleep 0.1
	done
}
step "Kiosk: regulars-device $KIOSK, sim reader $DIR/kiosk.sock"
start_device kiosk
KIOSK_PID=$DEVICE_PID
KIOSK_PORT=$DEVICE_PORT
step "Handheld: regulars-device $HANDHELD, sim reader $DIR/handheld.sock"
start_device handheld
HANDHELD_PID=$DEVICE_PID
HANDHELD_PORT=$DEVICE_PORT

# ---- the cards to try ----
LOCAL=$DIR/customers-local.jsonl
ALL=$DIR/customers.jsonl
line=$(grep -m1 '"show_in_public":\["' "$LOCAL")
C_ID=$(printf '%s\n' "$line" | cust_id)
C_NAME=$(printf '%s\n' "$line" | cust_name)
C_CARD=$(printf '%s\n' "$line" | cust_card)
C_SHOWS=$(printf '%s\n' "$line" | sed 's/.*"show_in_public":\[\([^]]*\)\].*/\1/' | tr -d '"' | sed 's/,/, /g')
line=$(grep -m1 '"show_in_public":\[\]' "$LOCAL")
N_ID=$(printf '%s\n' "$line" | cust_id)
N_NAME=$(printf '%s\n' "$line" | cust_name)
N_CARD=$(printf '%s\n' "$line" | cust_card)
line=$(grep '"nfc_uid"' "$LOCAL" | grep -v "\"id\":\"$C_ID\"" | grep -m1 '"show_in_public":\["')
U_ID=$(printf '%s\n' "$line" | cust_id)
U_NAME=$(printf '%s\n' "$line" | cust_name)
U_UID=$(printf '%s\n' "$line" | cust_uid)
line=$(tail -n +$((N_LOCAL + 1)) "$ALL" | grep '"show_in_public":\["' | grep -v "\"home_store\":\"$STORE\"" | head -n 1)
R_ID=$(printf '%s\n' "$line" | cust_id)
R_NAME=$(printf '%s\n' "$line" | cust_name)
R_CARD=$(printf '%s\n' "$line" | cust_card)
X_CARD=$(cust_card <"$DIR/not-a-customer.jsonl")
NEW_ID=$(cust_id <"$DIR/new-customer.jsonl")
NEW_NAME=$(cust_name <"$DIR/new-customer.jsonl")
NEW_CARD=$(cust_card <"$DIR/new-customer.jsonl")
last=${C_CARD#"${C_CARD%?}"}
B_CARD=${C_CARD%?}$(((last + 1) % 10))
for v in "$C_CARD" "$N_CARD" "$U_UID" "$R_CARD" "$X_CARD" "$NEW_CARD"; do
	[ -n "$v" ] || die "could not pick the sample cards from $ALL"
done

tap() { # tap NAME ARGS...: one tap, must answer ok
	"$CTL" tap --socket "$DIR/$1.sock" "$2" "$3" >/dev/null 2>&1 || die "regularsctl tap --socket $DIR/$1.sock $2 $3 was refused"
}

# shellcheck disable=SC2317 # the check's helpers are called through until_ok
if [ "$CHECK" = 1 ]; then
	STEPS=$((STEPS + 1))
	step "Check: taps reach the central store, outboxes drain, remote lookup works"
	DB=$DIR/central/cloud.db
	central_count() { # central_count DEVICE PROFILE KIND
		sqlite3 -cmd '.timeout 5000' "$DB" \
			"SELECT count(*) FROM interactions WHERE device='$1' AND profile_id='$2' AND kind='$3';" 2>/dev/null
	}
	outbox() { # outbox NAME: rows waiting in the device's outbox
		"$CTL" device stats --config "$DIR/$1/device.json" --json 2>/dev/null |
			tr -d ' \n\t' | sed -n 's/.*"outbox":\([0-9]*\).*/\1/p'
	}
	# until SECONDS WHAT CMD...: poll CMD (bounded) or fail naming WHAT
	until_ok() {
		n=$(($1 * 10))
		what=$2
		shift 2
		while ! "$@"; do
			n=$((n - 1))
			if [ $n -le 0 ]; then
				for l in kiosk handheld gateway cloud; do show_log "$DIR/logs/$l.log"; done
				die "check failed: $what"
			fi
			sleep 0.1
		done
	}
	at_central() { [ "$(central_count "$1" "$2" "$3")" = 1 ]; }
	drained() { [ "$(outbox "$1")" = 0 ]; }
	cached() { "$CTL" device lookup --config "$DIR/$1/device.json" --card "$2" >/dev/null 2>&1; }

	tap kiosk barcode "$C_CARD"
	until_ok 30 "the kiosk's tap of $C_ID never reached the central store ($DB)" \
		at_central "$KIOSK" "$C_ID" identified
	echo "  kiosk tap of $C_ID: at central once"
	until_ok 30 "the kiosk's outbox did not drain" drained kiosk
	echo "  kiosk outbox: empty (central's ack came back)"

	cached kiosk "$R_CARD" && die "check setup: $R_ID is in the kiosk's local cache"
	tap kiosk barcode "$R_CARD"
	until_ok 30 "the tap of central-only $R_ID was not identified through the remote lookup" \
		at_central "$KIOSK" "$R_ID" identified
	cached kiosk "$R_CARD" || die "check failed: the remote answer for $R_ID was not cached on the kiosk"
	echo "  kiosk tap of central-only $R_ID: found by remote lookup, cached, at central"

	tap handheld nfc "$U_UID"
	until_ok 30 "the handheld's NFC tap of $U_ID never reached the central store" \
		at_central "$HANDHELD" "$U_ID" identified
	until_ok 30 "the handheld's outbox did not drain" drained handheld
	echo "  handheld NFC tap of $U_ID: at central once, outbox empty"

	unknown_at_central() {
		[ "$(sqlite3 -cmd '.timeout 5000' "$DB" "SELECT count(*) FROM interactions WHERE device='$KIOSK' AND kind='unknown_identifier' AND profile_id IS NULL;" 2>/dev/null)" = 1 ]
	}
	tap kiosk barcode "$X_CARD"
	until_ok 30 "the kiosk's tap of an unknown card never reached the central store as unknown_identifier" \
		unknown_at_central
	echo "  kiosk tap of an unknown card: central says not found, recorded as unknown_identifier"

	# The screens: the kiosk page on its URL; on the handheld, the staff PIN
	# logs in and a note is recorded like the staff page does it.
	command -v python3 >/dev/null 2>&1 || die "--check needs python3 for the HTTP steps (make deps installs it)"
	python3 - "$KIOSK_PORT" "$HANDHELD_PORT" "$PIN" "$C_ID" <<'PY' || die "check failed: the screens' HTTP steps (above)"
import json, sys, urllib.request
kport, hport, pin, pid = sys.argv[1:5]
def call(port, method, path, body=None, cookie=None):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if cookie:
        req.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()
st, _, page = call(kport, "GET", "/")
assert st == 200 and "<html" in page.lower(), "kiosk page: %d" % st
st, _, _ = call(hport, "POST", "/api/v1/session", {"pin": "0000"})
assert st == 401, "a wrong PIN answered %d" % st
st, h, _ = call(hport, "POST", "/api/v1/session", {"pin": pin})
assert st == 200, "the staff PIN answered %d" % st
cookie = h.get("Set-Cookie", "").split(";")[0]
st, _, body = call(hport, "POST", "/api/v1/profiles/%s/notes" % pid,
                   {"text": "demo check note"}, cookie)
assert st == 201, "recording a note answered %d: %s" % (st, body)
PY
	until_ok 30 "the handheld's staff note for $C_ID never reached the central store" \
		at_central "$HANDHELD" "$C_ID" note
	until_ok 30 "the handheld's outbox did not drain after the note" drained handheld
	echo "  kiosk page served; staff PIN $PIN logs in on the handheld; its note reached central"

	# Pushed configuration: two of the three signers sign a new greeting,
	# IT pushes it through the central broker, the gateway relays it and
	# both devices apply it live; config status shows it.
	SIGNED=$DIR/it/greeting.signed
	quiet "$CTL" config sign --key "$DIR/it/alice/alice.key" --out "$SIGNED" "$DIR/it/greeting.json"
	quiet "$CTL" config sign --key "$DIR/it/bob/bob.key" --envelope "$SIGNED" --out "$SIGNED" \
		"$DIR/it/greeting.json"
	quiet "$CTL" config verify --trust "$ANCHOR" "$SIGNED"
	quiet "$CTL" config push --broker "127.0.0.1:$CENTRAL_PORT" --ca "$PKI/ca.crt" \
		--cert "$PKI/$IT.crt" --key "$PKI/$IT.key" "$SIGNED"
	applied() { grep -q "event=config_applied scope=tenant version=1 " "$DIR/logs/$1.log"; }
	until_ok 30 "the kiosk did not apply the pushed greeting" applied kiosk
	until_ok 30 "the handheld did not apply the pushed greeting" applied handheld
	reported() {
		"$CTL" config status --broker "127.0.0.1:$CENTRAL_PORT" --ca "$PKI/ca.crt" \
			--cert "$PKI/$IT.crt" --key "$PKI/$IT.key" --wait-ms 1000 2>/dev/null |
			grep -Eq "^$KIOSK +$GW +online +tenant +1 +applied "
	}
	until_ok 30 "regularsctl config status does not show the kiosk running tenant v1" reported
	echo "  greeting signed by 2 of 3 keys, pushed by $IT: applied live on both devices, shown by config status"

	# Sync down: a customer imported centrally while everything runs reaches
	# both devices' caches through the gateway's replica.
	cached kiosk "$NEW_CARD" && die "check setup: $NEW_ID is in the kiosk's cache before the import"
	quiet "$CTL" import --db "$DIR/central/cloud.db" --tenant-key "$DIR/tenant.key" \
		"$DIR/new-customer.jsonl"
	until_ok 30 "$NEW_ID, imported centrally, did not reach the kiosk's cache" cached kiosk "$NEW_CARD"
	until_ok 30 "$NEW_ID, imported centrally, did not reach the handheld's cache" \
		cached handheld "$NEW_CARD"
	echo "  $NEW_ID imported centrally: replicated to both devices' caches"

	out=$("$CTL" tap --socket "$DIR/kiosk.sock" barcode "$B_CARD" 2>&1) || true
	[ "$out" = ok ] || die "check failed: the reader refused a bad-check-digit scan itself: $out"
	until_ok 30 "the kiosk's outbox did not drain after a refused card" drained kiosk
	echo "  kiosk scan with a bad check digit: refused, outbox empty"
	pids="$CLOUD_PID $GATEWAY_PID $KIOSK_PID $HANDHELD_PID $CENTRAL_PID $STORE_PID"
	stop_all
	[ "$STOPPED_OK" = 1 ] || die "check failed: not every process stopped cleanly"
	for p in $pids; do
		[ ! -d "/proc/$p" ] || die "check failed: pid $p still exists after the stop"
	done
	echo "OK"
	exit 0
fi

# ---- what to look at ----
SHOWCTL=$CTL
case $CTL in "$PWD"/*) SHOWCTL=${CTL#"$PWD"/} ;; esac
T="$SHOWCTL tap --socket"
cat <<EOF

Regulars demo store $STORE is running (tenant "$TENANT"). Everything is in $DIR

  Kiosk screen      http://127.0.0.1:$KIOSK_PORT/      (public: what the customer sees)
  Handheld (staff)  http://127.0.0.1:$HANDHELD_PORT/      staff PIN: $PIN

  process          pid      port   log
  central broker   $(printf '%-8s %-6s' "$CENTRAL_PID" "$CENTRAL_PORT") $DIR/logs/central-broker.log
  store broker     $(printf '%-8s %-6s' "$STORE_PID" "$STORE_PORT") $DIR/logs/store-broker.log
  regulars-cloud   $(printf '%-8s %-6s' "$CLOUD_PID" -) $DIR/logs/cloud.log
  gateway          $(printf '%-8s %-6s' "$GATEWAY_PID" -) $DIR/logs/gateway.log
  kiosk            $(printf '%-8s %-6s' "$KIOSK_PID" "$KIOSK_PORT") $DIR/logs/kiosk.log
  handheld         $(printf '%-8s %-6s' "$HANDHELD_PID" "$HANDHELD_PORT") $DIR/logs/handheld.log

Central knows all $N_CUSTOMERS sample customers (p-000001..p-00$N_CUSTOMERS); both devices were seeded
with the first $N_LOCAL. Customers $((N_LOCAL + 1))..$N_CUSTOMERS are only at central: a tap of their card misses
the local cache, the device asks central through the gateway, caches the answer and
greets them (the next tap is local).

Open a screen, then present a card (copy and paste):

  # $C_NAME ($C_ID), consents to public display of: $C_SHOWS (and the first name)
  $T $DIR/kiosk.sock barcode $C_CARD
  # $N_NAME ($N_ID), no public consent: "Welcome back!" and nothing else
  $T $DIR/kiosk.sock barcode $N_CARD
  # a valid card nobody has: not in the cache, central does not know it either
  # ("unknown", recorded as an unknown identifier)
  $T $DIR/kiosk.sock barcode $X_CARD
  # $C_ID's card with a wrong check digit: refused by the identifier rules
  $T $DIR/kiosk.sock barcode $B_CARD
  # $U_NAME ($U_ID) by the NFC UID of their card, on the staff handheld
  $T $DIR/handheld.sock nfc $U_UID
  # $R_NAME ($R_ID), known only at central: remote lookup through the gateway
  $T $DIR/kiosk.sock barcode $R_CARD

Import a customer centrally (docs/import.md): the gateway pulls the change within 5 s,
both devices cache it, and the kiosk greets them from its own cache:
  $SHOWCTL import --db $DIR/central/cloud.db --tenant-key $DIR/tenant.key $DIR/new-customer.jsonl
  $T $DIR/kiosk.sock barcode $NEW_CARD   # $NEW_NAME ($NEW_ID)

Push a configuration (docs/config.md): alice and bob sign a new kiosk greeting, IT pushes it,
the next tap on the kiosk shows it (no restart), and config status shows who runs what:
  $SHOWCTL config sign --key $DIR/it/alice/alice.key --out $DIR/it/greeting.signed $DIR/it/greeting.json
  $SHOWCTL config sign --key $DIR/it/bob/bob.key --envelope $DIR/it/greeting.signed --out $DIR/it/greeting.signed $DIR/it/greeting.json
  $SHOWCTL config verify --trust $DIR/it/config-trust.json $DIR/it/greeting.signed
  $SHOWCTL config push --broker 127.0.0.1:$CENTRAL_PORT --ca $PKI/ca.crt --cert $PKI/$IT.crt --key $PKI/$IT.key $DIR/it/greeting.signed
  $SHOWCTL config status --broker 127.0.0.1:$CENTRAL_PORT --ca $PKI/ca.crt --cert $PKI/$IT.crt --key $PKI/$IT.key

Watch the sync:
  $SHOWCTL device outbox --config $DIR/kiosk/device.json   # waiting for central's ack
  sqlite3 $DIR/central/cloud.db 'SELECT seq,device,kind,profile_id,outcome FROM interactions'
  kill -STOP $GATEWAY_PID   # pause the gateway: taps still work, the outbox grows
  kill -CONT $GATEWAY_PID   # resume: the outbox drains
  (docs/demo.md has more.)

Press Ctrl-C to stop everything.
EOF

# ---- run until a signal ----
NOTED=""
while :; do
	sleep 1 &
	SLEEPER=$!
	wait "$SLEEPER" 2>/dev/null || true
	SLEEPER=""
	for p in $PROCS; do
		name=${p%%:*}
		pid=${p#*:}
		case " $NOTED " in *" $name "*) continue ;; esac
		if ! pid_alive "$pid"; then
			NOTED="$NOTED $name"
			echo "demo: $name (pid $pid) has exited; the rest keeps running. See $DIR/logs/$name.log" >&2
		fi
	done
done
