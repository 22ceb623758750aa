// Package sandbox runs a launch's container: it renders the launch's OCI
// configuration (package bundle; the same rendering --dry-run --json
// prints), hands it to libcontainer in-process, attaches the network
// (package network) while the container is created, wires the terminal
// and signals, waits, and removes every trace of the launch afterwards.
// The instance and the project's protected paths are made ready through
// package state first (instance.go); the review of what the session
// changed (package review) is recorded before the command starts and run
// once it has ended, while the rest is taken down.
package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/claudebox/claudebox/bundle"
	"github.com/claudebox/claudebox/internal/trace"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/network"
	"github.com/claudebox/claudebox/seccomp"
	"github.com/claudebox/claudebox/state"
	_ "github.com/opencontainers/cgroups/devices" // device rules for root launches
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ErrStart wraps a failure to set up or start the sandbox (as opposed to the
// command failing inside it).
var ErrStart = errors.New("cannot start the sandbox")

// Config is one sandbox run.
type Config struct {
	Spec *launch.Spec
	// Launcher is the claudebox binary, mounted read-only as pid 1.
	Launcher string
	// Stdin, Stdout and Stderr default to the process's own.
	Stdin, Stdout, Stderr *os.File
	// Publish are the published ports' host listeners, bound before the
	// launch (network.Listen); served once the command runs, and closed
	// by Run when it ends. nil for none.
	Publish *network.Publisher
}

// lifelineFD is where pid1 finds the launcher's lifeline pipe: the first
// extra file after stdio.
const lifelineFD = 3

// forwarded are the signals the launcher passes on to the sandbox.
var forwarded = []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2}

// Run starts the sandbox, waits for its command and returns the command's
// exit status (128+N for signal N). Everything it created (libcontainer
// state, rootfs, network) is removed before it returns, on every path.
func Run(c Config) (status int, err error) {
	defer c.Publish.Close()
	if c.Stdin == nil {
		c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	}
	trace.Step("launcher started")
	// libcontainer looks newuidmap and newgidmap up on this process's
	// PATH, whose entries a sandbox may write (a project's bin/): from
	// here on, only the system's directories (the command's own PATH is
	// in the spec).
	if err := os.Setenv("PATH", strings.Join(launch.HelperDirs, ":")); err != nil {
		return 0, err
	}
	if err := CheckUserNS(); err != nil {
		return 0, err
	}
	rt, err := state.RuntimeDir()
	if err != nil {
		return 0, err
	}
	var inst *instance // nil without one: the methods do nothing
	if c.Spec.Instance != nil {
		if inst, err = openInstance(c.Spec, c.Stderr); err != nil {
			return 0, err
		}
		defer inst.close()
	}
	// inet's uplink ends while the rest is cleaned up; its end is awaited
	// last.
	var nw *network.Attachment
	defer func() { nw.Settle() }()
	sweepStale(rt)
	ld, err := newLaunchDir(rt)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrStart, err)
	}
	defer func() { ld.remove(); trace.Step("launch dir removed") }()

	if err := state.PrepareProtected(c.Spec); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrStart, err)
	}
	p := places{runtimeDir: rt, launchDir: ld.path}
	if p.seccomp, err = writeLaunchFiles(c.Spec, ld); err != nil {
		return 0, err
	}
	fwd, err := startForwarders(c.Spec, ld)
	if err != nil {
		return 0, err
	}
	defer func() {
		if sum := fwd.close(); sum != "" {
			fmt.Fprintf(c.Stderr, "claudebox: %s\n", sum)
		}
	}()
	var hold *network.Holder
	if c.Spec.Network.Tier.Attached() {
		if hold, err = network.Hold(network.HoldOptions{Launcher: c.Launcher, UID: c.Spec.UID, GID: c.Spec.GID,
			SubGID: c.Spec.SubGID, Relay: network.UseRelay(c.Spec.Network.Tier)}); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrStart, err)
		}
		defer hold.Stop()
		p.holder = fmt.Sprintf("/proc/%d", hold.Pid())
	}
	oci, k, err := launchConfig(c.Spec, c.Launcher, p)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrStart, err)
	}
	if _, err := skeleton(rt, k); err != nil {
		return 0, fmt.Errorf("%w: rootfs: %w", ErrStart, err)
	}
	if err := dumpConfig(oci, p); err != nil {
		return 0, err
	}
	trace.Step("bundle")
	ctr, err := createContainer(oci, ld)
	if err != nil {
		return 0, err
	}
	defer func() { _ = ctr.Destroy(); trace.Step("destroyed") }()

	proc := newProcess(oci.Process)
	// The lifeline: pid1 ends the sandbox when its end of file comes,
	// that is when this process goes, however it goes.
	lifeline, keep, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrStart, err)
	}
	defer keep.Close()
	proc.ExtraFiles = []*os.File{lifeline} // fd 3 inside: lifelineFD
	defer lifeline.Close()
	term, err := setupIO(proc, c)
	if err != nil {
		return 0, fmt.Errorf("%w: terminal: %w", ErrStart, err)
	}
	defer term.close()

	// Catch signals before the start, so one that arrives meanwhile is
	// forwarded rather than killing the launcher half-way.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append([]os.Signal{unix.SIGWINCH}, forwarded...)...)
	defer signal.Stop(sigs)

	nw, err = start(c, ld, ctr, proc, hold, inst.syncReview)
	if nw != nil {
		defer nw.Detach()
	}
	if err != nil {
		return 0, err
	}
	trace.Step("command started")
	published, err := servePublish(c, ctr, proc)
	if err != nil {
		_ = proc.Signal(unix.SIGKILL)
		_, _ = proc.Wait()
		return 0, err
	}
	if err := term.attach(); err != nil {
		_ = proc.Signal(unix.SIGKILL)
		_, _ = proc.Wait()
		return 0, fmt.Errorf("%w: terminal: %w", ErrStart, err)
	}
	status = wait(proc, sigs, term)
	// Its pid 1 has exited, so every process of the sandbox has: the
	// review of what they changed runs while the rest is taken down.
	inst.commandEnded()
	select {
	case err := <-published:
		return 0, err
	default:
	}
	if sum := nw.Summary(); sum != "" {
		fmt.Fprintf(c.Stderr, "claudebox: %s\n", sum)
	}
	return status, nil
}

// servePublish serves the published ports from the sandbox's network
// namespace, its init's, while the command runs; a connection made before
// waits in the host listener's queue. Run closes them when it returns. If
// they cannot be served, the sandbox is killed and the error comes on
// failed.
func servePublish(c Config, ctr *libcontainer.Container, proc *libcontainer.Process) (failed chan error, err error) {
	if c.Publish == nil {
		return nil, nil
	}
	st, err := ctr.State()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	failed = make(chan error, 1)
	c.Publish.Serve(c.Launcher, st.InitProcessPid, func(err error) {
		failed <- fmt.Errorf("%w: %w", ErrStart, err)
		_ = proc.Signal(unix.SIGKILL)
	})
	return failed, nil
}

// netLogPath is where a launch of the allowlist tier logs its network's
// decisions: a file of this session in the instance directory, which the
// sandbox never sees (claudebox net-log reads the newest); "" without an
// instance or the tier.
func netLogPath(s *launch.Spec) string {
	if s.Instance == nil || s.Network.Tier != launch.TierAllowlist {
		return ""
	}
	path, err := state.NewNetLog(s.Instance)
	if err != nil {
		return ""
	}
	return path
}

// writeLaunchFiles writes what the launch's configuration mounts from
// the launch directory: the compiled seccomp filter, unless it is cached
// already (its path is returned; "" with --seccomp=off), and the inet
// tier's resolv.conf.
func writeLaunchFiles(s *launch.Spec, ld *launchDir) (filter string, err error) {
	if !s.NoSeccomp {
		prog, path, err := seccomp.Program(bundle.Pid1Caps(s))
		if err != nil {
			return "", &launch.HintError{Err: fmt.Errorf("%w: %w", ErrStart, err), Hint: "install libseccomp2, or (risky) --seccomp=off"}
		}
		if path == "" {
			path = filepath.Join(ld.path, bundle.SeccompName)
			if err := os.WriteFile(path, prog, 0o644); err != nil {
				return "", fmt.Errorf("%w: %w", ErrStart, err)
			}
		}
		filter = path
	}
	if s.Network.Tier.Attached() {
		if err := bundle.WriteResolvConf(filepath.Join(ld.path, bundle.ResolvConfName), network.ResolvConfServers(s.Network.Tier, network.UseRelay(s.Network.Tier))); err != nil {
			return "", fmt.Errorf("%w: %w", ErrStart, err)
		}
	}
	return filter, nil
}

// createContainer hands the configuration to libcontainer, with its state
// in the launch directory.
func createContainer(oci *specs.Spec, ld *launchDir) (*libcontainer.Container, error) {
	rootless := os.Geteuid() != 0
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName:      ld.id,
		Spec:            oci,
		RootlessEUID:    rootless,
		RootlessCgroups: rootless,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	// The sandbox must not outlive a launcher that is killed: its pid 1
	// asks for SIGKILL when its parent thread dies (libcontainer's own
	// ParentDeathSignal is lost in nsexec's clones). That thread is this
	// one, pinned for the rest of the launcher's life.
	runtime.LockOSThread()
	ctr, err := libcontainer.Create(ld.path, ld.id, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	trace.Step("container configured")
	return ctr, nil
}

// start runs the container's command. For inet (hold: the namespaces it
// joins) the network is attached to those namespaces while libcontainer
// creates the container, and the command waits (on libcontainer's exec
// fifo) until both are done; start returns the network, to be detached
// (nil when it failed: nothing of it is left then). none needs nothing
// more: runc's init brings up the loopback of every network namespace it
// makes (specconv's "loopback" network). In every tier the command
// waits for syncReview, which runs while the container is made.
func start(c Config, ld *launchDir, ctr *libcontainer.Container, proc *libcontainer.Process, hold *network.Holder, syncReview func() error) (*network.Attachment, error) {
	recorded := make(chan error, 1)
	go func() { recorded <- syncReview() }()
	if hold == nil {
		if err := ctr.Start(proc); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStart, explainStart(err))
		}
		return nil, execWhen(ctr, recorded)
	}
	type attached struct {
		nw  *network.Attachment
		err error
	}
	done := make(chan attached, 1)
	go func() {
		nw, err := network.Attach(network.AttachOptions{Network: c.Spec.Network, Launcher: c.Launcher,
			Dir: filepath.Join(ld.path, "net"), ID: ld.id, Pid: hold.Pid(), ResolvConf: filepath.Join(ld.path, bundle.ResolvConfName),
			Relay: hold.Relay, LogPath: netLogPath(c.Spec)})
		done <- attached{nw, err}
	}()
	startErr := ctr.Start(proc)
	trace.Step("container created")
	a := <-done // on error, the network is nil: taken down already
	trace.Step("network attached")
	hold.Stop() // the container and the network hold the namespaces now
	switch {
	case startErr != nil:
		if a.nw != nil {
			a.nw.Detach()
			a.nw.Settle()
		}
		return nil, fmt.Errorf("%w: %w", ErrStart, explainStart(startErr))
	case a.err != nil:
		return nil, a.err
	}
	return a.nw, execWhen(ctr, recorded)
}

// execWhen lets the container's command start (libcontainer's exec fifo)
// once recorded, the review's baseline, is on disk: what the session
// changes is reviewed even when a crash ends it.
func execWhen(ctr interface{ Exec() error }, recorded <-chan error) error {
	if err := <-recorded; err != nil {
		return fmt.Errorf("%w: the review's record of the project: %w", ErrStart, err)
	}
	if err := ctr.Exec(); err != nil {
		return fmt.Errorf("%w: %w", ErrStart, explainStart(err))
	}
	return nil
}

// wait forwards signals and the terminal's size until the command exits,
// and returns its status.
func wait(proc *libcontainer.Process, sigs <-chan os.Signal, term *stdio) int {
	waited := make(chan *os.ProcessState, 1)
	go func() {
		ps, _ := proc.Wait()
		waited <- ps
	}()
	for {
		select {
		case sig := <-sigs:
			if sig == unix.SIGWINCH {
				term.resize()
				continue
			}
			_ = proc.Signal(sig)
		case ps := <-waited:
			trace.Step("command exited")
			term.drain()
			return exitStatus(ps)
		}
	}
}

func newProcess(p *specs.Process) *libcontainer.Process {
	c := p.Capabilities
	return &libcontainer.Process{
		Args:            p.Args,
		Env:             p.Env,
		UID:             int(p.User.UID),
		GID:             int(p.User.GID),
		Cwd:             p.Cwd,
		NoNewPrivileges: &p.NoNewPrivileges,
		Capabilities: &configs.Capabilities{
			Bounding: c.Bounding, Effective: c.Effective, Inheritable: c.Inheritable,
			Permitted: c.Permitted, Ambient: c.Ambient,
		},
		Init: true,
	}
}

func exitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return 128 + int(unix.SIGKILL)
	}
	// os.ProcessState.Sys is a syscall.WaitStatus (not unix's: a type
	// of its own, which never matched, so a pid 1 a signal killed exited
	// 255).
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
