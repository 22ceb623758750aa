#!/usr/bin/env bash
# Shows what the sandbox does, on a throwaway home: a planted secret and a
# token in the environment stay out, the host is read-only, the project is
# writable and what is written there belongs to you.
set -euo pipefail

bin=$(realpath "${1:-bin/claudebox}")
demo=$(mktemp -d "${TMPDIR:-/tmp}/claudebox-demo.XXXXXX")
trap 'rm -rf "$demo"' EXIT

export HOME=$demo/home
mkdir -p "$HOME/.ssh" "$HOME/project/.git"
echo "-----BEGIN OPENSSH PRIVATE KEY----- demo secret" >"$HOME/.ssh/id_ed25519"
export GITHUB_TOKEN=ghp_demo_token_that_must_not_leak
cd "$HOME/project"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
show() {
	step "$*"
	"$bin" run --quiet -- sh -c "$* 2>&1" || true
}

echo "claudebox demo: home is $HOME, project is $HOME/project"
step "claudebox run --dry-run -- CMD   # the plan every launch shows first"
"$bin" run --dry-run -- sh -c 'echo hello'
# The commands are run by the sandbox's shell: they expand there, not here.
# shellcheck disable=SC2016
show 'id; echo "workdir: $(pwd)"'
show 'cat ~/.ssh/id_ed25519 || echo "-> the secret is hidden"'
show 'ls -A ~; echo "-> home shows only the project"'
# shellcheck disable=SC2016
show 'echo "GITHUB_TOKEN=${GITHUB_TOKEN:-<not set>}"; env | sort | sed "s/^/  /"'
show 'touch /usr/claudebox-demo || echo "-> the host is read-only"'
show 'echo hello > made-in-sandbox.txt && echo "-> the project is writable"'
if [[ -w /dev/net/tun ]] && command -v slirp4netns >/dev/null; then
	step 'claudebox run --network none -- ...'
	"$bin" run --quiet --network none -- sh -c 'cat /proc/net/dev | tail -n +3 | cut -d: -f1; echo "-> loopback only"' || true
fi
step "ls -l $HOME/project   # on the host, after the sandbox exited"
ls -l "$HOME/project"
