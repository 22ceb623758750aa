#!/usr/bin/env bash
# install.sh install|uninstall: claudebox, its CNI plugins, man pages, shell
# completions and, where Ubuntu restricts user namespaces, its AppArmor
# profile, under PREFIX (default /usr/local), staged under DESTDIR if set.
# Reads what make build and make docs made beside it (bin/, bin/share/).
# uninstall removes exactly what install puts there, and the directories it
# leaves empty under PREFIX/lib/claudebox.
set -euo pipefail

action=${1:?usage: install.sh install|uninstall}
prefix=${PREFIX:-/usr/local}
dest=${DESTDIR:-}
src=$(cd "$(dirname "$0")/.." && pwd)
share=$src/bin/share

# files: "SOURCE|TARGET|MODE", TARGET under PREFIX (| since a path may hold spaces).
files=(
	"$src/bin/claudebox|bin/claudebox|0755"
	"$src/bin/cni/bridge|lib/claudebox/cni/bridge|0755"
	"$src/bin/cni/host-local|lib/claudebox/cni/host-local|0755"
	"$share/completions/claudebox.bash|share/bash-completion/completions/claudebox|0644"
	"$share/completions/_claudebox|share/zsh/site-functions/_claudebox|0644"
	"$share/completions/claudebox.fish|share/fish/vendor_completions.d/claudebox.fish|0644"
)
for page in "$share"/man1/*.1; do
	[ -e "$page" ] || { echo "install.sh: no man pages in $share/man1: run make docs" >&2; exit 1; }
	files+=("$page|share/man/man1/${page##*/}|0644")
done

# Ubuntu >= 23.10 lets only profiled programs make user namespaces; the
# profile names the installed binary's path (README, "User namespaces").
apparmor=
if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ] && [ -d /etc/apparmor.d ]; then
	apparmor=$dest/etc/apparmor.d/claudebox
fi

profile() {
	printf 'abi <abi/4.0>,\ninclude <tunables/global>\nprofile claudebox %s/bin/claudebox flags=(unconfined) {\n  userns,\n}\n' "$prefix"
}

case $action in
install)
	for f in "${files[@]}"; do
		IFS="|" read -r from to mode <<<"$f"
		install -D -m "$mode" "$from" "$dest$prefix/$to"
	done
	if [ -n "$apparmor" ]; then
		if ! mkdir -p "${apparmor%/*}" 2>/dev/null || ! [ -w "${apparmor%/*}" ]; then
			echo "install.sh: cannot write ${apparmor%/*}: this kernel lets only programs with an AppArmor profile make user namespaces: run make install as root, or add the profile by hand (README, \"User namespaces\")" >&2
		else
			profile >"$apparmor"
			if [ -z "$dest" ] && command -v apparmor_parser >/dev/null; then
				apparmor_parser -r "$apparmor"
			fi
		fi
	fi
	;;
uninstall)
	for f in "${files[@]}"; do
		IFS="|" read -r _ to _ <<<"$f"
		rm -f "$dest$prefix/$to"
	done
	rmdir "$dest$prefix/lib/claudebox/cni" "$dest$prefix/lib/claudebox" 2>/dev/null || true
	# The profile only if it is install's own, not one written by hand.
	if [ -n "$apparmor" ] && [ -w "${apparmor%/*}" ] && [ "$(cat "$apparmor" 2>/dev/null)" = "$(profile)" ]; then
		if [ -z "$dest" ] && command -v apparmor_parser >/dev/null; then
			apparmor_parser -R "$apparmor" || true
		fi
		rm -f "$apparmor"
	fi
	;;
*)
	echo "usage: install.sh install|uninstall" >&2
	exit 2
	;;
esac
