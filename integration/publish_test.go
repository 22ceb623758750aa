package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The --publish tests run in the test world (hack/testworld.sh): the
// launcher in its "host", and the host's clients (curl, node, chromium) in
// the same network namespace, as the same user.

// publishing is a launch started in the world whose stderr is watched.
type publishing struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	stdout bytes.Buffer
}

func (p *publishing) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

func (p *publishing) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "stdout:\n" + p.stdout.String() + "\nstderr:\n" + p.stderr.String()
}

// startPublishing starts claudebox as in.as in the world (in-world.sh
// execs down to the launcher) and waits until its stderr says want.
func startPublishing(t *testing.T, in invocation, want string, args ...string) *publishing {
	t.Helper()
	uid, gid := 0, 0
	if in.as != nil {
		uid, gid = in.as.uid, in.as.gid
	}
	cmd := in.command()
	cmd.SysProcAttr = nil
	cmd.Path, _ = filepath.Abs("../hack/in-world.sh")
	cmd.Args = append([]string{cmd.Path, strconv.Itoa(uid), strconv.Itoa(gid), in.binary()}, args...)
	p := &publishing{cmd: cmd}
	cmd.Stderr = p
	cmd.Stdout = &lockedWriter{mu: &p.mu, w: &p.stdout}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, cmd)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.output(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the launch never said %q\n%s", want, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// stop ends the launch with SIGTERM (forwarded to the command) and waits.
func (p *publishing) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the launch did not end on SIGTERM\n%s", p.output())
	}
}

// inWorldNet runs a command as a (nil: root) in the network namespace ns
// of the test world ("world": the host; "peers": another machine).
func inWorldNet(t *testing.T, a *account, ns string, args ...string) result {
	t.Helper()
	uid, gid, home := 0, 0, "/root"
	if a != nil {
		uid, gid, home = a.uid, a.gid, a.home
	}
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/cbw-" + ns, "--", "setpriv",
		"--reuid", strconv.Itoa(uid), "--regid", strconv.Itoa(gid), "--clear-groups", "--"}, args...)...)
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"}
	cmd.Dir = "/"
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan struct{})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v timed out\n%s%s", args, out.String(), errb.String())
	}
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// curlBody fetches url in the world's host as a, failing on any error.
func curlBody(t *testing.T, a *account, url string) result {
	t.Helper()
	return inWorldNet(t, a, "world", "curl", "-sS", "--max-time", "10", url)
}

// listening reports whether anything listens on port in the world's host.
func listening(t *testing.T, port int) string {
	t.Helper()
	r := inWorldNet(t, nil, "world", "ss", "-Hltn", "sport = :"+strconv.Itoa(port))
	return strings.TrimSpace(r.stdout)
}

// writeProjectFile writes a file of the project, owned by a.
func writeProjectFile(t *testing.T, a *account, proj, name, content string) {
	t.Helper()
	path := filepath.Join(proj, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if a != nil {
		if err := os.Chown(path, a.uid, a.gid); err != nil {
			t.Fatal(err)
		}
	}
}

// A server inside, bound to 127.0.0.1, 0.0.0.0, :: or ::1, is reached
// from the host through 127.0.0.1, [::1] and localhost, in every tier
// that has a network namespace of its own, rootless and as root; the
// launch says once that it is served; the publish closes at exit, and
// the next launch publishes the same port again.
func TestPublishHTTP(t *testing.T) {
	needSuite(t)
	const port = 18431
	cases := []struct {
		as         *account
		tier, bind string
	}{
		{testUser, "none", "127.0.0.1"},
		{testUser, "none", "0.0.0.0"},
		{testUser, "none", "::"},
		{testUser, "allowlist", "::1"},
		{testUser, "inet", "127.0.0.1"},
		{nil, "none", "::"},
		{nil, "inet", "::1"},
	}
	for _, c := range cases {
		name := "user"
		if c.as == nil {
			name = "root"
		}
		t.Run(name+"-"+c.tier+"-"+c.bind, func(t *testing.T) {
			proj := newProject(t, c.as)
			marker := "PUBLISHED-" + c.tier + "-" + c.bind
			writeProjectFile(t, c.as, proj, "index.html", marker+"\n")
			announce := "claudebox: http://localhost:" + strconv.Itoa(port) + " -> sandbox :" + strconv.Itoa(port)
			p := startPublishing(t, invocation{as: c.as, dir: proj}, announce, "run", "--network", c.tier, "-p", strconv.Itoa(port), "--",
				"python3", "-m", "http.server", strconv.Itoa(port), "--bind", c.bind)
			for _, url := range []string{"http://127.0.0.1:%d/", "http://[::1]:%d/", "http://localhost:%d/"} {
				url = strings.Replace(url, "%d", strconv.Itoa(port), 1)
				r := curlBody(t, c.as, url)
				if r.code != 0 || !strings.Contains(r.stdout, marker) {
					t.Errorf("curl %s: %s\nlaunch:\n%s", url, r, p.output())
				}
			}
			if got := listening(t, port); !strings.Contains(got, "127.0.0.1:") || !strings.Contains(got, "[::1]:") {
				t.Errorf("listening on port %d: %q, want 127.0.0.1 and [::1]", port, got)
			}
			p.stop(t)
			if n := strings.Count(p.output(), announce); n != 1 {
				t.Errorf("announced %d times, want once\n%s", n, p.output())
			}
			// The positive control: the server ran inside and answered
			// through the publish (above); now nothing listens.
			if got := listening(t, port); got != "" {
				t.Errorf("still listening after the launch: %q", got)
			}
			if r := curlBody(t, c.as, "http://127.0.0.1:"+strconv.Itoa(port)+"/"); r.code == 0 {
				t.Errorf("reached after the launch: %s", r)
			}
			assertNothingLeft(t, c.as)
		})
	}
}

// Without --publish, the same server runs (it answers inside) and the
// host's curl does not reach it.
func TestPublishNeeded(t *testing.T) {
	needSuite(t)
	const port = 18432
	proj := newProject(t, testUser)
	writeProjectFile(t, testUser, proj, "index.html", "NOT-PUBLISHED\n")
	// The marker is computed inside, so the plan's command line cannot
	// show it.
	p := startPublishing(t, invocation{as: testUser, dir: proj}, "INSIDE-42", "run", "-q", "--network", "none", "--", "sh", "-c",
		"python3 -m http.server "+strconv.Itoa(port)+" --bind 127.0.0.1 >/dev/null 2>&1 & "+
			"until curl -s http://127.0.0.1:"+strconv.Itoa(port)+"/ | grep -q NOT-PUBLISHED; do sleep 0.1; done; echo INSIDE-$((40+2)) >&2; wait")
	for _, url := range []string{"http://127.0.0.1:%d/", "http://[::1]:%d/"} {
		url = strings.Replace(url, "%d", strconv.Itoa(port), 1)
		if r := curlBody(t, testUser, url); r.code == 0 || strings.Contains(r.stdout, "NOT-PUBLISHED") {
			t.Errorf("curl %s reached the sandbox without --publish: %s", url, r)
		}
	}
	p.stop(t)
}

// wsScript is a WebSocket echo server and client in plain Node (http and
// crypto only: RFC 6455 framing by hand), and a page that the server
// generates for the browser test.
const wsScript = `
const http = require('http'), crypto = require('crypto');
const [mode, port, count] = process.argv.slice(2);
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
function frame(payload, mask) {
  const len = payload.length;
  let head = len < 126 ? Buffer.from([0x81, len]) : Buffer.from([0x81, 126, len >> 8, len & 255]);
  if (!mask) return Buffer.concat([head, payload]);
  head[1] |= 0x80;
  const key = crypto.randomBytes(4), out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) out[i] = payload[i] ^ key[i % 4];
  return Buffer.concat([head, key, out]);
}
// reader calls onMsg with each complete text frame's payload.
function reader(onMsg) {
  let buf = Buffer.alloc(0);
  return chunk => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 127, off = 2;
      const masked = buf[1] & 128;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      const key = masked ? buf.subarray(off, off + 4) : null;
      if (masked) off += 4;
      if (buf.length < off + len) return;
      const p = Buffer.from(buf.subarray(off, off + len));
      if (key) for (let i = 0; i < len; i++) p[i] ^= key[i % 4];
      buf = buf.subarray(off + len);
      onMsg(p.toString());
    }
  };
}
if (mode === 'serve') {
  const token = 'GENERATED-' + (6 * 7) + '-BY-' + process.pid;
  const server = http.createServer((req, res) => {
    res.writeHead(200, {'content-type': 'text/html'});
    res.end('<!doctype html><title>t</title><p id=s>' + token + '</p><script>document.body.insertAdjacentHTML("beforeend", "<p>SCRIPT-RAN</p>")</script>');
  });
  server.on('upgrade', (req, sock) => {
    const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + GUID).digest('base64');
    sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' + accept + '\r\n\r\n');
    sock.on('data', reader(m => sock.write(frame(Buffer.from('echo:' + m), false))));
  });
  server.listen(+port, process.argv[5] || '127.0.0.1', () => console.error('LISTENING'));
} else {
  const key = crypto.randomBytes(16).toString('base64');
  const req = http.request({host: process.argv[5] || 'localhost', port: +port, headers: {Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13'}});
  req.on('upgrade', (res, sock) => {
    const want = crypto.createHash('sha1').update(key + GUID).digest('base64');
    if (res.headers['sec-websocket-accept'] !== want) { console.log('BAD ACCEPT'); process.exit(1); }
    let i = 0;
    const send = () => sock.write(frame(Buffer.from('m' + i + '-' + 'x'.repeat(i % 200)), true));
    sock.on('data', reader(m => {
      if (m !== 'echo:m' + i + '-' + 'x'.repeat(i % 200)) { console.log('BAD ECHO ' + i + ': ' + m); process.exit(1); }
      if (++i === +count) { console.log('EXCHANGED ' + i); process.exit(0); }
      send();
    }));
    send();
  });
  req.on('error', e => { console.log('ERROR ' + e.message); process.exit(1); });
  req.end();
  setTimeout(() => { console.log('TIMEOUT'); process.exit(1); }, 30000);
}
`

// A WebSocket echo server inside inet: a host client exchanges 1,000
// messages with it over one connection, through localhost.
func TestPublishWebSocket(t *testing.T) {
	needSuite(t)
	const port = 18433
	asUserAndRoot(t, func(t *testing.T, as *account) {
		proj := newProject(t, as)
		writeProjectFile(t, as, proj, "ws.js", wsScript)
		p := startPublishing(t, invocation{as: as, dir: proj}, "LISTENING", "run", "--network", "inet", "-p", strconv.Itoa(port), "--",
			"node", "ws.js", "serve", strconv.Itoa(port))
		r := inWorldNet(t, as, "world", "node", filepath.Join(proj, "ws.js"), "client", strconv.Itoa(port), "1000")
		if r.code != 0 || !strings.Contains(r.stdout, "EXCHANGED 1000") {
			t.Errorf("the WebSocket client: %s\nlaunch:\n%s", r, p.output())
		}
		p.stop(t)
	})
}

// Headless Chromium on the host loads the published page, and its DOM
// holds what the server inside generated (and what the page's script
// added).
func TestPublishBrowser(t *testing.T) {
	needSuite(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("requires chromium (hack/install-deps.sh --test)")
	}
	const port = 18434
	proj := newProject(t, testUser)
	writeProjectFile(t, testUser, proj, "ws.js", wsScript)
	p := startPublishing(t, invocation{as: testUser, dir: proj}, "LISTENING", "run", "--network", "none", "-p", strconv.Itoa(port), "--",
		"node", "ws.js", "serve", strconv.Itoa(port), "::")
	profile := ownedTempDir(t, testUser, "chromium-")
	r := inWorldNet(t, testUser, "world", chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+profile,
		"--dump-dom", "http://localhost:"+strconv.Itoa(port)+"/")
	if r.code != 0 || !strings.Contains(r.stdout, "GENERATED-42-BY-") || !strings.Contains(r.stdout, "SCRIPT-RAN") {
		t.Errorf("chromium --dump-dom: %s\nlaunch:\n%s", r, p.output())
	}
	p.stop(t)
}

// Errors refuse the launch before anything starts, naming --publish:
// a host port in use, a privileged port for a user, a malformed spec, an
// address left out; export-bundle refuses it. Each with its control: the
// same launch runs once the cause is gone.
func TestPublishErrors(t *testing.T) {
	needSuite(t)
	const port = 18435
	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj}

	// Another process holds the port on the host's loopback.
	holder := exec.Command("nsenter", "--net=/run/netns/cbw-world", "--", "python3", "-c",
		"import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',"+strconv.Itoa(port)+"))\ns.listen()\nprint('held',flush=True)\ntime.sleep(60)")
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, holder)
	if n, _ := out.Read(make([]byte, 5)); n == 0 {
		t.Fatal("the port holder did not start")
	}
	r := in.inWorld(t, "run", "--network", "none", "-p", strconv.Itoa(port), "--", "echo", "RAN")
	mustExit(t, r, 125)
	mustContain(t, r, "--publish "+strconv.Itoa(port)+": host port "+strconv.Itoa(port)+" is in use on 127.0.0.1", "hint:")
	mustNotContain(t, r, "RAN", "launch plan")
	_ = holder.Process.Kill()
	_ = holder.Wait()
	mustContain(t, in.inWorld(t, "run", "-q", "--network", "none", "-p", strconv.Itoa(port), "--", "echo", "RAN"), "RAN")

	// A privileged port, for the user; root may.
	r = in.inWorld(t, "run", "--network", "none", "-p", "80", "--", "echo", "RAN")
	mustExit(t, r, 125)
	mustContain(t, r, "--publish 80: host port 80 is privileged", "--publish 8080:80")
	mustNotContain(t, r, "RAN")
	rootProj := newProject(t, nil)
	mustContain(t, invocation{dir: rootProj}.inWorld(t, "run", "-q", "--network", "none", "-p", "80", "--", "echo", "RAN"), "RAN")

	for _, c := range []struct{ spec, want string }{
		{"99999", `bad --publish "99999"`},
		{"::1:8080", "in brackets"},
		{"localhost:", "host port"},
		{":8080", "no host address before the colon"},
	} {
		r := in.inWorld(t, "run", "--network", "none", "-p", c.spec, "--", "echo", "RAN")
		mustExit(t, r, 125)
		mustContain(t, r, c.want, "hint:")
		mustNotContain(t, r, "RAN")
	}

	// A LAN address is published only when written out, marked "!"; a
	// machine on the LAN (the world's peer) then reaches the server.
	r = in.inWorld(t, "run", "--dry-run", "--network", "none", "-p", "203.0.113.1:"+strconv.Itoa(port), "--", "true")
	if line := lineWith(r.stdout, "publish"); !strings.HasPrefix(line, "!") || !strings.Contains(line, "other machines") {
		t.Errorf("a LAN publish in the plan: %q\n%s", line, r)
	}
	writeProjectFile(t, testUser, proj, "index.html", "ON-THE-LAN\n")
	p := startPublishing(t, in, "claudebox: http://203.0.113.1:"+strconv.Itoa(port)+" -> sandbox :", "run", "--network", "none", "-p", "203.0.113.1:"+strconv.Itoa(port), "--",
		"python3", "-m", "http.server", strconv.Itoa(port), "--bind", "127.0.0.1")
	if r := inWorldNet(t, nil, "peers", "curl", "-sS", "--max-time", "10", "http://203.0.113.1:"+strconv.Itoa(port)+"/"); !strings.Contains(r.stdout, "ON-THE-LAN") {
		t.Errorf("from the LAN: %s\n%s", r, p.output())
	}
	if got := listening(t, port); strings.Contains(got, "127.0.0.1:") {
		t.Errorf("a LAN publish listens on loopback too: %q", got)
	}
	p.stop(t)

	// export-bundle cannot carry it.
	dir := filepath.Join(outsideDir(t, testUser), "bundle")
	r = in.inWorld(t, "export-bundle", "--network", "none", "-p", "8080", dir, "--", "true")
	mustExit(t, r, 125)
	mustContain(t, r, "--publish 8080 cannot be exported")
	mustExit(t, in.inWorld(t, "export-bundle", "-q", "--network", "none", dir, "--", "true"), 0)

	// In full, --publish is not needed: not an error, nothing bound.
	r = in.inWorld(t, "run", "--network", "full", "-p", strconv.Itoa(port), "--", "sh", "-c", "ss -Hltn 'sport = :"+strconv.Itoa(port)+"'; echo RAN")
	mustExit(t, r, 0)
	mustContain(t, r, "not needed in full", "RAN")
	if strings.Contains(r.stdout, strconv.Itoa(port)) {
		t.Errorf("something listens on %d in full: %s", port, r)
	}
}
