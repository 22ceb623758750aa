#!/usr/bin/env bash
# --publish against full, for make bench (hack/bench.sh), in the network
# test world, which must be up (hack/testworld.sh): the same servers (a
# small HTTP answer, iperf3) run in a sandbox of the none tier, published,
# and in one of the full tier; the host's clients run in the world as the
# user.
#   hack/bench-publish.sh BIN PROJECT UID GID HOME
# PROJECT holds .bench-testpeer (integration/testpeer). Prints, one a line:
# lat_new_full lat_new_publish lat_keep_full lat_keep_publish (µs, median
# of 1,000 GETs: a new connection each, or one kept-alive connection) and
# thr_full thr_publish thr_proxy (Mbit/s from the sandbox to the host,
# median of 3 interleaved runs; proxy: the full tier's server through a
# bare proxy on the host, testpeer proxy, which moves the bytes as
# --publish does: what any proxy in user space costs here).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 proj=$2 uid=$3 gid=$4 home=$5
in_world() { hack/in-world.sh "$uid" "$gid" env HOME="$home" PATH=/usr/bin:/bin "$@"; }
# serve TIER HTTP_PORT IPERF_PORT [--publish flags...]: the servers in a
# sandbox, in the background; the launcher's pid (in-world.sh execs down
# to it) is printed.
serve() {
	local tier=$1 http=$2 iperf=$3
	shift 3
	in_world sh -c "cd '$proj' && exec '$bin' run -q --network $tier $* -- sh -c './.bench-testpeer http-serve 127.0.0.1:$http & iperf3 -s -p $iperf >/dev/null & wait'" >/dev/null &
	echo $!
}
published=$(serve none 18501 18502 -p 18501 -p 18502)
full=$(serve full 18511 18512)
in_world "$proj/.bench-testpeer" proxy 127.0.0.1:18522 127.0.0.1:18512 >/dev/null &
proxied=$!
# The launchers by their command line (in-world.sh does not exec all the
# way down, so $! is not theirs), with SIGKILL: their pid 1 follows them
# (the lifeline), and nothing they hold (the servers, an inherited lock)
# outlives the bench.
trap 'kill -9 "$published" "$full" "$proxied" 2>/dev/null; pkill -KILL -f -- "bench-testpeer (http-serve 127.0.0.1:185[01]1|proxy 127.0.0.1:18522) " || true; wait' EXIT
for port in 18501 18511; do
	for _ in $(seq 100); do
		in_world "$proj/.bench-testpeer" http-latency "http://127.0.0.1:$port/" 1 >/dev/null 2>&1 && break
		sleep 0.1
	done
done
lat() { in_world "$proj/.bench-testpeer" http-latency "http://127.0.0.1:$1/" 1000 "${2:-}"; }
thr() { in_world iperf3 -c 127.0.0.1 -p "$1" -t 3 -R -f m | awk '/receiver/ {print $(NF-2)}'; }
echo "lat_new_full $(lat 18511)"
echo "lat_new_publish $(lat 18501)"
echo "lat_keep_full $(lat 18511 keepalive)"
echo "lat_keep_publish $(lat 18501 keepalive)"
runs_full="" runs_pub="" runs_proxy=""
for _ in 1 2 3; do
	runs_full+="$(thr 18512) "
	runs_pub+="$(thr 18502) "
	runs_proxy+="$(thr 18522) "
done
med3() { echo "$1" | tr ' ' '\n' | sed '/^$/d' | sort -n | sed -n 2p; }
echo "thr_full $(med3 "$runs_full")"
echo "thr_publish $(med3 "$runs_pub")"
echo "thr_proxy $(med3 "$runs_proxy")"
