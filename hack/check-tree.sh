#!/usr/bin/env bash
# Nothing built is tracked: fails when a file git tracks is an ELF binary,
# or is over 1 MB outside a testdata directory. Build outputs go to bin/.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
limit=$((1024 * 1024))
bad=0
while IFS= read -r -d '' f; do
	[ -f "$f" ] || continue # deleted in the worktree, not yet committed
	if [ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
		echo "tracked ELF binary: $f (build outputs go under bin/; git rm --cached it)"
		bad=1
	fi
	case "/$f" in
	*/testdata/*) continue ;;
	esac
	size=$(stat -c %s -- "$f")
	if [ "$size" -gt "$limit" ]; then
		echo "tracked file over 1 MB: $f ($size bytes; only testdata/ may hold large files)"
		bad=1
	fi
done < <(git ls-files -z)
exit "$bad"
