#!/usr/bin/env bash
# make lint: fails when the claudebox binary reaches reflect's
# MethodByName (text/template does, e.g. through cobra's Set*Template).
# The linker then keeps every exported method of every reachable type:
# the binary grew 2.2 MB (21%) the last time, and libcontainer copies the
# binary into memory at every launch (about 1 ms per MB here).
set -euo pipefail
cd "$(dirname "$0")/.."
deps=$(${GO:-go} build -tags "${TAGS:-seccomp runc_nocriu}" -ldflags=-dumpdep -o /dev/null ./cmd/claudebox 2>&1)
if grep -m 10 -E -- '-> reflect\.(Value|Type)\.MethodByName$|<ReflectMethod>' <<<"$deps"; then
	echo "check-dce: the claudebox binary reaches reflect's MethodByName (above): the linker's dead-code elimination of methods is off" >&2
	exit 1
fi
