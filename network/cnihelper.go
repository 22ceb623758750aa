package network

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/claudebox/claudebox/internal/registry"
	"github.com/claudebox/claudebox/internal/trace"
	"github.com/containernetworking/cni/libcni"
)

// CNIHelperMain is the hidden subcommand (registry.CNI) that runs libcni
// inside the sandbox's user namespace: `claudebox _cni add|del DIR
// CNI_PATH ID`, with the user namespace joined already and the network
// namespace on fd 4.
func CNIHelperMain(args []string) int {
	fs := flag.NewFlagSet(registry.CNI, flag.ContinueOnError)
	if err := fs.Parse(args); err != nil || fs.NArg() != 4 {
		fmt.Fprintln(os.Stderr, "usage: claudebox _cni add|del DIR CNI_PATH ID")
		return registry.ExitFailure
	}
	op, dir, path, id := fs.Arg(0), fs.Arg(1), fs.Arg(2), fs.Arg(3)
	b, err := os.ReadFile(filepath.Join(dir, "conflist.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return registry.ExitFailure
	}
	list, err := libcni.ConfListFromBytes(b)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return registry.ExitFailure
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(path), filepath.Join(dir, "cache"), nil)
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: fmt.Sprintf("/proc/%d/fd/4", os.Getpid()), IfName: "eth0"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	trace.Step("cni helper " + op + " started")
	defer trace.Step("cni helper " + op + " done")
	switch op {
	case "add":
		if _, err = cni.AddNetworkList(ctx, list, rt); err != nil {
			_ = cni.DelNetworkList(ctx, list, rt) // libcni does not roll back
		}
	case "del":
		err = cni.DelNetworkList(ctx, list, rt)
	default:
		err = fmt.Errorf("unknown operation %q", op)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// Release runs CNI DEL for a launch whose launcher died, from the
// files it left in dir: what lives outside the sandbox's (gone) network
// namespace, root's IPAM lease and veth, is released. Rootless launches
// have nothing outside, and no DEL is needed.
func Release(dir, id string) {
	b, err := os.ReadFile(filepath.Join(dir, "conflist.json"))
	if err != nil || os.Geteuid() != 0 {
		return
	}
	list, err := libcni.ConfListFromBytes(b)
	if err != nil {
		return
	}
	paths := []string{filepath.Join(dir, "bin")}
	if self, err := os.Executable(); err == nil {
		if p, err := PluginDir(self); err == nil {
			paths = append(paths, p)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cni := libcni.NewCNIConfigWithCacheDir(paths, filepath.Join(dir, "cache"), nil)
	_ = cni.DelNetworkList(ctx, list, &libcni.RuntimeConf{ContainerID: id, IfName: "eth0"})
}
