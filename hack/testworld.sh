#!/usr/bin/env bash
# The closed network world the network tests run in; no packet leaves this
# machine. Needs root.
#
#   hack/testworld.sh up TESTPEER   build it (tearing down an old one first)
#   hack/testworld.sh down          remove it
#
# cbw-world plays the host: claudebox runs in it (ip netns exec cbw-world).
# Its own address 203.0.113.1 (the "host's public address") and loopback
# have listeners. cbw-peers, behind a veth, owns the other hosts, each with
# a listener on 8080 (and the LAN host on 8081), and the DNS server that
# cbw-world's resolv.conf names:
#   198.51.100.10   internet          192.168.77.10   LAN
#   100.100.7.10    Tailscale/CGNAT   169.254.169.254 cloud metadata
#   10.9.9.10       10/8              198.51.100.53   DNS (internet.test,
#   2001:db8:1::10  internet (IPv6)                   rebind.test -> LAN,
#   198.51.100.20   a "CDN": TLS on 443, HTTP on 80,  cdn-a.test and cdn-b.test;
#                   TCP on 2222                       logs each query;
#   198.51.100.30   api.test: a scripted Messages API on 8080;
#   198.51.100.40   git.test: git over HTTPS, repo.git and push.git (a
#                   login for that one), and over ssh on
#                   22 while the --ssh-agent test runs its sshd);
#   198.51.100.41   other.test: that test's second sshd;
#   198.51.100.50   registry.test: an npm registry over HTTP (cb-hello);
#   198.51.100.10:9090 keeps each connection open;
#   198.51.100.99   slow.test: drops every packet, so a dial there hangs)
#   fd7a:115c:a1e0::10 Tailscale (IPv6)
#   10.0.2.100      a LAN host at the address the relay gives a sandbox
set -euo pipefail

world=cbw-world
peers=cbw-peers
run=/run/claudebox-testworld

down() {
	if [[ -d $run ]]; then
		for pidfile in "$run"/*.pid; do
			if [[ -e $pidfile ]]; then
				kill "$(cat "$pidfile")" 2>/dev/null || true
			fi
		done
		rm -rf "$run"
	fi
	ip netns del "$world" 2>/dev/null || true
	ip netns del "$peers" 2>/dev/null || true
	rm -rf "/etc/netns/$world"
}

# start NETNS NAME ARGS...: a testpeer server in NETNS, waited for.
start() {
	local ns=$1 name=$2
	shift 2
	ip netns exec "$ns" "$peer" serve "$@" >"$run/$name.log" 2>&1 &
	echo $! >"$run/$name.pid"
	for _ in $(seq 100); do
		grep -q ready "$run/$name.log" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "testworld: $name did not start:" >&2
	cat "$run/$name.log" >&2
	return 1
}

up() {
	peer=$(realpath "$1")
	down
	trap 'down' ERR
	mkdir -p "$run"
	ip netns add "$world"
	ip netns add "$peers"
	ip link add w0 netns "$world" type veth peer name p0 netns "$peers"
	for ns in "$world" "$peers"; do
		ip -n "$ns" link set lo up
	done
	ip -n "$world" addr add 203.0.113.1/24 dev w0
	ip -n "$world" addr add 2001:db8:ff::1/64 dev w0 nodad
	ip -n "$world" link set w0 up
	ip -n "$world" route add default via 203.0.113.2
	ip -n "$world" -6 route add default via 2001:db8:ff::2
	ip -n "$peers" addr add 203.0.113.2/24 dev p0
	ip -n "$peers" addr add 2001:db8:ff::2/64 dev p0 nodad
	ip -n "$peers" link set p0 up
	for a in 198.51.100.10 198.51.100.20 198.51.100.30 198.51.100.40 198.51.100.41 198.51.100.50 198.51.100.53 198.51.100.99 192.168.77.10 100.100.7.10 169.254.169.254 10.9.9.10 10.0.2.100; do
		ip -n "$peers" addr add "$a/32" dev lo
	done
	ip netns exec "$peers" nft -f - <<-'EOF'
		table ip cbw {
			chain input {
				type filter hook input priority 0; policy accept;
				ip daddr 198.51.100.99 drop
			}
		}
	EOF
	for a in 2001:db8:1::10 fd7a:115c:a1e0::10; do
		ip -n "$peers" addr add "$a/128" dev lo nodad
	done
	mkdir -p "/etc/netns/$world"
	echo "nameserver 198.51.100.53" >"/etc/netns/$world/resolv.conf"

	# A repository to clone over HTTPS from git.test.
	local repo=$run/git/repo.git
	git init -q --bare "$repo"
	git -C "$run/git" init -q work
	git -C "$run/git/work" -c user.name=t -c user.email=t@e commit -q --allow-empty -m "from git.test"
	git -C "$run/git/work" push -q "$repo" HEAD:refs/heads/main
	git -C "$repo" symbolic-ref HEAD refs/heads/main
	# One that takes pushes, behind a login (testpeer's gitLogin).
	git init -q --bare "$run/git/push.git"
	git -C "$run/git/push.git" config http.receivepack true

	start "$peers" peers -dns 198.51.100.53:53 -tls 198.51.100.20:443 -http 198.51.100.20:80 198.51.100.20:2222 \
		-messages 198.51.100.30:8080 -git 198.51.100.40:443 "$run/git" -npm 198.51.100.50:80 -hold 198.51.100.10:9090 \
		198.51.100.10:8080 192.168.77.10:8080 192.168.77.10:8081 100.100.7.10:8080 \
		169.254.169.254:8080 10.9.9.10:8080 10.0.2.100:8080 '[2001:db8:1::10]:8080' '[fd7a:115c:a1e0::10]:8080'
	start "$world" world 127.0.0.1:8080 203.0.113.1:8080
	trap - ERR
	echo "testworld: up"
}

case ${1:-} in
up) up "${2:?usage: testworld.sh up TESTPEER}" ;;
down) down ;;
*)
	echo "usage: testworld.sh up TESTPEER | down" >&2
	exit 2
	;;
esac
