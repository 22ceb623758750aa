#!/usr/bin/env bash
# Installs what claudebox needs to build and run on Debian/Ubuntu, and with
# --test what its tests need (runc for the export test, util-linux's script
# for the TTY test, bubblewrap run inside a sandbox by the escape suite,
# sshd and ssh for the --ssh-agent test, curl, python3, nodejs and chromium
# for the --publish tests, the linter shellcheck for make lint, the
# non-root test user).
# Installs only what is missing.
set -euo pipefail

cd "$(dirname "$0")/.."

packages=(gcc libc6-dev pkg-config libseccomp-dev git iproute2 util-linux procps slirp4netns)
test_mode=false
case ${1:-} in
--test | --bench)
	test_mode=true
	packages+=(runc uidmap bsdutils passwd nftables shellcheck screen nscd postgresql bubblewrap openssh-server openssh-client curl python3 nodejs chromium)
	[[ $1 == --bench ]] && packages+=(hyperfine iperf3 time)
	;;
esac

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	sudo=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}"
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go: the version go.mod asks for. Debian's golang-go is too old, so it is
# not installed from here; say what to do instead.
need=$(awk '/^go /{print $2}' go.mod)
if ! command -v go >/dev/null 2>&1; then
	if [[ -x /usr/local/go/bin/go ]]; then
		echo "install-deps: Go is in /usr/local/go/bin; add it to PATH" >&2
	else
		echo "install-deps: Go $need or newer is needed: https://go.dev/doc/install" >&2
	fi
	exit 1
fi
have=$(go env GOVERSION | sed 's/^go//')
if [[ $(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1) != "$need" ]]; then
	echo "install-deps: Go $need or newer is needed, found $have: https://go.dev/doc/install" >&2
	exit 1
fi

if $test_mode; then
	"${sudo[@]}" bash hack/setup-test-user.sh
	# The inet tier's uplink needs /dev/net/tun; some VMs ship it 0600,
	# distributions 0666.
	"${sudo[@]}" chmod 0666 /dev/net/tun
fi
