#!/usr/bin/env bash
# Measures the wall-clock time from exec of `sifely2mqtt -demo` to the
# arrival of all three demo locks' discovery at a subscriber: the
# process-start figure of issue 3, on the real binary (the in-process
# benchmark BenchmarkStartToDiscovery leaves out exec and runtime start).
#
# Usage: scripts/bench-startup.sh [runs]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-20}"
mosquitto_bin="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
tmp="$(mktemp -d)"
broker_pid=""
cleanup() {
	if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$tmp/mosquitto.conf"
"$mosquitto_bin" -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
broker_pid=$!
for _ in $(seq 50); do
	if mosquitto_pub -h 127.0.0.1 -p "$port" -t bench/ping -m x 2>/dev/null; then break; fi
	sleep 0.1
done
go build -o "$tmp/sifely2mqtt" ./cmd/sifely2mqtt

results=()
for i in $(seq "$runs"); do
	prefix="bench$i"
	# Each run uses its own discovery prefix, so no retained message of an
	# earlier run counts.
	timeout 30 mosquitto_sub -h 127.0.0.1 -p "$port" -t "$prefix/device/+/config" -C 3 >/dev/null &
	sub=$!
	sleep 0.2
	start=$(date +%s%N)
	SIFELY2MQTT_MQTT_URL="tcp://127.0.0.1:$port" SIFELY2MQTT_MQTT_DISCOVERY_PREFIX="$prefix" \
		SIFELY2MQTT_MQTT_BASE_TOPIC="$prefix" SIFELY2MQTT_MQTT_CLIENT_ID="$prefix" \
		SIFELY2MQTT_HTTP_LISTEN=127.0.0.1:0 SIFELY2MQTT_STATE_DIR="$tmp/state$i" SIFELY2MQTT_LOG_LEVEL=warn \
		"$tmp/sifely2mqtt" -demo -config "$tmp/absent.yaml" >"$tmp/daemon$i.log" 2>&1 &
	daemon=$!
	wait "$sub"
	end=$(date +%s%N)
	kill -TERM "$daemon"; wait "$daemon" || true
	results+=($(( (end - start) / 1000000 )))
done
sorted=$(printf '%s\n' "${results[@]}" | sort -n)
echo "exec -> 3 discovery messages, ms, $runs runs: min $(echo "$sorted" | head -1), median $(echo "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'), max $(echo "$sorted" | tail -1)"
