#!/usr/bin/env bash
# Installs the real Claude Code CLI from the npm registry for the
# integration tests, into a cache that later runs reuse. Prints the path of
# the claude binary. The version is pinned for repeatable tests.
set -euo pipefail

version=${CLAUDE_CODE_VERSION:-2.1.332}
prefix=${CLAUDE_CODE_CACHE:-/var/cache/claudebox-it/claude-code-$version}
bin=$prefix/node_modules/.bin/claude

if ! "$bin" --version >/dev/null 2>&1; then
	if ! command -v npm >/dev/null 2>&1; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
	fi
	mkdir -p "$prefix"
	npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "@anthropic-ai/claude-code@$version" >&2
	# The native binary comes from an optional dependency put in place by
	# the postinstall step; run it if npm skipped it.
	if ! "$bin" --version >/dev/null 2>&1; then
		(cd "$prefix/node_modules/@anthropic-ai/claude-code" && node install.cjs >&2)
	fi
	chmod -R a+rX "$prefix"
fi
"$bin" --version >&2
echo "$bin"
