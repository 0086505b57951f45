#!/usr/bin/env bash
# Measures the resident memory of `sifely2mqtt -demo` (three simulated
# locks, default poll schedule) after it has idled for a while.
#
# Usage: scripts/bench-rss.sh [seconds]   (default 600, i.e. 10 minutes)
#
# It builds the binary, starts a private mosquitto on a free loopback port,
# runs the daemon against it, waits until the three locks' discovery is
# published, idles for the given time and prints VmRSS and VmHWM from
# /proc/<pid>/status. Everything it started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

idle="${1:-600}"
mosquitto_bin="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
tmp="$(mktemp -d)"
broker_pid=""
daemon_pid=""
cleanup() {
	if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
	if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

kib() { awk '/^'"$1"':/ {print $2}' "/proc/$daemon_pid/status"; }

echo "building sifely2mqtt"
go build -o "$tmp/sifely2mqtt" ./cmd/sifely2mqtt

mqtt_port="$(free_port)"
http_port="$(free_port)"
cat >"$tmp/mosquitto.conf" <<CONF
listener $mqtt_port 127.0.0.1
allow_anonymous true
persistence false
CONF
"$mosquitto_bin" -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
broker_pid=$!
for _ in $(seq 50); do
	if mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -t bench/ping -m x 2>/dev/null; then break; fi
	sleep 0.1
done

# Subscribe first so that the three discovery messages are not missed.
timeout 30 mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -t 'homeassistant/device/+/config' -C 3 >"$tmp/discovery" &
sub_pid=$!
sleep 0.3

SIFELY2MQTT_MQTT_URL="tcp://127.0.0.1:$mqtt_port" \
	SIFELY2MQTT_HTTP_LISTEN="127.0.0.1:$http_port" \
	SIFELY2MQTT_STATE_DIR="$tmp/state" \
	SIFELY2MQTT_LOG_LEVEL=warn \
	"$tmp/sifely2mqtt" -demo -config "$tmp/absent.yaml" >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!

if ! wait "$sub_pid"; then
	echo "discovery of the three demo locks did not arrive within 30s" >&2
	cat "$tmp/daemon.log" >&2
	exit 1
fi
echo "daemon pid $daemon_pid up with 3 locks; VmRSS after start-up: $(kib VmRSS) KiB"
echo "idling for ${idle}s"
sleep "$idle"
if ! kill -0 "$daemon_pid" 2>/dev/null; then
	echo "daemon exited early" >&2
	cat "$tmp/daemon.log" >&2
	exit 1
fi
rss="$(kib VmRSS)"
hwm="$(kib VmHWM)"
echo "after ${idle}s idle: VmRSS ${rss} KiB ($(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}') MiB), VmHWM ${hwm} KiB ($(awk -v k="$hwm" 'BEGIN{printf "%.1f", k/1024}') MiB)"
