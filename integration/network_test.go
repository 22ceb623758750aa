package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The network tests run claudebox inside the closed test world of
// hack/testworld.sh: no packet leaves this machine.

var testpeer string // the probe/serve helper (integration/testpeer)

func setupWorld(dir string) error {
	testpeer = filepath.Join(dir, "testpeer")
	build := exec.Command("go", "build", "-o", testpeer, "./testpeer")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmtErr("building testpeer", err, out)
	}
	if out, err := exec.Command("../hack/testworld.sh", "up", testpeer).CombinedOutput(); err != nil {
		return fmtErr("hack/testworld.sh up", err, out)
	}
	return nil
}

func teardownWorld() {
	if testpeer != "" {
		_ = exec.Command("../hack/testworld.sh", "down").Run()
	}
}

type cmdError struct {
	what string
	err  error
	out  []byte
}

func (e *cmdError) Error() string { return e.what + ": " + e.err.Error() + ": " + string(e.out) }

func fmtErr(what string, err error, out []byte) error { return &cmdError{what, err, out} }

// inWorld runs claudebox as a in the test world's host.
func (in invocation) inWorld(t *testing.T, args ...string) result {
	t.Helper()
	uid, gid := 0, 0
	if in.as != nil {
		uid, gid = in.as.uid, in.as.gid
	}
	cmd := in.command(args...)
	cmd.SysProcAttr = nil // hack/in-world.sh switches to the user
	cmd.Path, _ = filepath.Abs("../hack/in-world.sh")
	cmd.Args = append([]string{cmd.Path, strconv.Itoa(uid), strconv.Itoa(gid), in.binary()}, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan struct{})
	go func() {
		_ = cmd.Run()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Fatalf("claudebox %v timed out", args)
	}
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// startInWorld starts claudebox as in.as in the test world and waits for
// the command inside to print "ready". in-world.sh execs its way down to
// the launcher, so the returned process is the launcher.
func (in invocation) startInWorld(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	uid, gid := 0, 0
	if in.as != nil {
		uid, gid = in.as.uid, in.as.gid
	}
	cmd := in.command()
	cmd.SysProcAttr = nil
	cmd.Path, _ = filepath.Abs("../hack/in-world.sh")
	cmd.Args = append([]string{cmd.Path, strconv.Itoa(uid), strconv.Itoa(gid), in.binary()}, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, cmd)
	buf := make([]byte, 6)
	if n, _ := out.Read(buf); string(buf[:n]) != "ready\n" {
		t.Fatalf("no ready: %q", buf[:n])
	}
	return cmd
}

// worldProject is a project holding a copy of testpeer, for probes.
func worldProject(t *testing.T, a *account) string {
	t.Helper()
	proj := newProject(t, a)
	if err := copyExecutable(testpeer, filepath.Join(proj, "testpeer")); err != nil {
		t.Fatal(err)
	}
	if a != nil {
		os.Chown(filepath.Join(proj, "testpeer"), a.uid, a.gid)
	}
	return proj
}

// targets probed in every tier, as testpeer probe arguments.
var targets = []struct{ name, target string }{
	{"internet", "198.51.100.10:8080"},
	{"internet-by-name", "dns:internet.test"},
	{"rebind-name", "dns:rebind.test"},
	{"lan", "192.168.77.10:8080"},
	{"tailscale", "100.100.7.10:8080"},
	{"metadata", "169.254.169.254:8080"},
	{"ten-slash-8", "10.9.9.10:8080"},
	{"host-public", "203.0.113.1:8080"},
	{"host-public-v4mapped", "[::ffff:203.0.113.1]:8080"},
	{"host-loopback", "127.0.0.1:8080"},
	{"uplink-gateway", "10.0.2.2:8080"},
	{"internet-v6", "[2001:db8:1::10]:8080"},
	{"tailscale-v6", "[fd7a:115c:a1e0::10]:8080"},
}

// probeResult is one line of testpeer probe.
type probeResult struct {
	ok     bool
	ms     int
	detail string
}

func probeAll(t *testing.T, in invocation, extra ...string) map[string]probeResult {
	t.Helper()
	args := append(extra, "--", "./testpeer", "probe")
	for _, tg := range targets {
		args = append(args, tg.name+"="+tg.target)
	}
	r := in.inWorld(t, append([]string{"run"}, args...)...)
	if r.code != 0 {
		t.Fatalf("probe run failed:\n%s", r)
	}
	got := map[string]probeResult{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.SplitN(line, " ", 4)
		if len(f) < 3 {
			continue
		}
		ms, _ := strconv.Atoi(f[2])
		pr := probeResult{ok: f[1] == "ok", ms: ms}
		if len(f) == 4 {
			pr.detail = f[3]
		}
		got[f[0]] = pr
	}
	return got
}

// expect checks the probes: reachable names are ok, all others fail, and
// (but in the full tier, where the host's routes decide) fail fast.
func expect(t *testing.T, got map[string]probeResult, reachable ...string) {
	expectTier(t, got, true, reachable...)
}

func expectTier(t *testing.T, got map[string]probeResult, fast bool, reachable ...string) {
	t.Helper()
	for _, tg := range targets {
		pr, ok := got[tg.name]
		if !ok {
			t.Errorf("%s: not probed", tg.name)
			continue
		}
		want := false
		for _, r := range reachable {
			want = want || r == tg.name
		}
		if pr.ok != want {
			t.Errorf("%s (%s): reachable=%v, want %v (%s)", tg.name, tg.target, pr.ok, want, pr.detail)
		}
		if fast && !pr.ok && pr.ms > 2000 {
			t.Errorf("%s: took %d ms to fail; failures must be fast", tg.name, pr.ms)
		}
	}
}

func TestNetworkTiers(t *testing.T) {
	needSuite(t)
	asUserAndRoot(t, func(t *testing.T, as *account) {
		in := invocation{as: as, dir: worldProject(t, as)}
		t.Run("none", func(t *testing.T) {
			expect(t, probeAll(t, in, "--network", "none"))
		})
		t.Run("inet", func(t *testing.T) {
			got := probeAll(t, in, "--network", "inet")
			expect(t, got, "internet", "internet-by-name", "rebind-name")
			if d := got["rebind-name"].detail; d != "192.168.77.10" {
				t.Errorf("rebind.test resolved to %q; the test needs it to name the LAN host", d)
			}
		})
		if as != nil {
			// Rootless inet through slirp4netns, which the relay
			// replaced (exported bundles still use it): the same
			// verdicts.
			t.Run("inet through slirp4netns", func(t *testing.T) {
				slirp := in
				slirp.env = []string{"CLAUDEBOX_UPLINK=slirp4netns"}
				got := probeAll(t, slirp, "--network", "inet")
				expect(t, got, "internet", "internet-by-name", "rebind-name")
			})
		}
		t.Run("full", func(t *testing.T) {
			expectTier(t, probeAll(t, in, "--network", "full"), false, "internet", "internet-by-name", "rebind-name", "lan",
				"tailscale", "metadata", "ten-slash-8", "host-public", "host-public-v4mapped", "host-loopback",
				"internet-v6", "tailscale-v6")
		})
		if as != nil {
			assertNothingLeft(t, as)
		}
	})
}

func TestNetworkPrecedenceAndAllow(t *testing.T) {
	needSuite(t)
	proj := worldProject(t, testUser)
	env := invocation{as: testUser, dir: proj, env: []string{"CLAUDEBOX_NETWORK=none"}}
	expect(t, probeAll(t, env))                                                                     // from the env var
	expect(t, probeAll(t, env, "--network", "inet"), "internet", "internet-by-name", "rebind-name") // the flag wins

	in := invocation{as: testUser, dir: proj}
	r := in.inWorld(t, "run", "--network", "inet", "--allow-net", "192.168.77.10:8080", "--",
		"./testpeer", "probe", "lan=192.168.77.10:8080", "lan-other-port=192.168.77.10:8081", "tailscale=100.100.7.10:8080")
	mustExit(t, r, 0)
	mustContain(t, r, "lan ok", "lan-other-port fail", "tailscale fail")

	r = in.inWorld(t, "run", "--network", "bogus", "--", "true")
	mustExit(t, r, 125)
	mustContain(t, r, `unknown network tier "bogus"`, "none, allowlist, inet or full")
}

// TestNetworkRulesHold: nothing inside can change the rules or the links
// of its network namespace, in either rootless shape (the relay's: the
// address and route on lo; slirp4netns's: tap0), not even root of a nested
// user namespace. The control: the same commands work as root of a nested
// user namespace in a network namespace of its own.
func TestNetworkRulesHold(t *testing.T) {
	needSuite(t)
	proj := worldProject(t, testUser)
	for shape, dev := range map[string]string{"relay": "lo", "slirp4netns": "tap0"} {
		t.Run(shape, func(t *testing.T) {
			in := invocation{as: testUser, dir: proj}
			if shape == "slirp4netns" {
				in.env = []string{"CLAUDEBOX_UPLINK=slirp4netns"}
			}
			r := in.inWorld(t, "run", "-q", "--network", "inet", "--", "sh", "-c", strings.ReplaceAll(`
				export PATH=$PATH:/usr/sbin:/sbin
				ip -o addr show dev DEV | grep -q 'inet 10.0.2.100/' && echo SHAPE-OK
				nft flush ruleset 2>/dev/null && echo FLUSHED
				nft delete table inet claudebox 2>/dev/null && echo DELETED
				ip route replace 192.168.77.0/24 dev DEV 2>/dev/null && echo ROUTED
				ip addr flush dev DEV 2>/dev/null && echo ADDR-FLUSHED
				ip link set DEV down 2>/dev/null && echo LINK-DOWN
				unshare -Urn sh -c 'ip link set lo up && ip addr add 10.0.2.100/32 dev lo && nft flush ruleset &&
					ip route replace 192.168.77.0/24 dev lo && ip addr flush dev lo && ip link set lo down' && echo NESTED-OWN-NETNS-OK
				./testpeer probe lan=192.168.77.10:8080 internet=198.51.100.10:8080`, "DEV", dev))
			mustExit(t, r, 0)
			mustNotContain(t, r, "FLUSHED", "DELETED", "LINK-DOWN", "ROUTED", "ADDR-FLUSHED")
			mustContain(t, r, "SHAPE-OK", "NESTED-OWN-NETNS-OK", "lan fail", "internet ok")
		})
	}
}

// TestNoneShownSocket: loopback only, and it is up; a host unix socket
// shown with --socket works.
func TestNoneShownSocket(t *testing.T) {
	needSuite(t)
	proj := worldProject(t, testUser)
	sock := filepath.Join(proj, "daemon.sock")
	srv := exec.Command(testpeer, "serve", "-unix", sock)
	out, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	buf := make([]byte, 6)
	out.Read(buf)
	// A host daemon's socket is out of reach (TestHostDaemonSockets) but
	// when shown on purpose.
	r := invocation{as: testUser, dir: proj}.inWorld(t, "run", "--network", "none", "--socket", sock, "--", "sh", "-c",
		withOwnLoopback("./testpeer probe own-lo=127.0.0.1:7777 sock=unix:"+sock+" internet=198.51.100.10:8080"))
	mustContain(t, r, "own-lo ok", "hello from 127.0.0.1:7777", "sock ok", "hello from unix", "internet fail")
}

// TestNetworkFailsClosed: a tier that cannot be set up is refused, with
// the fix, and leaves nothing behind.
func TestNetworkFailsClosed(t *testing.T) {
	needSuite(t)
	proj := worldProject(t, testUser)
	in := invocation{as: testUser, dir: proj}

	t.Run("tun not usable", func(t *testing.T) {
		fi, err := os.Stat("/dev/net/tun")
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod("/dev/net/tun", 0o600)
		defer os.Chmod("/dev/net/tun", fi.Mode().Perm())
		// slirp4netns needs it, and the launch is refused; the relay
		// does not.
		slirp := in
		slirp.env = []string{"CLAUDEBOX_UPLINK=slirp4netns"}
		r := slirp.inWorld(t, "run", "-q", "--network", "inet", "--", "echo", "RAN")
		mustExit(t, r, 125)
		mustContain(t, r, "/dev/net/tun", "chmod 0666 /dev/net/tun")
		mustNotContain(t, r, "RAN")
		assertNothingLeft(t, testUser)
		mustContain(t, in.inWorld(t, "run", "-q", "--network", "inet", "--", "echo", "RAN"), "RAN")
	})
	t.Run("no CNI plugins", func(t *testing.T) {
		// Root's inet needs the bridge plugins; rootless inet needs none.
		rootProj := worldProject(t, nil)
		r := invocation{dir: rootProj, env: []string{"CLAUDEBOX_CNI_PATH=/nonexistent"}}.inWorld(t, "run", "-q", "--network", "inet", "--", "echo", "RAN")
		mustExit(t, r, 125)
		mustContain(t, r, "bridge plugin is missing", "make build")
		mustNotContain(t, r, "RAN")
		assertNothingLeft(t, nil)
		r = invocation{as: testUser, dir: proj, env: []string{"CLAUDEBOX_CNI_PATH=/nonexistent"}}.inWorld(t, "run", "-q", "--network", "inet", "--", "echo", "RAN")
		mustExit(t, r, 0)
	})
	t.Run("exported inet bundle under runc without tun", func(t *testing.T) {
		dir := filepath.Join(outsideDir(t, testUser), "bundle-tun")
		mustExit(t, in.inWorld(t, "export-bundle", "-q", "--network", "inet", dir, "--", "echo", "RAN"), 0)
		fi, _ := os.Stat("/dev/net/tun")
		os.Chmod("/dev/net/tun", 0o600)
		defer os.Chmod("/dev/net/tun", fi.Mode().Perm())
		r := runcInWorld(t, proj, dir)
		if r.code == 0 || strings.Contains(r.stdout, "RAN") {
			t.Errorf("runc ran an inet bundle whose network could not be attached:\n%s", r)
		}
		mustContain(t, r, "/dev/net/tun")
	})
}

// withOwnLoopback is a shell command that runs cmd while a server listens
// on 127.0.0.1:7777 inside the sandbox: a probe of it succeeds only if the
// sandbox's loopback is up.
func withOwnLoopback(cmd string) string {
	return `r=.lo-ready-$$; ./testpeer serve 127.0.0.1:7777 >$r 2>&1 & ` +
		`i=0; until [ -s $r ] || [ $i -ge 60 ]; do sleep 0.05; i=$((i+1)); done; rm -f $r; ` +
		cmd + `; st=$?; kill $!; exit $st`
}

// runcInWorld runs an exported bundle with plain runc, as the test user,
// in the test world.
func runcInWorld(t *testing.T, proj, dir string) result {
	t.Helper()
	cmd := invocation{as: testUser, dir: proj}.command()
	cmd.SysProcAttr = nil
	cmd.Path, _ = filepath.Abs("../hack/in-world.sh")
	cmd.Args = []string{cmd.Path, strconv.Itoa(testUser.uid), strconv.Itoa(testUser.gid),
		"runc", "--root", filepath.Join(proj, ".runc"), "run", "-b", dir, "cb-" + filepath.Base(dir)}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// TestExportBundleNetwork: plain runc on an exported none or inet bundle
// gets the same network (inet through the bundle's hook, none from runc's
// own loopback), and nothing of it is left once runc is done.
func TestExportBundleNetwork(t *testing.T) {
	needSuite(t)
	proj := worldProject(t, testUser)
	in := invocation{as: testUser, dir: proj}
	for _, c := range []struct {
		tier      string
		reachable []string
	}{
		{"none", nil},
		{"inet", []string{"internet", "internet-by-name", "rebind-name"}},
	} {
		t.Run(c.tier, func(t *testing.T) {
			dir := filepath.Join(outsideDir(t, testUser), "bundle-"+c.tier)
			probe := "./testpeer probe own-lo=127.0.0.1:7777"
			for _, tg := range targets {
				probe += " " + tg.name + "=" + tg.target
			}
			mustExit(t, in.inWorld(t, "export-bundle", "-q", "--network", c.tier, dir, "--", "sh", "-c", withOwnLoopback(probe)), 0)
			r := runcInWorld(t, proj, dir)
			if r.code != 0 {
				t.Fatalf("runc run: %s", r)
			}
			got := map[string]probeResult{}
			for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				if f := strings.SplitN(line, " ", 4); len(f) >= 3 {
					got[f[0]] = probeResult{ok: f[1] == "ok"}
				}
			}
			expectTier(t, got, false, c.reachable...)
			if !got["own-lo"].ok {
				t.Errorf("the sandbox's own loopback does not work:\n%s", r)
			}
			user := strconv.Itoa(testUser.uid)
			for deadline := time.Now().Add(5 * time.Second); exec.Command("pgrep", "-u", user, "-f", "slirp4netns|_net-keeper").Run() == nil; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the uplink or the network keeper outlived the container")
				}
			}
			if _, err := os.Stat(filepath.Join(dir, ".claudebox-net")); err == nil {
				t.Error("the bundle's network state was left behind")
			}
		})
	}
}

// TestNetworkLeftovers: after a kill -9 of the launcher no uplink remains,
// and the next launch clears the rest.
func TestNetworkLeftovers(t *testing.T) {
	needSuite(t)
	proj := worldProject(t, testUser)
	slirp := invocation{as: testUser, dir: proj, env: []string{"CLAUDEBOX_UPLINK=slirp4netns"}}
	cmd := slirp.startInWorld(t, "run", "-q", "--network", "inet", "--", "sh", "-c", "echo ready; exec sleep 1000")
	user := strconv.Itoa(testUser.uid)
	if exec.Command("pgrep", "-u", user, "slirp4netns").Run() != nil {
		t.Fatal("no slirp4netns while the inet sandbox runs; the check below would prove nothing")
	}
	cmd.Process.Kill() // the launcher
	cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); exec.Command("pgrep", "-u", user, "slirp4netns").Run() == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			exec.Command("pkill", "-u", user, "slirp4netns").Run()
			t.Fatal("slirp4netns outlived its killed launcher")
		}
	}
	mustExit(t, invocation{as: testUser, dir: proj}.inWorld(t, "run", "--network", "none", "--", "true"), 0)
	assertNothingLeft(t, testUser)
}

// TestRootNetworkLeftovers: root's inet (bridge, host-local lease) after a
// kill -9 of the launcher: the next launch releases the lease.
func TestRootNetworkLeftovers(t *testing.T) {
	needSuite(t)
	proj := worldProject(t, nil)
	cmd := invocation{dir: proj}.startInWorld(t, "run", "-q", "--network", "inet", "--", "sh", "-c", "echo ready; exec sleep 1000")
	if leases, _ := filepath.Glob("/run/claudebox-ipam/*/[0-9]*"); len(leases) == 0 {
		t.Fatal("no IPAM lease while a root inet sandbox runs; the check below would prove nothing")
	}
	cmd.Process.Kill()
	cmd.Wait()
	mustExit(t, invocation{dir: proj}.inWorld(t, "run", "-q", "--network", "none", "--", "true"), 0)
	assertNothingLeft(t, nil)
}

// TestOwnLoopback: the sandbox's own loopback is up in none and inet, for
// the user and for root (whose inet joins namespaces made beforehand, where
// runc does not bring lo up).
func TestOwnLoopback(t *testing.T) {
	needSuite(t)
	for _, as := range []*account{testUser, nil} {
		proj := worldProject(t, as)
		for _, tier := range []string{"none", "inet"} {
			r := invocation{as: as, dir: proj}.inWorld(t, "run", "-q", "--network", tier, "--",
				"sh", "-c", withOwnLoopback("./testpeer probe own-lo=127.0.0.1:7777"))
			if !strings.Contains(r.stdout, "own-lo ok") {
				t.Errorf("%s, as uid %d: the sandbox's loopback does not work:\n%s", tier, uidOf(as), r)
			}
		}
	}
}

func uidOf(a *account) int {
	if a == nil {
		return 0
	}
	return a.uid
}

// TestSysfsShowsOwnNetwork: with a network namespace of its own, the
// sandbox's /sys is its own (read-only): its interfaces, not the host's.
func TestSysfsShowsOwnNetwork(t *testing.T) {
	needSuite(t)
	proj := worldProject(t, testUser)
	for tier, want := range map[string]string{"none": "lo", "inet": "lo", "slirp4netns": "lo tap0"} {
		in := invocation{as: testUser, dir: proj}
		if tier == "slirp4netns" {
			tier, in.env = "inet", []string{"CLAUDEBOX_UPLINK=slirp4netns"}
		}
		r := in.inWorld(t, "run", "-q", "--network", tier, "--",
			"sh", "-c", "echo $(ls /sys/class/net); if touch /sys/x 2>/dev/null; then echo WROTE-SYS; fi")
		mustExit(t, r, 0)
		mustNotContain(t, r, "WROTE-SYS")
		if got := strings.TrimSpace(r.stdout); got != want {
			t.Errorf("%s: /sys/class/net lists %q, want %q", tier, got, want)
		}
	}
}

// TestUplinkExec: the uplink's launcher (`_userns-exec`, all in the
// constructor, before Go starts) runs its program in the given user
// namespace, as its root, with the upstream resolv.conf in a mount
// namespace of its own when asked, and fails closed otherwise.
func TestUplinkExec(t *testing.T) {
	needSuite(t)
	proj := worldProject(t, testUser)
	alt := filepath.Join(proj, "upstream-resolv.conf")
	if err := os.WriteFile(alt, []byte("nameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("unshare", "-U", "-r", "sleep", "60")
	holder.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(testUser.uid), Gid: uint32(testUser.gid)}}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, holder)
	userns := fmt.Sprintf("/proc/%d/ns/user", holder.Process.Pid)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if own, _ := os.Readlink(userns); own != "" {
			if host, _ := os.Readlink("/proc/self/ns/user"); own != host {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the namespace holder did not start")
		}
	}
	in := invocation{as: testUser, dir: proj, env: []string{"_CLAUDEBOX_USERNS=" + userns, "_CLAUDEBOX_RESOLV_CONF=" + alt}}
	r := in.run(t, "_userns-exec", "/bin/sh", "-c", `echo uid=$(id -u); cat /etc/resolv.conf; echo vars=$(env | grep -c ^_CLAUDEBOX)`)
	mustExit(t, r, 0)
	mustContain(t, r, "uid=0", "nameserver 192.0.2.53", "vars=0")
	if host, _ := os.ReadFile("/etc/resolv.conf"); strings.Contains(string(host), "192.0.2.53") {
		t.Error("the host's resolv.conf changed")
	}
	in.env = in.env[:1]
	mustExit(t, in.run(t, "_userns-exec", "/nonexistent"), 125)
	in.env = []string{"_CLAUDEBOX_USERNS=/nonexistent"}
	mustExit(t, in.run(t, "_userns-exec", "/bin/true"), 125)
}
