package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claudebox/claudebox/launch"
)

// TestAllowlist: the allowlist tier lets through only the names on the
// list, on their ports, by name, and says so; as the user and as root. The
// world's "CDN" (198.51.100.20) answers for cdn-a.test (listed) and
// cdn-b.test (not).
func TestAllowlist(t *testing.T) {
	needSuite(t)
	asUserAndRoot(t, func(t *testing.T, as *account) {
		in := invocation{as: as, dir: worldProject(t, as)}
		queries := "/run/claudebox-testworld/peers.log"
		before, _ := os.ReadFile(queries)
		r := in.inWorld(t, "run", "--network", "allowlist", "--allow-host", "cdn-a.test", "--allow-host", "cdn-a.test:2222/nameless",
			"--allow-host", "rebind.test:8080", "--", "./testpeer", "probe",
			"a-https=tls:cdn-a.test:443",
			"a-http=http:cdn-a.test:80",
			"a-tcp=cdn-a.test:2222",
			"b-dns=dns:cdn-b.test",
			"exfil-dns=dns:c2VjcmV0.exfil.test",
			"b-sni=tls:cdn-b.test:443@198.51.100.20:443",
			"b-host=http:cdn-b.test:80@198.51.100.20:80",
			"ip-literal=198.51.100.10:8080",
			"ip-literal-http=http:198.51.100.10:8080",
			"a-other-port=tls:cdn-a.test:8443",
			"rebind=rebind.test:8080",
			"udp=udp:198.51.100.53:53")
		mustExit(t, r, 0)
		got := map[string]struct {
			ok     bool
			ms     int
			detail string
		}{}
		for _, l := range strings.Split(r.stdout, "\n") {
			f := strings.SplitN(l, " ", 4)
			if len(f) == 4 {
				var ms int
				json.Unmarshal([]byte(f[2]), &ms)
				got[f[0]] = struct {
					ok     bool
					ms     int
					detail string
				}{f[1] == "ok", ms, f[3]}
			}
		}
		for name, want := range map[string]string{
			"a-https": "hello over TLS to SNI=cdn-a.test", "a-http": "hello HTTP Host=cdn-a.test", "a-tcp": "hello from 198.51.100.20:2222",
		} {
			if g := got[name]; !g.ok || !strings.Contains(g.detail, want) {
				t.Errorf("%s: %+v, want ok with %q\n%s", name, g, want, r)
			}
		}
		for _, name := range []string{"b-dns", "exfil-dns", "b-sni", "b-host", "ip-literal", "ip-literal-http", "a-other-port", "rebind", "udp"} {
			g, ok := got[name]
			limit := 100
			if name == "ip-literal" {
				// A client that says nothing is given the relay's 1 s to
				// name its host, then refused.
				limit = 1300
			}
			switch {
			case !ok:
				t.Errorf("%s: not probed\n%s", name, r)
			case g.ok:
				t.Errorf("%s: went through: %s", name, g.detail)
			case g.ms > limit:
				t.Errorf("%s: refused after %d ms; refusals must be at once (%s)", name, g.ms, g.detail)
			}
		}
		if d := got["b-dns"].detail; !strings.Contains(d, "no such host") {
			t.Errorf("cdn-b.test: %q, want NXDOMAIN", d)
		}
		// The stub never passed an unlisted query on.
		after, _ := os.ReadFile(queries)
		asked := strings.TrimPrefix(string(after), string(before))
		for _, n := range []string{"cdn-b.test", "exfil.test"} {
			if strings.Contains(asked, n) {
				t.Errorf("a query for %s reached the world's DNS server:\n%s", n, asked)
			}
		}
		if !strings.Contains(asked, "dns-query cdn-a.test") {
			t.Errorf("the listed name was not resolved upstream (is the log working?):\n%s", asked)
		}
		mustContain(t, r, "refused in the allowlist tier", "claudebox net-log")

		// The log holds each decision.
		lr := in.run(t, "net-log", "--json")
		mustExit(t, lr, 0)
		var log []struct{ Kind, Name, Verdict, Reason string }
		if err := json.Unmarshal([]byte(lr.stdout), &log); err != nil {
			t.Fatalf("net-log --json: %v\n%s", err, lr)
		}
		has := func(kind, name, verdict string) bool {
			for _, e := range log {
				if e.Kind == kind && e.Name == name && e.Verdict == verdict {
					return true
				}
			}
			return false
		}
		for _, c := range [][3]string{{"dns", "cdn-b.test", "refused"}, {"dns", "cdn-a.test", "answered"}, {"tcp", "cdn-a.test", "allowed"},
			{"tcp", "cdn-b.test", "refused"}} {
			if !has(c[0], c[1], c[2]) {
				t.Errorf("net-log lacks %s %s %s:\n%s", c[0], c[1], c[2], lr.stdout)
			}
		}
		// --allow-net keeps its meaning: an address let through.
		ar := in.inWorld(t, "run", "-q", "--network", "allowlist", "--allow-net", "192.168.77.10:8080", "--",
			"./testpeer", "probe", "lan=192.168.77.10:8080", "lan-other-port=192.168.77.10:8081")
		mustContain(t, ar, "lan ok", "lan-other-port fail")

		// git, with no proxy settings, clones over HTTPS from a listed
		// host (git.test, in the world).
		gr := in.inWorld(t, "run", "-q", "--network", "allowlist", "--allow-host", "git.test", "--",
			"sh", "-c", "git -c http.sslVerify=false clone -q https://git.test/repo.git cloned && git -C cloned log --format=%s")
		mustExit(t, gr, 0)
		mustContain(t, gr, "from git.test")

		// npm installs from a listed registry over plain HTTP (its
		// metadata and tarball requests, kept alive on one connection,
		// each naming registry.test).
		nr := in.inWorld(t, "run", "-q", "--network", "allowlist", "--allow-host", "registry.test", "--",
			"sh", "-c", "npm install -q --no-audit --no-fund --no-update-notifier --registry http://registry.test/ cb-hello >/dev/null && node -p 'require(\"cb-hello\")'")
		mustExit(t, nr, 0)
		mustContain(t, nr, "hello from the world registry")
		if as != nil {
			assertNothingLeft(t, as)
		}
	})
}

// probeResults reads testpeer probe's output.
func probeResults(out string) map[string]probeResult {
	got := map[string]probeResult{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.SplitN(l, " ", 4)
		if len(f) == 4 {
			var ms int
			json.Unmarshal([]byte(f[2]), &ms)
			got[f[0]] = probeResult{f[1] == "ok", ms, f[3]}
		}
	}
	return got
}

// b64 is a testpeer send part.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// netLogEntry is one entry of net-log --json.
type netLogEntry struct {
	Kind, Name, Addr, Verdict, Reason string
	Count                             int
}

// TestAllowlistHostile: a client that tries to reach another name through
// an allowed one is refused at once, with the reason logged: a ClientHello
// naming an unlisted host at the shared address of a listed one, whole,
// late, over two TLS records or two TCP segments; an address smuggled in
// an SNI or a Host; a second request on a kept-alive connection naming
// another host; an absolute-form target naming another; bare-LF lines; an
// h2c preface. Positive controls in the same run: a real ClientHello of
// over 1,500 bytes over two segments, a normal connection and a kept-alive
// one with two requests go through. Then 100,000 refused queries leave the
// log under its cap, and net-log still shows the allowed connections; the
// launcher's peak RSS stays at most 30 MB.
func TestAllowlistHostile(t *testing.T) {
	needSuite(t)
	as := testUser
	in := invocation{as: as, dir: worldProject(t, as)}
	reqA := "GET / HTTP/1.1\r\nHost: cdn-a.test\r\n\r\n"
	attacks := map[string]struct{ target, logged string }{
		"tls-whole":     {"hello:cdn-b.test@198.51.100.20:443/whole", "not on the list"},
		"tls-late":      {"hello:cdn-b.test@198.51.100.20:443/late", "not on the list"},
		"tls-records":   {"hello:cdn-b.test@198.51.100.20:443/records", "not on the list"},
		"tls-segments":  {"hello:cdn-b.test@198.51.100.20:443/segments", "not on the list"},
		"sni-smuggled":  {"hello:::ffff:198.51.100.10%x.cdn-a.test@198.51.100.20:8080/whole", "not a host name: the SNI holds ':'"},
		"host-smuggled": {"send:198.51.100.20:8080/" + b64("GET / HTTP/1.1\r\nHost: ::ffff:198.51.100.10%x.cdn-a.test\r\n\r\n"), "not a host name: the Host holds ':'"},
		"two-hosts":     {"send:198.51.100.20:80/" + b64(reqA) + ",s300," + b64("GET / HTTP/1.1\r\nHost: cdn-b.test\r\n\r\n"), "request 2 on the connection names cdn-b.test, not cdn-a.test"},
		"absolute-form": {"send:198.51.100.20:80/" + b64("GET http://cdn-b.test/ HTTP/1.1\r\nHost: cdn-a.test\r\n\r\n"), "the request target names cdn-b.test"},
		"bare-lf":       {"send:198.51.100.20:80/" + b64("GET / HTTP/1.1\nHost: cdn-a.test\n\n"), "bare LF"},
		"h2c":           {"send:198.51.100.20:80/" + b64("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "h2c"},
	}
	args := []string{"./testpeer", "probe",
		"big-hello=tlssplit:cdn-a.test@198.51.100.20:443",
		"a-https=tls:cdn-a.test:443",
		"keep-alive=send:198.51.100.20:80/" + b64(reqA) + ",s200," + b64(reqA)}
	for name, a := range attacks {
		args = append(args, name+"="+a.target)
	}
	script := strings.Join(args, " ") + " && ./testpeer dnsflood 100000 && ./testpeer probe after-flood=tls:cdn-a.test:443"
	marker := "*.cdn-a.test:8080" // the launcher's own argument, to find it by
	stop, peak := watchPeakRSS(marker)
	r := in.inWorld(t, "run", "-q", "--network", "allowlist", "--allow-host", "cdn-a.test", "--allow-host", marker,
		"--", "sh", "-c", script)
	mustExit(t, r, 0)
	close(stop)
	switch kb := <-peak; {
	case kb == 0:
		t.Error("the launcher's peak RSS was never read (was it found?)")
	case kb > 30<<10:
		t.Errorf("the launcher's peak RSS was %d MB, over 30 MB", kb>>10)
	default:
		t.Logf("the launcher's peak RSS: %.1f MB", float64(kb)/1024)
	}
	got := probeResults(r.stdout)

	// The positive controls.
	if g := got["big-hello"]; !g.ok || !strings.Contains(g.detail, "hello over TLS to SNI=cdn-a.test") {
		t.Errorf("big-hello: %+v\n%s", g, r)
	} else {
		var size int
		if i := strings.Index(g.detail, "ClientHello of "); i >= 0 {
			json.Unmarshal([]byte(strings.Fields(g.detail[i+len("ClientHello of "):])[0]), &size)
		}
		if size <= 1500 {
			t.Errorf("big-hello: the ClientHello was %d bytes, want over 1500: %s", size, g.detail)
		}
	}
	for _, name := range []string{"a-https", "after-flood"} {
		if g := got[name]; !g.ok || !strings.Contains(g.detail, "SNI=cdn-a.test") {
			t.Errorf("%s: %+v\n%s", name, g, r)
		}
	}
	if g := got["keep-alive"]; !g.ok || strings.Count(g.detail, "Host=cdn-a.test") != 2 {
		t.Errorf("keep-alive: two requests for the same host on one connection: %+v", g)
	}
	// The attacks: refused at once (a reset), nothing of the other host.
	for name := range attacks {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: not probed\n%s", name, r)
		case g.ok:
			t.Errorf("%s: went through: %s", name, g.detail)
		case g.ms >= 200:
			t.Errorf("%s: refused %d ms after its last byte; refusals must be at once (%s)", name, g.ms, g.detail)
		case !strings.Contains(g.detail, "reset"):
			t.Errorf("%s: not reset: %s", name, g.detail)
		case strings.Contains(g.detail, "cdn-b.test") || strings.Contains(g.detail, "hello from 198.51.100.10"):
			t.Errorf("%s: reached the other host: %s", name, g.detail)
		}
	}
	if d := got["two-hosts"].detail; !strings.Contains(d, "Host=cdn-a.test") {
		t.Errorf("two-hosts: the first request was not answered (is the server there?): %s", d)
	}
	if !strings.Contains(r.stdout, "flood sent 100000 answered") {
		t.Errorf("the flood did not run:\n%s", r)
	}

	lr := in.run(t, "net-log", "--json")
	mustExit(t, lr, 0)
	var log []netLogEntry
	if err := json.Unmarshal([]byte(lr.stdout), &log); err != nil {
		t.Fatalf("net-log --json: %v\n%.2000s", err, lr.stdout)
	}
	for name, a := range attacks {
		found := false
		for _, e := range log {
			found = found || e.Kind == "tcp" && e.Verdict == "refused" && strings.Contains(e.Reason, a.logged)
		}
		if !found {
			t.Errorf("%s: no refusal with %q in the log", name, a.logged)
		}
	}
	allowed, dropped := 0, 0
	for _, e := range log {
		if e.Kind == "tcp" && e.Verdict == "allowed" && e.Name == "cdn-a.test" {
			allowed++
		}
		if e.Kind == "dropped" && e.Verdict == "refused" {
			dropped = e.Count
		}
	}
	// big-hello, a-https, keep-alive, two-hosts' first request, after-flood.
	if allowed != 5 {
		t.Errorf("%d allowed connections to cdn-a.test in the log, want 5", allowed)
	}
	if dropped < 50000 {
		t.Errorf("the flood's refusals were not counted as dropped (%d): did it reach the stub?\n%s", dropped, r.stdout)
	}
	logs, _ := filepath.Glob(filepath.Join(as.home, ".claudebox/instances", launch.InstanceID(in.dir), "netlog", "*.jsonl"))
	if len(logs) != 1 {
		t.Fatalf("want one session log, got %v", logs)
	}
	if fi, err := os.Stat(logs[0]); err != nil || fi.Size() > 8<<20 {
		t.Errorf("the session log: %v, %d bytes (cap 8 MiB)", err, fi.Size())
	}
	// The table shows names escaped.
	tr := in.run(t, "net-log")
	mustExit(t, tr, 0)
	mustContain(t, tr, "cdn-a.test", "allowed", "dropped")
}

// watchPeakRSS follows the peak RSS (VmHWM, kB) of the launcher run with
// the argument marker, until stop is closed.
func watchPeakRSS(marker string) (stop chan struct{}, peak chan int) {
	stop, peak = make(chan struct{}), make(chan int, 1)
	go func() {
		pid, kb := "", 0
		for {
			select {
			case <-stop:
				peak <- kb
				return
			case <-time.After(50 * time.Millisecond):
			}
			if pid == "" {
				entries, _ := os.ReadDir("/proc")
				for _, e := range entries {
					b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
					args := strings.Split(string(b), "\x00")
					if len(args) > 2 && args[1] == "run" && slices.Contains(args, marker) {
						pid = e.Name()
					}
				}
			}
			if pid == "" {
				continue
			}
			status, _ := os.ReadFile(filepath.Join("/proc", pid, "status"))
			for _, l := range strings.Split(string(status), "\n") {
				var v int
				if _, err := fmt.Sscanf(l, "VmHWM: %d kB", &v); err == nil && v > kb {
					kb = v
				}
			}
		}
	}()
	return stop, peak
}

// TestAllowlistExitWithDialPending: the relay's dial to an address that
// never answers (slow.test, which no host owns) is cancelled at exit: the
// launch ends within 1 s of its command, not when the dial times out.
func TestAllowlistExitWithDialPending(t *testing.T) {
	needSuite(t)
	in := invocation{as: testUser, dir: worldProject(t, testUser)}
	timed := func(script string) (time.Duration, result) {
		start := time.Now()
		r := in.inWorld(t, "run", "-q", "--network", "allowlist", "--allow-host", "slow.test:8080", "--", "sh", "-c", script)
		return time.Since(start), r
	}
	control, cr := timed("sleep 1; echo done")
	mustExit(t, cr, 0)
	pending, pr := timed("./testpeer probe x=http:slow.test:8080 & sleep 1; echo done")
	mustExit(t, pr, 0)
	if pending-control > time.Second {
		t.Errorf("exit with a dial pending took %v, %v more than without", pending, pending-control)
	}
	t.Logf("without a dial pending %v, with %v", control, pending)
	lr := in.run(t, "net-log", "--json")
	var log []netLogEntry
	json.Unmarshal([]byte(lr.stdout), &log)
	dialled := false
	for _, e := range log {
		dialled = dialled || e.Kind == "tcp" && e.Name == "slow.test" && strings.Contains(e.Reason, "cannot connect to 198.51.100.99:8080")
	}
	if !dialled {
		t.Errorf("the relay never dialled slow.test (no pending dial was tested):\n%s", lr.stdout)
	}
}
