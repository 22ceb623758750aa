#!/usr/bin/env bash
# Passes `go test -v` output through and fails when the run failed, or when
# a test was skipped while CI is set: in CI a skipped test is a missing
# install step, not a pass. Every make target that runs tests pipes into it
# (unit, fuzz, integration).
set -uo pipefail

skips=0
failed=0
skipped=()
while IFS= read -r line; do
	printf '%s\n' "$line"
	case $line in
	*"--- SKIP:"*)
		skips=$((skips + 1))
		skipped+=("${line#*--- SKIP: }")
		;;
	*"--- FAIL:"* | FAIL*) failed=1 ;;
	esac
done

if ((failed)); then
	exit 1
fi
if [[ ${CI:-} == true ]] && ((skips > 0)); then
	echo "check-skips: $skips test(s) skipped in CI; CI must run them all:" >&2
	printf '  %s\n' "${skipped[@]}" >&2
	exit 1
fi
