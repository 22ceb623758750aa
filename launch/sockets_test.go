package launch

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseUnixSockets(t *testing.T) {
	// As the kernel prints them: the path raw, a newline in it included.
	const procNetUnix = "Num       RefCount Protocol Flags    Type St Inode Path\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 20500 /run/systemd/journal/stdout\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 20501 @/tmp/.X11-unix/X0\n" +
		"0000000000000000: 00000003 00000000 00000000 0001 03 20502\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01   503 relative.sock\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 20504 /srv/two  spaces.sock\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 20505 /run/systemd/journal/stdout\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 20506 /srv/a/../gone.sock\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 20507 /srv/trailing.sock \n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 20508 /srv/tab\tx.sock\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 20509 /srv/nl\nx.sock\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 20510 /srv/cr.sock\r\n" +
		"ffff8a3c01234500: 00000002 00000000 00010000 0001 01 123456789 /srv/long-inode.sock\n"
	canon := func(p string) (string, bool) { return p, !strings.Contains(p, "gone") }
	got, err := parseUnixSockets(strings.NewReader(procNetUnix), []string{"/already"}, canon)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/already", "/run/systemd/journal/stdout", "/srv/two  spaces.sock", "/srv/trailing.sock ",
		"/srv/tab\tx.sock", "/srv/nl\nx.sock", "/srv/cr.sock\r", "/srv/long-inode.sock"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q,\nwant %q (no abstract, unnamed, relative, duplicate or gone socket; names whole)", got, want)
	}
}

// TestHostSockets: a socket this process listens on is found, canonical,
// and one that is no longer a socket is not.
func TestHostSockets(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(link, "d.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	odd := filepath.Join(dir, "two  spaces\tand\nnewline.sock ")
	lo, err := net.Listen("unix", odd)
	if err != nil {
		t.Fatal(err)
	}
	defer lo.Close()
	got, err := HostSockets("/")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, odd) {
		t.Errorf("the socket %q, named with blanks and a newline as the kernel prints them, is not in %q", odd, got)
	}
	if !slices.Contains(got, filepath.Join(dir, "d.sock")) {
		t.Errorf("the socket listening at %s (through a link) is not in %q", filepath.Join(dir, "d.sock"), got)
	}
	l.Close()
	if err := os.WriteFile(filepath.Join(dir, "d.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got, _ = HostSockets("/")
	if slices.Contains(got, filepath.Join(dir, "d.sock")) {
		t.Errorf("a regular file where a socket was is listed: %q", got)
	}
}

func TestResolveRun(t *testing.T) {
	root := t.TempDir()
	if v := resolveRun(root, 1000); v != nil {
		t.Errorf("no /run on the host, yet %+v", v)
	}
	for _, d := range []string{"run/systemd/resolve", "run/current-system", "run/screen", "etc"} {
		mustMkdir(t, filepath.Join(root, d))
	}
	writeFile(t, filepath.Join(root, "run/systemd/resolve/stub-resolv.conf"), "nameserver 127.0.0.53\n", 0o644)
	if err := os.Symlink("../run/systemd/resolve/stub-resolv.conf", filepath.Join(root, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	v := resolveRun(root, 1000)
	if v == nil {
		t.Fatal("the host has /run")
	}
	if want := []string{"/run/systemd/resolve/stub-resolv.conf", "/run/current-system"}; !slices.Equal(v.Keep, want) {
		t.Errorf("kept %q, want %q: the resolv.conf target and NixOS's entries, nothing else", v.Keep, want)
	}
	if v.RuntimeDir != "/run/user/1000" {
		t.Errorf("runtime dir %q", v.RuntimeDir)
	}
}

func TestResolveSockets(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(root, "home/ada")
	proj := filepath.Join(home, "src/app")
	data := filepath.Join(root, "data")
	for _, d := range []string{proj, data, filepath.Join(root, "nix/var/nix/daemon-socket"), filepath.Join(root, "pg")} {
		mustMkdir(t, d)
	}
	listen := func(p string) {
		l, err := net.Listen("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}
	listen(filepath.Join(root, NixDaemonSocket))
	listen(filepath.Join(root, "pg/.s.PGSQL.5432"))
	instHome := filepath.Join(root, "state/instances/app/home")
	mounts := []Mount{
		{Path: proj, Mode: ReadWrite, Why: "project"},
		{Path: data, Target: "/mnt/data", Mode: ReadOnly, Why: "profile"},
	}
	h := Host{Root: root, LandlockABI: 7, Sockets: []string{
		"/run/screen/S-ada/1.work",       // under the sandbox's own /run
		"/srv/daemon.sock",               // the host's, in view
		filepath.Join(home, ".gnupg/S"),  // under the hidden home
		filepath.Join(proj, "host.sock"), // in the project
		"/tmp/.X11-unix/X0",              // the sandbox's own /tmp
		filepath.Join(data, "d.sock"),    // shown by a mount elsewhere
		filepath.Join(root, "pg/.s.PGSQL.5432"),
		filepath.Join(instHome, "in-home.sock"), // the instance's home, shown as $HOME
	}}
	named := []Socket{{Path: filepath.Join(root, "pg"), Why: "--socket"}}

	s, err := resolveSockets(h, named, &RunView{}, home, instHome, mounts)
	if err != nil {
		t.Fatal(err)
	}
	if s.Mechanism != SocketsHidden {
		t.Errorf("mechanism %q on ABI 7", s.Mechanism)
	}
	wantShown := []Socket{{Path: NixDaemonSocket, Why: "nix daemon"}, {Path: filepath.Join(root, "pg"), Why: "--socket"}}
	if !slices.Equal(s.Shown, wantShown) {
		t.Errorf("shown %+v, want %+v", s.Shown, wantShown)
	}
	// (The test's root is under /tmp, the sandbox's own: so d.sock shows
	// only where its mount puts it.)
	wantHidden := []string{"/srv/daemon.sock", filepath.Join(proj, "host.sock"), "/mnt/data/d.sock", filepath.Join(home, "in-home.sock")}
	if !slices.Equal(s.Hidden, wantHidden) {
		t.Errorf("hidden %q,\nwant %q", s.Hidden, wantHidden)
	}

	// Without a /run of its own, the host's sockets there are hidden too.
	s, _ = resolveSockets(h, named, nil, home, instHome, mounts)
	if !slices.Contains(s.Hidden, "/run/screen/S-ada/1.work") {
		t.Errorf("no /run of the sandbox's own, yet /run's socket is not hidden: %q", s.Hidden)
	}

	// With Landlock's resolve-unix, nothing is hidden one by one: the
	// kernel denies all but the shown.
	h.LandlockABI = ResolveUnixABI
	s, err = resolveSockets(h, named, &RunView{}, home, instHome, mounts)
	if err != nil || s.Mechanism != SocketsLandlock || len(s.Hidden) != 0 || !slices.Equal(s.Shown, wantShown) {
		t.Errorf("ABI 9: %+v, %v", s, err)
	}

	// A shown path must be a socket or a directory.
	writeFile(t, filepath.Join(data, "file"), "x", 0o644)
	for _, bad := range []string{filepath.Join(data, "file"), filepath.Join(data, "missing")} {
		_, err := resolveSockets(h, []Socket{{Path: bad, Why: "--socket"}}, nil, home, instHome, mounts)
		if !errors.Is(err, ErrBadPath) || !strings.Contains(err.Error(), "--socket") || Hint(err) == "" {
			t.Errorf("--socket %s: want a bad-path error naming the flag, with a hint; got %v", bad, err)
		}
	}
	var many []Socket
	for i := range maxShownSockets + 1 {
		d := filepath.Join(root, "many", strconv.Itoa(i))
		mustMkdir(t, d)
		many = append(many, Socket{Path: d, Why: "--socket"})
	}
	if _, err := resolveSockets(h, many[:maxShownSockets-1], nil, home, instHome, mounts); err != nil {
		t.Errorf("%d shown sockets (and the Nix daemon's): %v", maxShownSockets-1, err)
	}
	if _, err := resolveSockets(h, many, nil, home, instHome, mounts); !errors.Is(err, ErrBadPath) {
		t.Errorf("more than %d shown sockets: want an error, got %v", maxShownSockets, err)
	}
	if _, err := resolveSockets(h, slices.Repeat(named, maxShownSockets+1), nil, home, instHome, mounts); err != nil {
		t.Errorf("the same socket named many times is one: %v", err)
	}
}

// TestSocketsResolved: Resolve takes --socket relative to the current
// directory, and shows the sandbox its own runtime directory.
func TestSocketsResolved(t *testing.T) {
	w := newWorld(t)
	mustMkdir(t, filepath.Join(w.root, "run"))
	mustMkdir(t, filepath.Join(w.proj, "sockets"))
	s, err := Resolve(run(Options{Sockets: []string{"sockets"}}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(s.Sockets.Shown, Socket{Path: filepath.Join(w.proj, "sockets"), Why: "--socket"}) {
		t.Errorf("shown %+v", s.Sockets.Shown)
	}
	if s.Run == nil || !slices.Contains(s.Env, "XDG_RUNTIME_DIR=/run/user/1000") {
		t.Errorf("run %+v, env %q: want the sandbox's own runtime dir", s.Run, s.Env)
	}
	// A host socket hidden deep in the project is pinned: its directories
	// up to the project are mount points, which the sandbox cannot rename.
	h := w.host
	h.Sockets = []string{filepath.Join(w.proj, "pkg/sub/d.sock")}
	s, err = Resolve(run(Options{}), h)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"pkg", "pkg/sub"} {
		if !slices.ContainsFunc(s.Mounts, func(m Mount) bool { return m.Pin && m.Path == filepath.Join(w.proj, d) && m.Mode == ReadWrite }) {
			t.Errorf("%s is not pinned: %+v", d, s.Mounts)
		}
	}
	// A link in the project (which the sandbox can write) to a host
	// socket directory is not followed: naming the target itself is.
	runUser := filepath.Join(w.root, "run/user/1000")
	mustMkdir(t, runUser)
	if err := os.Symlink(runUser, filepath.Join(w.proj, "sock-link")); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(run(Options{Sockets: []string{"sock-link"}}), w.host); !errors.Is(err, ErrBadPath) || !strings.Contains(err.Error(), "--socket") {
		t.Errorf("--socket through a link in the project: %v", err)
	}
	if _, err := Resolve(run(Options{Sockets: []string{runUser}}), w.host); err != nil {
		t.Errorf("--socket of the link's target itself: %v", err)
	}
	if _, err := Resolve(run(Options{Sockets: []string{"nope"}}), w.host); !errors.Is(err, ErrBadPath) {
		t.Errorf("--socket of a missing path: %v", err)
	}
}

// TestCurrentHostScansSockets: the scan CurrentHost starts sees a socket
// bound before it, in every copy of the Host (each launch path copies
// it), read at once from several goroutines; Rescan sees one bound
// after; a scan that fails fails the launch's resolution.
func TestCurrentHostScansSockets(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	before := filepath.Join(dir, "before.sock")
	l, err := net.Listen("unix", before)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h, err := CurrentHost()
	if err != nil {
		t.Fatal(err)
	}
	if h.LandlockABI >= ResolveUnixABI {
		// Landlock denies them all: nothing is scanned.
		if h.scan != nil {
			t.Error("a socket scan started on a kernel whose Landlock denies them")
		}
		return
	}
	copies := []Host{h, h, h}
	got := make([][]string, len(copies))
	errs := make([]error, len(copies))
	done := make(chan int)
	for i := range copies {
		go func() { got[i], errs[i] = copies[i].sockets(); done <- i }()
	}
	for range copies {
		<-done
	}
	for i := range copies {
		if errs[i] != nil || !slices.Contains(got[i], before) {
			t.Errorf("copy %d: %v; %s not in the %d sockets found", i, errs[i], before, len(got[i]))
		}
	}
	after := filepath.Join(dir, "after.sock")
	la, err := net.Listen("unix", after)
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	if err := h.Rescan(); err != nil {
		t.Fatal(err)
	}
	if s, err := h.sockets(); err != nil || !slices.Contains(s, after) || !slices.Contains(s, before) {
		t.Errorf("after Rescan: %v; %s and %s in %d sockets? ", err, before, after, len(s))
	}

	noProc := Host{Root: t.TempDir(), scan: scanSockets(t.TempDir())}
	if _, err := resolveSockets(noProc, nil, nil, "/home/u", "", nil); err == nil || Hint(err) == "" {
		t.Errorf("a failed scan: %v (hint %q), want an error with a hint", err, Hint(err))
	}
}
