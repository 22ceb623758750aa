#!/usr/bin/env bash
# make mutate: a mutation run over the security predicates, with gremlins
# (from the Go module proxy, pinned). Each mutant flips one condition,
# boundary, logical operator or arithmetic operator on a line the unit
# tests cover, and runs that package's unit tests: a mutant that lives is
# a predicate no test pins down. Not run by CI (it takes minutes).
#
#   hack/mutate.sh [PKG...]    default: every package below
#
# Only the files that hold the predicates are mutated:
#   internal/safefs   the safe-path layer (no links, regular, bounded)
#   launch            credentials (auth.go), secret and hidden paths
#                     (hidden.go), protected paths (protect.go), the env
#                     allow-list (env.go), containment (paths.go), network
#                     allow/deny rules (network.go)
#   network           the relay's decisions: admit and allowed (relay.go,
#                     allowlist.go), names off the wire (hostname.go), first
#                     bytes and HTTP framing (firstbytes.go, http.go), DNS
#                     (dns.go), bounded bookkeeping (answered.go, netlog.go)
#   state             credential checks and sync (credsync.go, home.go),
#                     what stays protected (protected.go)
set -euo pipefail
cd "$(dirname "$0")/.."

gremlins=github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
declare -A exclude=(
	[./internal/safefs]='^$'
	[./launch]='(claude|errors|groups|helpers|host|instance|landlock|project|resolve|spec)\.go$'
	[./network]='(cnihelper|holder|holder_join|hook|network|uplink)\.go$'
	[./state]='(atomic|gc|instance|netlog|runtime)\.go$'
)
pkgs=("$@")
if ((${#pkgs[@]} == 0)); then
	pkgs=(./internal/safefs ./launch ./network ./state)
fi

status=0
for pkg in "${pkgs[@]}"; do
	echo "== $pkg"
	# A test's run time here is mostly its build: a generous timeout
	# keeps a slow build from reading as a mutant that hangs.
	go run "$gremlins" unleash --tags seccomp,runc_nocriu --invert-logical \
		--timeout-coefficient 30 --workers 1 --output-statuses lt \
		--exclude-files "${exclude[$pkg]:-^$}" "$pkg" || status=1
done
exit "$status"
