#!/usr/bin/env bash
# Runs a command in the test world's "host" (hack/testworld.sh) as a user:
#   hack/in-world.sh UID GID CMD [ARGS...]
# Unlike `ip netns exec`, it keeps the host's /sys (libcontainer needs the
# cgroup mounts there) and only swaps in the world's resolv.conf.
set -euo pipefail
uid=$1 gid=$2
shift 2
# The inner script's variables are its own positional arguments.
# shellcheck disable=SC2016
exec unshare --mount --propagation private -- sh -c '
	uid=$1 gid=$2
	shift 2
	mount --bind /etc/netns/cbw-world/resolv.conf /etc/resolv.conf &&
	exec nsenter --net=/run/netns/cbw-world -- setpriv --reuid "$uid" --regid "$gid" --clear-groups -- "$@"
' sh "$uid" "$gid" "$@"
