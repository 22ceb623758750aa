// Package pid1 is the first process of every sandbox: `claudebox pid1
// --uid=U --gid=G -- CMD ARGS...`, run from the read-only copy of the
// claudebox binary mounted into the sandbox.
//
// The runtime starts it as root of a user namespace that maps only the
// invoking user (container uid 0 = host uid U), with no capabilities. It then
// starts CMD in a nested user namespace mapping U to its parent's 0, so the
// command runs as U inside (id, whoami and file owners look as on the host)
// and every file it creates is owned by U on the host. The exec as a
// non-zero uid drops the nested namespace's capabilities. This is what
// bubblewrap's --uid does; libcontainer alone cannot, as it needs container
// uid 0 mapped.
//
// As pid 1 it forwards termination signals to the command's process group,
// reaps orphans,
// dies with its launcher, and exits with the command's status (128+N when
// it died of signal N).
package pid1

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// Exit codes of pid1's own failures, as shells use them.
const (
	ExitCannotRun = 126
	ExitNotFound  = 127
	exitUsage     = 125 // also pid1's own set-up failures
)

// forwarded are the signals passed on to the command. Terminal-generated
// signals (^C) reach the command's process group directly.
var forwarded = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
}

type options struct {
	uid, gid int
	// seccomp is the compiled filter to load; ttyFilter stacks the
	// terminal ioctl filter on it (--seccomp=off turns both off).
	seccomp   string
	ttyFilter bool
	// parentFD, when >= 0, is the read end of a pipe whose write end the
	// launcher holds: end of file means the launcher is gone.
	parentFD int
	argv     []string
}

func parse(args []string) (options, error) {
	o := options{uid: -1, gid: -1, parentFD: -1}
	for i, a := range args {
		var err error
		switch {
		case a == "--":
			o.argv = args[i+1:]
			if o.uid < 0 || o.gid < 0 || len(o.argv) == 0 {
				return o, errors.New("usage: pid1 --uid=UID --gid=GID -- CMD [ARGS...]")
			}
			return o, nil
		case strings.HasPrefix(a, "--uid="):
			o.uid, err = strconv.Atoi(a[len("--uid="):])
		case strings.HasPrefix(a, "--gid="):
			o.gid, err = strconv.Atoi(a[len("--gid="):])
		case a == "--tty-filter":
			o.ttyFilter = true
		case strings.HasPrefix(a, "--seccomp="):
			o.seccomp = a[len("--seccomp="):]
		case strings.HasPrefix(a, "--parent-fd="):
			o.parentFD, err = strconv.Atoi(a[len("--parent-fd="):])
		default:
			err = fmt.Errorf("unknown argument %q", a)
		}
		if err != nil {
			return o, err
		}
	}
	return o, errors.New("usage: pid1 --uid=UID --gid=GID -- CMD [ARGS...]")
}

// Main runs pid1 with its arguments (after the verb) and returns the exit
// status.
func Main(args []string) int {
	o, err := parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "claudebox pid1: %v\n", err)
		return exitUsage
	}
	path, err := exec.LookPath(o.argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "claudebox: %s: command not found in the sandbox\n", o.argv[0])
		return ExitNotFound
	}

	// Die with the launcher (or runc): a sandbox never runs on unattended.
	// The parent-death signal alone races with a launcher killed before
	// this line; the launcher's pipe does not: its end of file comes
	// whenever the launcher goes, before or after.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "claudebox pid1: prctl(PR_SET_PDEATHSIG): %v\n", err)
		return exitUsage
	}
	if o.parentFD >= 0 {
		unix.CloseOnExec(o.parentFD)
		go dieWithLauncher(os.NewFile(uintptr(o.parentFD), "launcher"))
	}

	// Fail closed: a filter that was asked for and cannot be loaded stops
	// the launch.
	if o.seccomp != "" {
		if err := loadFilterFile(o.seccomp); err != nil {
			fmt.Fprintf(os.Stderr, "claudebox pid1: loading the seccomp filter: %v\n", err)
			return exitUsage
		}
	}
	if o.ttyFilter {
		if err := loadFilter(ttyFilter()); err != nil {
			fmt.Fprintf(os.Stderr, "claudebox pid1: loading the terminal filter: %v\n", err)
			return exitUsage
		}
	}

	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, append([]os.Signal{unix.SIGCHLD}, forwarded...)...)

	attr := &syscall.SysProcAttr{}
	if o.uid != os.Getuid() || o.gid != os.Getgid() {
		attr.Cloneflags = unix.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: o.uid, HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: o.gid, HostID: os.Getgid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	// The command leads a process group of its own: forwarded signals go
	// to the whole group, as a terminal's ^C does to a foreground job, so
	// `sh -c 'cmd; ...'` stops with its children. On a terminal the group
	// is in the foreground, so ^C and SIGWINCH reach it and not pid1.
	attr.Setpgid = true
	if term.IsTerminal(0) {
		attr.Foreground = true
		attr.Ctty = 0
	}
	proc, err := os.StartProcess(path, o.argv, &os.ProcAttr{
		Env:   os.Environ(),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   attr,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "claudebox: cannot run %s: %v\n", o.argv[0], err)
		if errors.Is(err, os.ErrNotExist) {
			return ExitNotFound
		}
		return ExitCannotRun
	}

	for sig := range sigs {
		if sig != unix.SIGCHLD {
			_ = unix.Kill(-proc.Pid, sig.(unix.Signal))
			continue
		}
		if status, done := reap(proc.Pid); done {
			return status
		}
	}
	panic("unreachable")
}

// dieWithLauncher ends the sandbox (pid 1's exit kills every process in
// its pid namespace) when the launcher's pipe closes.
func dieWithLauncher(f *os.File) {
	buf := make([]byte, 1)
	for {
		if _, err := f.Read(buf); err != nil {
			os.Exit(128 + int(unix.SIGKILL))
		}
	}
}

// reap collects every exited child; when the command is among them it
// returns its exit status.
func reap(cmd int) (int, bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			return 0, false
		}
		if pid != cmd {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal()), true
		}
		return ws.ExitStatus(), true
	}
}
