package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/claudebox/claudebox/bundle"
	"github.com/claudebox/claudebox/internal/registry"
	"github.com/claudebox/claudebox/launch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// An exported bundle of the inet tier attaches its network under plain
// `runc run` through a createRuntime hook: runc runs it once the
// container's namespaces exist and before its command starts, and aborts
// the start if it fails. The hook starts a keeper, detached from runc,
// that attaches the network as a launch does, reports back, then waits
// for the container's init to exit and takes the network down (the
// uplink; root's CNI DEL) however the container ended.

// HookMain is the createRuntime hook: the container's state on stdin.
func HookMain() int {
	var st specs.State
	if err := json.NewDecoder(os.Stdin).Decode(&st); err != nil {
		fmt.Fprintf(os.Stderr, "claudebox network hook: reading the container state: %v\n", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "claudebox network hook: %v\n", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "claudebox network hook: %v\n", err)
		return 1
	}
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	keeper := exec.Command(self, registry.NetKeeper, st.Bundle, st.ID, strconv.Itoa(st.Pid))
	keeper.Stdin, keeper.Stdout, keeper.Stderr = devnull, devnull, devnull
	keeper.ExtraFiles = []*os.File{w} // fd 3: its report
	keeper.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := keeper.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "claudebox network hook: %v\n", err)
		return 1
	}
	w.Close()
	report, _ := io.ReadAll(io.LimitReader(r, 4096))
	_ = keeper.Process.Release()
	if msg := strings.TrimSpace(string(report)); msg != "ok" {
		if msg == "" {
			msg = "the network keeper died"
		}
		fmt.Fprintf(os.Stderr, "claudebox: %s\n", msg)
		return 1
	}
	return 0
}

// KeeperMain attaches the network of the container, reports on fd 3,
// and takes it down when the container's init exits.
func KeeperMain(args []string) int {
	report := os.NewFile(3, "report")
	fail := func(err error) int {
		msg := err.Error()
		if h := launch.Hint(err); h != "" {
			msg += " (" + h + ")"
		}
		fmt.Fprintln(report, msg)
		return 1
	}
	if len(args) != 3 {
		return fail(errors.New("usage: claudebox _net-keeper BUNDLE ID PID"))
	}
	dir, id := args[0], args[1]
	pid, err := strconv.Atoi(args[2])
	if err != nil {
		return fail(err)
	}
	nw, err := bundleNetwork(dir)
	if err != nil {
		return fail(err)
	}
	// Held from now on: the init's exit is what ends the keeper.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fail(fmt.Errorf("watching the container: %w", err))
	}
	netDir := filepath.Join(dir, ".claudebox-net", id)
	if err := os.MkdirAll(netDir, 0o700); err != nil {
		return fail(err)
	}
	defer func() {
		os.RemoveAll(netDir)
		os.Remove(filepath.Dir(netDir)) // when no other container of the bundle runs
	}()
	a, err := Attach(AttachOptions{Network: nw, Launcher: filepath.Join(dir, bundle.LauncherName), Dir: netDir, ID: id, Pid: pid,
		ResolvConf: filepath.Join(dir, bundle.ResolvConfName)})
	if err != nil {
		return fail(err)
	}
	defer func() { a.Detach(); a.Settle() }()
	fmt.Fprintln(report, "ok")
	report.Close()
	for {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err == nil || !errors.Is(err, unix.EINTR) {
			break
		}
	}
	return 0 // the init is gone: the deferred detach takes the network down
}

// bundleNetwork reads the tier and --allow-net entries an exported bundle
// records in its annotations.
func bundleNetwork(dir string) (launch.Network, error) {
	var cfg specs.Spec
	b, err := os.ReadFile(filepath.Join(dir, bundle.ConfigName))
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		return launch.Network{}, fmt.Errorf("reading the bundle's config.json: %w", err)
	}
	nw := launch.Network{Source: "bundle"}
	if nw.Tier, err = launch.ParseTier(cfg.Annotations[bundle.AnnotationNetwork]); err != nil {
		return nw, err
	}
	if allow := cfg.Annotations[bundle.AnnotationAllowNet]; allow != "" {
		for _, a := range strings.Split(allow, ",") {
			al, err := launch.ParseAllow(a)
			if err != nil {
				return nw, err
			}
			nw.Allow = append(nw.Allow, al)
		}
	}
	return nw, nil
}
