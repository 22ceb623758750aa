// Package preflight is claudebox --check: it verifies what claudebox needs
// and that its isolation holds, by trying. It creates a user namespace and
// launches real sandboxes (package sandbox) on a throwaway home holding a
// canary secret, and checks from inside what each must not allow. A PASS
// means verified, and each can fail.
package preflight

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/claudebox/claudebox/internal/registry"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/network"
	"github.com/claudebox/claudebox/sandbox"
	"github.com/claudebox/claudebox/sshagent"
	"github.com/claudebox/claudebox/state"
)

// Check outcomes.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Warn = "WARN"
)

// Result is one line of `claudebox --check`.
type Result struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Options say where the checks look.
type Options struct {
	Launcher string
	Host     launch.Host
	StateDir string
}

// Run verifies what claudebox needs and that its isolation holds,
// by trying: it creates a user namespace, and launches real sandboxes
// that must not see a planted secret, write the host, inherit a planted
// variable, or get past each network tier. A PASS means verified.
func Run(o Options) []Result {
	var out []Result
	add := func(name, status, detail, fix string) {
		out = append(out, Result{Name: name, Status: status, Detail: detail, Fix: fix})
	}
	fromErr := func(name, okDetail string, err error) bool {
		if err != nil {
			add(name, Fail, err.Error(), launch.Hint(err))
			return false
		}
		add(name, Pass, okDetail, "")
		return true
	}

	userns := fromErr("user namespaces", "an unprivileged user namespace was created", tryUserNS())
	if _, err := launch.HelperPath("newuidmap", o.Launcher); err != nil {
		add("newuidmap", Warn, "not installed; claudebox does not need it, rootless tools inside (podman, buildah) do", "sudo apt-get install uidmap")
	} else {
		add("newuidmap", Pass, "installed", "")
	}
	fromErr("state directory", o.StateDir+" is writable", writable(o.StateDir))
	rt, err := state.RuntimeDir()
	if err == nil {
		err = writable(rt)
	}
	fromErr("runtime directory", rt+" is writable", err)
	// Looked up as a launch does, wherever --check runs from (a launch
	// needs a project; this check does not).
	if claude, _, err := launch.FindClaude(o.Host); err != nil {
		fromErr("claude", "", err)
	} else {
		add("claude", Pass, "runs as "+claude, "")
	}
	if network.NeedsPlugins(launch.TierInet) {
		dir, err := network.PluginDir(o.Launcher)
		fromErr("CNI plugins", "bridge and host-local in "+dir, err)
	}
	// Launches go through the relay; exported inet bundles (and
	// CLAUDEBOX_UPLINK=slirp4netns) use slirp4netns and /dev/net/tun.
	const onlyExports = "; only exported inet bundles need it (launches use the relay)"
	if slirp, err := launch.HelperPath("slirp4netns", o.Launcher); err != nil {
		add("slirp4netns", Warn, err.Error()+onlyExports, launch.Hint(err))
	} else {
		add("slirp4netns", Pass, slirp, "")
	}
	if err := network.CheckTun(); err != nil {
		add("/dev/net/tun", Warn, err.Error()+onlyExports, launch.Hint(err))
	} else {
		add("/dev/net/tun", Pass, "usable", "")
	}

	out = append(out, checkSSHAgent(o.Host))

	if !userns {
		add("sandbox probes", Fail, "skipped: no user namespaces", "fix the user namespace check first")
		return out
	}
	out = append(out, probeSandbox(o)...)
	return out
}

// tryUserNS really creates a user namespace.
func tryUserNS() error {
	if err := sandbox.CheckUserNS(); err != nil {
		return err
	}
	cmd := exec.Command("/proc/self/exe", "version")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		return &launch.HintError{Err: fmt.Errorf("%w: creating one failed: %w", sandbox.ErrUserNS, err),
			Hint: "see README, \"User namespaces\""}
	}
	return nil
}

func writable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &launch.HintError{Err: err, Hint: "make it writable by you: chmod u+rwx " + dir}
	}
	f, err := os.CreateTemp(dir, ".check-*")
	if err != nil {
		return &launch.HintError{Err: err, Hint: "make it writable by you: chmod u+rwx " + dir}
	}
	f.Close()
	return os.Remove(f.Name())
}

// probeSandbox launches real sandboxes on a throwaway home holding a canary
// secret, and checks from inside what each must not allow.
func probeSandbox(o Options) []Result {
	var out []Result
	add := func(name, status, detail, fix string) {
		out = append(out, Result{Name: name, Status: status, Detail: detail, Fix: fix})
	}
	tmp, err := os.MkdirTemp("", "claudebox-check-")
	if err != nil {
		add("sandbox probes", Fail, err.Error(), "")
		return out
	}
	defer os.RemoveAll(tmp)
	home := filepath.Join(tmp, "home")
	proj := filepath.Join(home, "project")
	canary := "claudebox-canary-" + fmt.Sprint(time.Now().UnixNano())
	if err := os.MkdirAll(filepath.Join(proj, ".git"), 0o700); err != nil {
		add("sandbox probes", Fail, "making a throwaway project: "+err.Error(), "")
		return out
	}
	planted := plantCanary(filepath.Join(home, ".ssh", "id_canary"), canary)
	host := launch.Host{
		UID: os.Getuid(), GID: os.Getgid(), Home: home, Cwd: proj,
		Environ:     []string{"PATH=" + launch.DefaultPath, "CANARY_TOKEN=" + canary},
		LandlockABI: launch.LandlockABI(),
		Groups:      o.Host.Groups, SubGID: o.Host.SubGID, NewGIDMap: o.Host.NewGIDMap,
	}
	run := func(tier launch.Tier, script string, sockets ...string) (string, error) {
		s, err := launch.Resolve(launch.Options{Command: []string{"sh", "-c", script}, Network: string(tier), Sockets: sockets}, host)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		r, w, err := os.Pipe()
		if err != nil {
			return "", err
		}
		done := make(chan struct{})
		go func() { io.Copy(&buf, r); close(done) }()
		devnull, _ := os.Open(os.DevNull)
		defer devnull.Close()
		_, err = sandbox.Run(sandbox.Config{Spec: s, Launcher: o.Launcher, Stdin: devnull, Stdout: w, Stderr: w})
		w.Close()
		<-done
		return buf.String(), err
	}

	got, err := run(launch.TierFull, `
		cat ~/.ssh/id_canary 2>/dev/null || echo secret-hidden
		touch /usr/.claudebox-check 2>/dev/null || echo host-readonly
		env | grep -q CANARY_TOKEN || echo env-clean
		echo x > probe && echo project-writable
		grep -q '^Seccomp:[[:space:]]*2' /proc/self/status && echo seccomp-filter
		awk -v g="$(id -g)" '/^Groups:/ { for (i = 2; i <= NF; i++) if ($i != g) exit 1 }' /proc/self/status && echo no-groups`)
	if err != nil {
		add("sandbox", Fail, "a sandbox did not start: "+err.Error(), launch.Hint(err))
		return out
	}
	out = append(out, judgeIsolation(got, canary, planted)...)

	out = append(out, checkGroups(o.Host, strings.Contains(got, "no-groups")))
	out = append(out, checkAbstractSockets(o, host, func(script string) (string, error) { return run(launch.TierFull, script) }))
	out = append(out, checkHostSockets(tmp, proj, &host, func(script string, shown string) (string, error) {
		return run(launch.TierFull, script, shown)
	}))

	got, err = run(launch.TierNone, `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`)
	if err != nil {
		add("network none", Fail, err.Error(), launch.Hint(err))
	} else if ifs := strings.Fields(got); len(ifs) == 1 && ifs[0] == "lo" {
		add("network none", Pass, "only loopback", "")
	} else {
		add("network none", Fail, "interfaces: "+strings.Join(ifs, " "), "report this")
	}

	// A connection to a private address (10.0.2.2, in the deny set) must be
	// rejected by claudebox-egress inside the sandbox, before it is
	// redirected to the relay (or, with CLAUDEBOX_UPLINK=slirp4netns,
	// reaches the uplink's gateway): no packet reaches any network.
	got, err = run(launch.TierInet, `/.claudebox/claudebox `+registry.Probe+` tcp 10.0.2.2:9`)
	switch {
	case err != nil:
		add("network inet", Fail, err.Error(), launch.Hint(err))
	case strings.Contains(got, "no route to host") || strings.Contains(got, "connection refused"):
		add("network inet", Pass, "deny rules in place: 10.0.2.2 rejected in the sandbox", "")
	default:
		add("network inet", Fail, "a private address was not rejected: "+strings.TrimSpace(got), "report this")
	}

	// The allowlist, with nothing listed but Claude's: an unlisted name
	// must get NXDOMAIN from the stub (which asks nobody), and a public
	// address must be refused by the relay (which connects nowhere).
	got, err = run(launch.TierAllowlist, `p=/.claudebox/claudebox; $p `+registry.Probe+` dns claudebox-check.invalid; $p `+registry.Probe+` tcp 192.0.2.1:443`)
	switch {
	case err != nil:
		add("network allowlist", Fail, err.Error(), launch.Hint(err))
	case strings.Contains(got, "no such host") && strings.Contains(got, "reset by peer"):
		add("network allowlist", Pass, "an unlisted name got NXDOMAIN from the stub, an unlisted address was refused by the relay", "")
	default:
		add("network allowlist", Fail, "not refused: "+strings.TrimSpace(got), "report this")
	}
	return out
}

// plantCanary writes the canary secret to path, on the host, and reads it
// back: the "secrets hidden" check means something only when the secret
// is there to be hidden.
func plantCanary(path, canary string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(canary), 0o600); err != nil {
		return err
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != canary {
		return fmt.Errorf("%s does not hold the canary after writing it (%v)", path, err)
	}
	return nil
}

// judgeIsolation turns what the isolation probe printed (got) into
// results. Each PASS needs its mark printed from inside and the canary
// never printed; "secrets hidden" also needs the canary planted on the
// host (planted == nil), else nothing was hidden and it FAILs.
func judgeIsolation(got, canary string, planted error) []Result {
	var out []Result
	for _, c := range []struct{ mark, name, detail string }{
		{"secret-hidden", "secrets hidden", "a canary in ~/.ssh is invisible"},
		{"host-readonly", "host read-only", "/usr cannot be written"},
		{"env-clean", "environment clean", "a planted variable does not pass"},
		{"project-writable", "project writable", "the project can be written"},
		{"seccomp-filter", "seccomp", "the command runs under the seccomp filter"},
	} {
		r := Result{Name: c.name, Status: Pass, Detail: c.detail}
		switch {
		case c.mark == "secret-hidden" && planted != nil:
			r.Status, r.Detail, r.Fix = Fail, "not verified: the canary could not be planted: "+planted.Error(), "check that the temporary directory ($TMPDIR) is writable"
		case !strings.Contains(got, c.mark) || strings.Contains(got, canary):
			r.Status, r.Detail, r.Fix = Fail, "not verified; the sandbox printed: "+strings.TrimSpace(got), "report this: the sandbox does not isolate"
		}
		out = append(out, r)
	}
	return out
}

// checkGroups says what becomes of the user's supplementary groups in a
// sandbox, verified by the probe (none: the command has no group but its
// own).
func checkGroups(h launch.Host, none bool) Result {
	r := Result{Name: "groups"}
	var s launch.Spec
	launch.ResolveGroups(&s, h)
	switch {
	case len(s.KeptGroups) > 0:
		r.Status, r.Detail = Warn, "kept in the sandbox: "+strings.Join(s.KeptGroups, ", ")
		if important := launch.Important(s.KeptGroups); len(important) > 0 {
			r.Detail += "; " + strings.Join(important, ", ") + " grant root or the host's logs"
		}
		r.Fix = "install uidmap (newgidmap) and give your user a range in /etc/subgid (sudo usermod --add-subgids 100000-165535 $USER): claudebox then drops them"
	case !none:
		r.Status, r.Detail, r.Fix = Fail, "the command has supplementary groups", "report this"
	case s.SubGID != 0:
		r.Status, r.Detail = Pass, fmt.Sprintf("yours are dropped (newgidmap maps subgid %d)", s.SubGID)
	default:
		r.Status, r.Detail = Pass, "none to drop"
	}
	return r
}

// checkAbstractSockets listens on an abstract unix socket of the host and
// tries it from a full sandbox (which shares the host's network namespace,
// where abstract sockets live): refused when the kernel scopes them, a
// warning when it cannot (Linux < 6.12), a failure when it should and does
// not.
func checkAbstractSockets(o Options, host launch.Host, runFull func(string) (string, error)) Result {
	const name = "abstract sockets"
	res := func(status, detail, fix string) Result {
		return Result{Name: name, Status: status, Detail: detail, Fix: fix}
	}
	addr := fmt.Sprintf("@claudebox-check-%d-%d", os.Getpid(), time.Now().UnixNano())
	l, err := listenUnix(addr)
	if err != nil {
		return res(Fail, err.Error(), "")
	}
	defer l.Close()
	got, err := runFull(`/.claudebox/claudebox ` + registry.Probe + ` unix ` + addr)
	reached := strings.TrimSpace(got) == "ok"
	switch {
	case err != nil:
		return res(Fail, err.Error(), launch.Hint(err))
	case host.LandlockABI < launch.ScopeABI && reached:
		return res(Warn, fmt.Sprintf("the host's (X11, session buses) are reachable from --network full: this kernel has Landlock ABI %d, scoping needs %d (Linux 6.12)", host.LandlockABI, launch.ScopeABI),
			"use --network none or inet (a network namespace of their own), or a Linux 6.12 or later kernel")
	case reached:
		return res(Fail, "a host abstract socket was reached from --network full despite the scope", "report this")
	case strings.Contains(got, "operation not permitted"):
		return res(Pass, "the host's are out of reach, also from --network full (Landlock scope)", "")
	}
	return res(Fail, "not verified; the probe printed: "+strings.TrimSpace(got), "report this")
}

// checkHostSockets listens on pathname unix sockets of the host where a
// daemon would: under the host's /run (when the user can write a place
// there) and in the project, and one more shown with --socket; each is
// first reached from the host (the control), then tried from a full
// sandbox: the first two must be out of reach, the shown one reachable.
func checkHostSockets(tmp, proj string, host *launch.Host, runFull func(script, shown string) (string, error)) Result {
	const name = "host sockets"
	res := func(status, detail, fix string) Result {
		return Result{Name: name, Status: status, Detail: detail, Fix: fix}
	}
	paths := map[string]string{"project": filepath.Join(proj, "daemon.sock"), "shown": filepath.Join(tmp, "shown.sock")}
	for _, dir := range []string{os.Getenv("XDG_RUNTIME_DIR"), "/run/user/" + strconv.Itoa(os.Getuid()), "/run"} {
		if launch.Within(dir, "/run") && writable(dir) == nil {
			paths["run"] = filepath.Join(dir, fmt.Sprintf("claudebox-check-%d.sock", os.Getpid()))
			break
		}
	}
	for what, p := range paths {
		l, err := listenUnix(p)
		if err != nil {
			return res(Fail, err.Error(), "")
		}
		defer l.Close()
		if c, err := net.Dial("unix", p); err != nil {
			return res(Fail, "the control failed: the "+what+" socket "+p+" is not reachable from the host: "+err.Error(), "")
		} else {
			c.Close()
		}
	}
	if host.LandlockABI < launch.ResolveUnixABI {
		if err := host.Rescan(); err != nil {
			return res(Fail, err.Error(), launch.Hint(err))
		}
	}
	p := "/.claudebox/claudebox " + registry.Probe + " unix "
	var script strings.Builder
	for _, what := range []string{"project", "run", "shown"} {
		if q := paths[what]; q != "" {
			q = "'" + strings.ReplaceAll(q, "'", `'\''`) + "'"
			fmt.Fprintf(&script, "printf '%%s ' %s; %s%s\n", q, p, q)
		}
	}
	got, err := runFull(script.String(), paths["shown"])
	if err != nil {
		return res(Fail, err.Error(), launch.Hint(err))
	}
	mechanism := "hidden (this kernel has Landlock ABI " + strconv.Itoa(host.LandlockABI) + "; resolve-unix needs 9, Linux 7.1)"
	if host.LandlockABI >= launch.ResolveUnixABI {
		mechanism = "denied by Landlock (resolve-unix)"
	}
	var reached []string
	for what, p := range paths {
		line := lineOf(got, p)
		ok := strings.HasSuffix(line, " ok")
		switch {
		case line == "":
			return res(Fail, "not verified: no probe of "+p+"; the probe printed: "+strings.TrimSpace(got), "report this")
		case what == "shown" && !ok:
			return res(Fail, "a socket shown with --socket was not reachable: "+line, "report this")
		case what != "shown" && ok:
			reached = append(reached, p)
		}
	}
	if len(reached) > 0 {
		return res(Fail, "host sockets reached from a sandbox: "+strings.Join(reached, ", "), "report this")
	}
	where := "in the project"
	if paths["run"] != "" {
		where = "under /run and " + where
	}
	return res(Pass, "a host daemon's socket "+where+" is out of reach, one shown with --socket is reached; other host sockets: "+mechanism, "")
}

// listenUnix listens on the unix socket addr and accepts every connection
// (closing it at once) until closed: a host service for a probe to reach.
func listenUnix(addr string) (net.Listener, error) {
	l, err := net.Listen("unix", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l, nil
}

// lineOf is the line of out that starts with prefix and a space, trimmed.
func lineOf(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix+" ") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// ProbeMain is --check's network probe, run inside a sandbox as `claudebox
// _probe tcp|unix|dns ADDR` (registry.Probe): it prints "ok" or the error.
//
// A TCP connection also waits a moment for the peer to close it: the
// allowlist's relay accepts before it refuses (with a reset). `_probe dns
// NAME` resolves NAME.
func ProbeMain(args []string) int {
	if len(args) != 2 || args[0] != "tcp" && args[0] != "unix" && args[0] != "dns" {
		fmt.Fprintln(os.Stderr, "usage: claudebox _probe tcp|unix|dns ADDR")
		return registry.ExitFailure
	}
	if args[0] == "dns" {
		addrs, err := net.LookupHost(args[1])
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println("ok", strings.Join(addrs, ","))
		return 0
	}
	c, err := net.DialTimeout(args[0], args[1], 2*time.Second)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer c.Close()
	if args[0] == "tcp" {
		// Longer than the allowlist relay waits for a silent client's
		// first bytes (a second) before it resets the connection.
		_ = c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			fmt.Println(err)
			return 1
		}
	}
	fmt.Println("ok")
	return 0
}

// checkSSHAgent says whether --ssh-agent can forward: the host's agent
// answers, with how many keys. Nothing is forwarded unless a launch asks.
func checkSSHAgent(h launch.Host) Result {
	r := Result{Name: "ssh-agent"}
	sock := ""
	for _, kv := range h.Environ {
		if v, ok := strings.CutPrefix(kv, "SSH_AUTH_SOCK="); ok {
			sock = v
		}
	}
	keys, err := sshagent.Probe(sock)
	if err != nil {
		r.Status, r.Detail = Warn, "your agent does not answer ("+err.Error()+"): --ssh-agent HOST would refuse to launch"
		r.Fix = "eval \"$(ssh-agent)\" && ssh-add"
		return r
	}
	r.Status = Pass
	r.Detail = fmt.Sprintf("your agent answers with %d key(s); forwarded to a sandbox only with --ssh-agent HOST, for logins to HOST", len(keys))
	return r
}
