# claudebox. `make demo` and `make test` install what they need first.
SHELL     := /bin/bash
GO        ?= go
BIN       := bin/claudebox
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# seccomp: libseccomp compiles the filter (once, cached). runc_nocriu:
# no checkpoint/restore; 0.7 MB less binary, which every start copies
# (rootless libcontainer re-executes a sealed copy of itself).
TAGS      := seccomp runc_nocriu
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Unit tests: every package but the end-to-end suite.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v /integration)

.PHONY: all build docs install uninstall deb demo test unit fuzz integration bench mutate lint clean

all: build

# claudebox, and beside it in bin/cni the standard CNI plugins it uses,
# built from the versions go.mod pins.
build:
	CGO_ENABLED=1 $(GO) build -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/claudebox
	for p in main/bridge ipam/host-local; do \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o bin/cni/$${p#*/} github.com/containernetworking/plugins/plugins/$$p || exit 1; \
	done

# Man pages and shell completions, generated from the command tree into
# bin/share (dated by the commit, so a rebuild is the same).
docs:
	rm -rf bin/share
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || date +%s) \
		CGO_ENABLED=1 $(GO) run -tags gendocs -ldflags '$(LDFLAGS)' ./cmd/claudebox gen-docs bin/share

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, its plugins in
# PREFIX/lib/claudebox/cni (where it looks), man pages, completions, and the
# AppArmor profile where Ubuntu needs one. PREFIX=$$HOME/.local needs no root.
PREFIX ?= /usr/local
install: build docs
	PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' hack/install.sh install

uninstall: docs
	PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' hack/install.sh uninstall

# make deb: bin/claudebox_VERSION_ARCH.deb, the same files under /usr,
# built with nfpm from the module proxy. A Debian version starts with a
# digit: 0.0~gitDATE.COMMIT until there are releases.
NFPM        := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.44.0
DEB_VERSION ?= 0.0~git$(shell git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null).$(shell git rev-parse --short HEAD 2>/dev/null)
DEB_ARCH    ?= $(shell $(GO) env GOARCH)
deb: build docs
	rm -f bin/claudebox_*.deb
	DEB_VERSION='$(DEB_VERSION)' DEB_ARCH='$(DEB_ARCH)' $(GO) run $(NFPM) package -f hack/deb/nfpm.yaml -p deb -t bin/

demo:
	hack/install-deps.sh
	$(MAKE) build
	hack/demo.sh $(BIN)

# Unit tests, then the integration suite, which drives the built binary as a
# non-root test user (and as root). CI=true turns every skip into a failure.
test:
	hack/install-deps.sh --test
	$(MAKE) build
	$(MAKE) lint unit fuzz deb integration

# With the build's tags, so that what only they compile is tested too.
# Through hack/check-skips.sh, as every suite CI runs: with CI=true a
# skipped test fails the run.
unit:
	set -o pipefail; $(GO) test -v -tags '$(TAGS)' -count=1 $(UNIT_PKGS) 2>&1 | hack/check-skips.sh

# Bounded runs of the fuzz targets of every parser of user input:
# profiles, --env, --network, --allow-net, --publish, meta.json; and of what a sandbox
# sends the relay (a connection's first bytes, DNS queries, plaintext HTTP) and the
# property of its allowlist decision (FuzzDecide), the ssh-agent proxy (agent
# messages) and the git credential server. Bounded by a count of
# inputs, not a time: a time limit on a loaded 2-core machine can end in a
# spurious "context deadline exceeded".
fuzz:
	set -o pipefail; { \
		$(GO) test -v -run='^$$' -fuzz=FuzzParse -fuzztime=200000x ./profile && \
		$(GO) test -v -run='^$$' -fuzz=FuzzUserInput -fuzztime=200000x ./launch && \
		$(GO) test -v -run='^$$' -fuzz=FuzzParsePublish -fuzztime=200000x ./launch && \
		$(GO) test -v -run='^$$' -fuzz=FuzzReadMeta -fuzztime=200000x ./state && \
		$(GO) test -v -run='^$$' -fuzz=FuzzSandboxInput -fuzztime=200000x ./network && \
		$(GO) test -v -run='^$$' -fuzz=FuzzDecide -fuzztime=200000x ./network && \
		$(GO) test -v -run='^$$' -fuzz=FuzzMessage -fuzztime=200000x ./sshagent && \
		$(GO) test -v -run='^$$' -fuzz=FuzzParse -fuzztime=200000x ./gitcred; \
	} 2>&1 | hack/check-skips.sh

integration:
	set -o pipefail; real_claude=$$(hack/install-claude-code.sh) || real_claude=; \
	CLAUDEBOX_BIN=$(abspath $(BIN)) CLAUDEBOX_REAL_CLAUDE=$$real_claude $(GO) test -count=1 -p 1 -v ./integration/... 2>&1 | hack/check-skips.sh

# Launch time against bwrap and runc, memory, gc, throughput, and which
# targets were met: bench/results.md, whose lines are the README's figures.
# BASE=REV (make bench BASE=REV) also times REV's launches, built in a
# temporary worktree, interleaved with this build's. BENCH_RUNS: hyperfine
# runs per row (30). Needs root (runs as the test user).
bench:
	hack/install-deps.sh --bench
	$(MAKE) build
	BASE='$(BASE)' hack/bench.sh

# A mutation run over the security predicates (hack/mutate.sh, gremlins):
# a surviving mutant is a predicate no unit test pins down. Not run by CI.
mutate:
	hack/mutate.sh

# Every finding fails: gofmt, go vet and staticcheck with the build's tags
# (seccomp_seccomp.go only compiles with them), shellcheck on the scripts.
# The C (pid1, the constructors) is built with -Wall -Wextra -Werror by its
# own cgo flags, in vet as in every build. Nothing built is tracked:
# hack/check-tree.sh fails on a tracked ELF file, or one over 1 MB outside
# testdata.
lint:
	hack/check-tree.sh
	GO=$(GO) TAGS='$(TAGS)' hack/check-dce.sh
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags '$(TAGS)' ./...
	$(GO) vet -tags gendocs ./cmd/claudebox
	$(GO) run $(STATICCHECK) -tags '$(TAGS)' ./...
	shellcheck hack/*.sh hack/deb/postinst hack/deb/postrm .ci/run

clean:
	rm -rf bin
