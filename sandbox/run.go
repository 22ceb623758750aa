// Package sandbox runs a launch: it is the only package with side effects on
// namespaces. It turns the OCI configuration from package bundle into a
// libcontainer container, started in-process, wires the terminal and
// signals, waits, and removes every trace of the launch afterwards.
package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/claudebox/claudebox/audit"
	"github.com/claudebox/claudebox/bundle"
	"github.com/claudebox/claudebox/launch"
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
}

// forwarded are the signals the launcher passes on to the sandbox.
var forwarded = []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2}

// Run starts the sandbox, waits for its command and returns the command's
// exit status (128+N for signal N). Everything it created (libcontainer
// state, rootfs) is removed before it returns, on every path.
func Run(c Config) (status int, err error) {
	if c.Stdin == nil {
		c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	}
	trace("launcher started")
	if err := CheckUserNS(); err != nil {
		return 0, err
	}
	rt, err := state.RuntimeDir()
	if err != nil {
		return 0, err
	}
	if inst := c.Spec.Instance; inst != nil {
		sess, err := state.OpenSession(inst, c.Spec.Home)
		if err != nil {
			return 0, err
		}
		defer sess.Close()
		if err := writeSandboxDocs(c.Spec); err != nil {
			return 0, fmt.Errorf("%w: SANDBOX.md: %w", ErrStart, err)
		}
		trace("instance session")
		creds, err := state.StartCredentialSync(c.Spec.Home, inst.HomeDir())
		if err != nil {
			return 0, fmt.Errorf("%w: credentials: %w", ErrStart, err)
		}
		defer func() { creds.Stop(); trace("credential sync stopped") }()
		trace("credential sync")
	}
	sweepStale(rt)
	trace("sweep")
	ld, err := newLaunchDir(rt)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrStart, err)
	}
	defer func() { ld.remove(); trace("launch dir removed") }()
	id, dir := ld.id, ld.path

	rootfs := filepath.Join(dir, bundle.RootfsName)
	if err := bundle.MakeRootfs(rootfs, c.Spec); err != nil {
		return 0, fmt.Errorf("%w: rootfs: %w", ErrStart, err)
	}
	layout := bundle.Layout{Rootfs: rootfs, Launcher: c.Launcher}
	if !c.Spec.NoSeccomp {
		prog, path, err := SeccompProgram(bundle.Pid1Caps(c.Spec.UID))
		if err != nil {
			return 0, &launch.HintError{Err: fmt.Errorf("%w: %w", ErrStart, err), Hint: "install libseccomp2, or (risky) --seccomp=off"}
		}
		if path == "" {
			path = filepath.Join(dir, bundle.SeccompName)
			if err := os.WriteFile(path, prog, 0o644); err != nil {
				return 0, fmt.Errorf("%w: %w", ErrStart, err)
			}
		}
		layout.Seccomp = path
	}
	trace("seccomp program")
	if c.Spec.Network.Tier == launch.TierInet {
		layout.ResolvConf = filepath.Join(dir, bundle.ResolvConfName)
		if err := bundle.WriteResolvConf(layout.ResolvConf); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrStart, err)
		}
	}
	oci, err := bundle.Build(c.Spec, layout)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrStart, err)
	}
	trace("rootfs + bundle")
	rootless := os.Geteuid() != 0
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName:      id,
		Spec:            oci,
		RootlessEUID:    rootless,
		RootlessCgroups: rootless,
	})
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrStart, err)
	}
	// The sandbox must not outlive a launcher that is killed: its pid 1
	// asks for SIGKILL when its parent thread dies (libcontainer's own
	// ParentDeathSignal is lost in nsexec's clones). That thread is this
	// one, pinned for the rest of the launcher's life.
	runtime.LockOSThread()
	// The libcontainer state lives in the launch directory too.
	ctr, err := libcontainer.Create(dir, id, cfg)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrStart, err)
	}
	defer func() { _ = ctr.Destroy(); trace("destroyed") }()
	trace("libcontainer config")

	proc := newProcess(oci.Process)
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

	if c.Spec.Network.Tier == launch.TierFull {
		err = ctr.Run(proc)
	} else {
		// The command waits (on libcontainer's exec fifo) until its
		// network is in place.
		if err = ctr.Start(proc); err == nil {
			trace("container created")
			var pid int
			if pid, err = proc.Pid(); err == nil {
				var net *network
				if net, err = attachNetwork(c, ld, pid); err != nil {
					return 0, err
				}
				defer func() { net.detach(); trace("network detached") }()
				trace("network attached")
				err = ctr.Exec()
			}
		}
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrStart, explainStart(err))
	}
	trace("command started")
	if err := term.attach(); err != nil {
		_ = proc.Signal(unix.SIGKILL)
		_, _ = proc.Wait()
		return 0, fmt.Errorf("%w: terminal: %w", ErrStart, err)
	}

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
			trace("command exited")
			term.drain()
			defer trace("cleaned up")
			return exitStatus(ps), nil
		}
	}
}

// writeSandboxDocs writes SANDBOX.md, rendered from this launch's spec, into
// the instance's ~/.claude, and makes its CLAUDE.md import it (and the
// user's own CLAUDE.md, when shown) exactly once, keeping the user's edits.
func writeSandboxDocs(s *launch.Spec) error {
	dir := filepath.Join(s.Instance.HomeDir(), ".claude")
	md, path := audit.RenderSandboxMD(s), filepath.Join(dir, audit.SandboxMD)
	if old, err := os.ReadFile(path); err != nil || !bytes.Equal(old, md) {
		if err := state.WriteFileAtomic(path, md, 0o644); err != nil {
			return err
		}
	}
	hostMD := slices.ContainsFunc(s.Mounts, func(m launch.Mount) bool { return m.Target == launch.HostClaudeMDPath(s.Home) })
	claudeMD := filepath.Join(dir, "CLAUDE.md")
	old, err := os.ReadFile(claudeMD)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if updated := audit.EnsureImports(old, hostMD); !bytes.Equal(updated, old) {
		return state.WriteFileAtomic(claudeMD, updated, 0o644)
	}
	return nil
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
	if ws, ok := ps.Sys().(unix.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
