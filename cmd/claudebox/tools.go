//go:build tools

package main

// The standard CNI plugins root's inet uses, pinned by go.mod and built
// into bin/cni by the Makefile.
import (
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
)
