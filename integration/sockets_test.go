package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The host's pathname unix sockets are out of the sandbox's reach in every
// tier: a read-only mount does not stop connect(2), so they are hidden
// (this kernel) or denied by Landlock. Each probe has its control: the
// same connect as the test user with no sandbox succeeds.

// listen serves a greeting on a unix socket at path (mode 0666, its
// directory made if missing) until the end of the test.
func listen(t *testing.T, path string) {
	t.Helper()
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	cmd := exec.Command(testpeer, "serve", "-unix", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); os.Remove(path) })
	buf := make([]byte, 6)
	out.Read(buf)
}

// asTestUser runs argv as the test user on the host, outside any sandbox.
func asTestUser(t *testing.T, dir string, argv ...string) (string, error) {
	t.Helper()
	u := testUser
	cmd := exec.Command("setpriv", append([]string{"--reuid", strconv.Itoa(u.uid), "--regid", strconv.Itoa(u.gid), "--clear-groups",
		"env", "HOME=" + u.home, "USER=" + u.name, "PATH=/usr/bin:/bin"}, argv...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// probeLines runs testpeer probe name=unix:PATH for each socket and
// returns what it printed per name ("ok ..." or "fail ...").
func probeLines(out string) map[string]string {
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if name, rest, ok := strings.Cut(line, " "); ok && (strings.HasPrefix(rest, "ok ") || strings.HasPrefix(rest, "fail ")) {
			got[name] = rest
		}
	}
	return got
}

func TestHostDaemonSockets(t *testing.T) {
	needSuite(t)
	u := testUser
	proj := worldProject(t, u)
	daemons := map[string]string{
		"resolved":  "/run/systemd/resolve/io.systemd.Resolve",
		"pcscd":     "/run/pcscd/pcscd.comm",
		"cups":      "/run/cups/cups.sock",
		"varlib":    "/var/lib/cbtest-daemon/daemon.sock",
		"srv":       "/srv/cbtest-daemon/daemon.sock",
		"usrlocal":  "/usr/local/cbtest-daemon/daemon.sock",
		"inproject": filepath.Join(proj, "host-daemon.sock"),
	}
	var args []string
	for name, path := range daemons {
		if _, err := os.Stat(path); err == nil {
			t.Fatalf("%s exists on this machine; the test plays it with a listener of its own", path)
		}
		listen(t, path)
		args = append(args, name+"=unix:"+path)
	}
	// The control: each is reachable by the test user without a sandbox.
	out, err := asTestUser(t, proj, append([]string{"./testpeer", "probe"}, args...)...)
	if err != nil {
		t.Fatalf("probe on the host: %v\n%s", err, out)
	}
	for name, res := range probeLines(out) {
		if !strings.HasPrefix(res, "ok") {
			t.Errorf("control: %s (%s) is not reachable from the host as the test user: %s", name, daemons[name], res)
		}
	}
	if len(probeLines(out)) != len(daemons) {
		t.Fatalf("control: want %d probe lines:\n%s", len(daemons), out)
	}

	for _, tier := range []string{"none", "allowlist", "inet", "full"} {
		t.Run(tier, func(t *testing.T) {
			r := invocation{as: u, dir: proj}.inWorld(t, append([]string{"run", "-q", "--network", tier, "--", "sh", "-c", `echo LAUNCHED; exec ./testpeer probe "$@"`, "sh"}, args...)...)
			mustExit(t, r, 0)
			mustContain(t, r, "LAUNCHED")
			got := probeLines(r.stdout)
			for name, path := range daemons {
				res, ok := got[name]
				if !ok {
					t.Errorf("no probe result for %s\n%s", name, r)
				} else if !strings.HasPrefix(res, "fail") {
					t.Errorf("%s: the sandbox reached %s: %s", tier, path, res)
				}
			}
		})
	}
}

// TestScreenSession: the user's GNU screen session cannot be driven from
// the sandbox; driven from the host, it runs what it is sent.
func TestScreenSession(t *testing.T) {
	needSuite(t)
	u := testUser
	if _, err := exec.LookPath("screen"); err != nil {
		t.Fatal("requires GNU screen (hack/install-deps.sh --test installs it)")
	}
	if err := os.MkdirAll("/run/screen", 0o777); err == nil {
		os.Chmod("/run/screen", 0o1777)
	}
	proj := worldProject(t, u)
	out := outsideDir(t, u)
	session := "cbwork" + strconv.Itoa(os.Getpid())
	if o, err := asTestUser(t, out, "screen", "-dmS", session, "sh"); err != nil {
		t.Fatalf("starting screen: %v\n%s", err, o)
	}
	t.Cleanup(func() { asTestUser(t, out, "screen", "-S", session, "-X", "quit") })
	stuff := func(marker string) string {
		return "screen -S " + session + " -X stuff 'touch " + filepath.Join(out, marker) + "\n'"
	}
	exists := func(marker string) bool {
		_, err := os.Stat(filepath.Join(out, marker))
		return err == nil
	}
	// The control: from the host, the session runs what it is sent.
	if o, err := asTestUser(t, out, "sh", "-c", stuff("from-host")); err != nil {
		t.Fatalf("screen -X from the host: %v\n%s", err, o)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !exists("from-host") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !exists("from-host") {
		t.Fatal("control: the screen session did not run the command sent from the host")
	}
	for _, tier := range []string{"none", "inet", "full"} {
		t.Run(tier, func(t *testing.T) {
			marker := "from-" + tier
			r := invocation{as: u, dir: proj}.inWorld(t, "run", "-q", "--network", tier, "--", "sh", "-c",
				"echo LAUNCHED; "+stuff(marker)+"; echo screen=$?")
			mustExit(t, r, 0)
			mustContain(t, r, "LAUNCHED", "screen=")
			mustNotContain(t, r, "screen=0")
			time.Sleep(300 * time.Millisecond) // as long as the control needed, and more
			if exists(marker) {
				t.Errorf("%s: the user's screen session ran a command sent from the sandbox\n%s", tier, r)
			}
		})
	}
}

// TestNscdNotAsked: with nscd running on the host, its socket is out of
// reach and a name lookup in none fails fast instead of being answered.
func TestNscdNotAsked(t *testing.T) {
	needSuite(t)
	u := testUser
	if _, err := exec.LookPath("nscd"); err != nil {
		t.Fatal("requires nscd (hack/install-deps.sh --test installs it)")
	}
	const sock = "/run/nscd/socket"
	if _, err := os.Stat(sock); err != nil {
		if out, err := exec.Command("nscd").CombinedOutput(); err != nil {
			t.Fatalf("starting nscd: %v\n%s", err, out)
		}
		t.Cleanup(func() { exec.Command("nscd", "--shutdown").Run() })
	}
	proj := worldProject(t, u)
	// The control: the test user's lookups reach nscd.
	out, err := asTestUser(t, proj, "./testpeer", "probe", "nscd=unix:"+sock)
	if err != nil || !strings.Contains(out, "nscd ok") {
		t.Fatalf("control: nscd's socket is not reachable from the host: %v\n%s", err, out)
	}
	start := time.Now()
	r := invocation{as: u, dir: proj}.inWorld(t, "run", "-q", "--network", "none", "--", "sh", "-c",
		`echo LAUNCHED; ./testpeer probe nscd=unix:`+sock+`; getent hosts internet.test; echo getent=$?`)
	took := time.Since(start)
	mustExit(t, r, 0)
	mustContain(t, r, "LAUNCHED", "nscd fail", "getent=2")
	if took > 5*time.Second {
		t.Errorf("a lookup in none took %v: it should fail at once\n%s", took, r)
	}
}

// TestShownSockets: the Nix daemon's socket is reachable in every tier;
// --socket shows a directory of sockets (a real PostgreSQL's), without
// which psql fails; sockets the command makes itself work.
func TestShownSockets(t *testing.T) {
	needSuite(t)
	u := testUser
	proj := worldProject(t, u)

	if _, err := os.Stat("/nix"); err == nil {
		t.Fatal("/nix exists on this machine; the test plays the Nix daemon with a listener of its own")
	}
	t.Cleanup(func() { os.RemoveAll("/nix") })
	listen(t, "/nix/var/nix/daemon-socket/socket")

	pgDir := startPostgres(t)
	psql := "psql -h " + pgDir + " -U postgres -tAc 'select 6*7'"
	if out, err := asTestUser(t, proj, "sh", "-c", psql); err != nil || !strings.Contains(out, "42") {
		t.Fatalf("control: psql on the host: %v\n%s", err, out)
	}

	own := `for s in "$PWD/own.sock" /tmp/own.sock "$HOME/own.sock" "$XDG_RUNTIME_DIR/own.sock"; do
		./testpeer serve -unix "$s" >/dev/null & sleep 0.3; ./testpeer probe "own:$s=unix:$s"; kill $!; done`
	for _, tier := range []string{"none", "inet", "full"} {
		t.Run(tier, func(t *testing.T) {
			in := invocation{as: u, dir: proj}
			r := in.inWorld(t, "run", "-q", "--network", tier, "--", "sh", "-c",
				"echo LAUNCHED; ./testpeer probe nix=unix:/nix/var/nix/daemon-socket/socket; "+own+"; "+psql+"; echo psql=$?")
			mustExit(t, r, 0)
			mustContain(t, r, "LAUNCHED", "nix ok")
			if n := strings.Count(r.stdout, "own.sock ok "); n != 4 {
				t.Errorf("sockets the command makes in the project, /tmp, home and its runtime dir must work\n%s", r)
			}
			mustNotContain(t, r, "psql=0")

			r = in.inWorld(t, "run", "-q", "--network", tier, "--socket", pgDir, "--", "sh", "-c", psql)
			mustExit(t, r, 0)
			mustContain(t, r, "42")
		})
	}

	// The plan names what is shown, and marks --socket.
	r := invocation{as: u, dir: proj}.run(t, "run", "--dry-run", "--socket", pgDir, "--", "true")
	mustExit(t, r, 0)
	if line := lineWith(r.stdout, pgDir); !strings.HasPrefix(line, "!") {
		t.Errorf("the plan must mark --socket %s with !:\n%s", pgDir, r)
	}
	mustContain(t, r, "/nix/var/nix/daemon-socket/socket")

	// Not a socket or directory: a clear error, nothing launched.
	r = invocation{as: u, dir: proj}.run(t, "run", "--socket", filepath.Join(proj, "testpeer"), "--", "true")
	mustExit(t, r, 125)
	mustContain(t, r, "neither a socket nor a directory", "--socket")
}

// startPostgres starts a throwaway PostgreSQL cluster listening only on a
// unix socket in a directory under /run, and returns that directory.
func startPostgres(t *testing.T) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatal("requires PostgreSQL (hack/install-deps.sh --test installs it)")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	data, err := os.MkdirTemp("", "cbtest-pg-")
	if err != nil {
		t.Fatal(err)
	}
	sockDir := "/run/cbtest-pg-" + strconv.Itoa(os.Getpid())
	for _, d := range []string{data, sockDir} {
		os.MkdirAll(d, 0o755)
		t.Cleanup(func() { os.RemoveAll(d) })
		if out, err := exec.Command("chown", "postgres:", d).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	asPostgres := func(argv ...string) *exec.Cmd {
		return exec.Command("setpriv", append([]string{"--reuid", "postgres", "--regid", "postgres", "--init-groups"}, argv...)...)
	}
	if out, err := asPostgres(bin+"/initdb", "-N", "-A", "trust", "-U", "postgres", "-D", data).CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	pg := asPostgres(bin+"/postgres", "-D", data, "-k", sockDir, "-c", "listen_addresses=", "-c", "unix_socket_permissions=0777")
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Process.Kill(); pg.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m, _ := filepath.Glob(sockDir + "/.s.PGSQL.*"); len(m) > 0 {
			return sockDir
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("PostgreSQL did not start")
	return ""
}

// TestProgramsKeepWorking: with /run the sandbox's own and the host's
// sockets out of reach, everyday programs still work in each tier, and
// the real Claude Code completes a session (against the scripted Messages
// API: in none, one the command serves itself on loopback).
func TestProgramsKeepWorking(t *testing.T) {
	needSuite(t)
	claude := realClaude(t)
	resetClaudeState(t)
	u := testUser
	hostZone, err := exec.Command("date", "+%Z %z").Output()
	if err != nil {
		t.Fatal(err)
	}
	script := `set -e
		getent passwd ` + u.name + ` | cut -d: -f1
		id -un
		echo "zone: $(date '+%Z %z')"
		git init -q repo && git -C repo -c user.name=u -c user.email=u@e commit -q --allow-empty -m one && echo git-ok
		npm --version >/dev/null && echo npm-ok
		python3 -m venv venv && venv/bin/python -c 'print("venv-ok")'
		rm -rf repo venv`
	for _, tier := range []string{"none", "inet", "full"} {
		t.Run(tier, func(t *testing.T) {
			proj := worldProject(t, u)
			in := invocation{as: u, dir: proj, env: []string{"PATH=" + filepath.Dir(claude) + ":/usr/bin:/bin"}}
			r := in.inWorld(t, "run", "-q", "--network", tier, "--", "sh", "-c", script)
			mustExit(t, r, 0)
			mustContain(t, r, u.name+"\n"+u.name+"\n", "zone: "+strings.TrimSpace(string(hostZone)), "git-ok", "npm-ok", "venv-ok")

			api := "http://api.test:8080"
			serve := ""
			if tier == "none" {
				api, serve = "http://127.0.0.1:8089", "./testpeer serve -messages 127.0.0.1:8089 >/dev/null & sleep 0.5; "
			}
			r = in.inWorld(t, "run", "-q", "--network", tier,
				"--env", "ANTHROPIC_BASE_URL="+api, "--env", "ANTHROPIC_API_KEY="+apiKey,
				"--env", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "--", "sh", "-c",
				serve+`timeout 60 claude -p "Write the file, please" --dangerously-skip-permissions`)
			mustExit(t, r, 0)
			mustContain(t, r, "ALL-DONE-7")
			if b, err := os.ReadFile(filepath.Join(proj, "from-claude.txt")); err != nil || strings.TrimSpace(string(b)) != "made-by-claude" {
				t.Errorf("the tool Claude ran did not write the project: %q %v\n%s", b, err, r)
			}
		})
	}
}
