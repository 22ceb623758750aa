#!/usr/bin/env bash
# Creates the non-root user the integration tests run claudebox as, with
# subuid/subgid ranges, as a fresh Debian/Ubuntu machine would have them.
# Idempotent. Needs root.
set -euo pipefail

user=${CLAUDEBOX_TEST_USER:-cbtest}

if [[ $(id -u) -ne 0 ]]; then
	echo "setup-test-user: needs root" >&2
	exit 1
fi
if ! id "$user" >/dev/null 2>&1; then
	useradd --create-home --shell /bin/bash "$user"
fi
# Not locked ("!"): sshd without PAM (the --ssh-agent test's) refuses even
# key logins to a locked account. "*" still matches no password.
if [[ $(getent shadow "$user" | cut -d: -f2) == '!'* ]]; then
	usermod -p '*' "$user"
fi
for f in /etc/subuid /etc/subgid; do
	touch "$f"
	grep -q "^$user:" "$f" || echo "$user:200000:65536" >>"$f"
done
echo "test user: $user ($(id "$user"))"
