package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claudebox/claudebox/launch"
)

// The hostile-instance suite: what one session plants in the trees it can
// write (the instance home, the project and its .git, a PATH entry) must
// not reach the host through the claudebox code that runs outside the
// sandbox on the next launch. Each row is planted from inside a sandbox;
// then claudebox runs again and must: show no host secret inside, change
// no host file outside the project and the instance, keep the host login,
// finish within a bound (or refuse, naming the path and the fix), and
// leave nothing behind. SECURITY.md lists the same paths.

// secretDocker is a host secret shaped like a Claude login, so that only
// refusing to follow the link, not the content check, keeps it out.
const secretDocker = "SECRET-DOCKER-AUTH-5eed"

// victimContent is in a host directory that a planted link may name.
const victimContent = "VICTIM-CONTENT-77"

// launchBound is how long a launch may take on hostile state.
const launchBound = 20 * time.Second

// homeTargets are the paths in the instance home that code outside the
// sandbox touches: read, written, created or used as a mount point.
var homeTargets = []struct {
	path  string // relative to the instance home
	dir   bool   // claudebox needs a directory there
	mount bool   // a mount point: any regular file will do for a file
}{
	{".claude", true, false},                    // made, written into
	{".claude/.credentials.json", false, false}, // read and written by the credential sync
	{".claude/SANDBOX.md", false, false},        // read and written at each launch
	{".claude/CLAUDE.md", false, false},         // read and written at each launch
	{".claude/CLAUDE.host.md", false, true},     // mount point of the user's CLAUDE.md
	{".local/bin", true, true},                  // mount point of a tool directory on PATH
	{".local", true, false},                     // parent of a mount point
	{".", true, false},                          // the home itself (mode only)
}

// plants are what a sandbox puts at a path P ($P in the script); $H is the
// host home's path, the same inside.
var plants = []struct {
	name, script string
	forDirs      bool // also planted where a directory belongs
}{
	{"link to a host secret", `rm -rf "$P"; ln -s "$H/.ssh/id_ed25519" "$P"`, true},
	{"link to a login-shaped secret", `rm -rf "$P"; ln -s "$H/.docker/config.json" "$P"`, true},
	{"link to a host directory", `rm -rf "$P"; ln -s "$H/victim" "$P"`, true},
	{"FIFO", `rm -rf "$P"; mkfifo "$P"`, true},
	{"30 GB sparse file", `rm -rf "$P"; truncate -s 30G "$P"`, true},
	{"directory", `rm -rf "$P"; mkdir "$P"`, false},
	{"link to /dev/zero", `rm -rf "$P"; ln -s /dev/zero "$P"`, true},
	{"mode 000", `[ -e "$P" ] || echo x > "$P"; chmod 000 "$P"`, true},
}

// hostSnapshot records every file of the test user's home outside the
// projects, the instances and the runtime directory: type, mode, content
// hash or link target.
func hostSnapshot(t *testing.T) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(testUser.home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(testUser.home, p)
		top := strings.SplitN(rel, "/", 2)[0]
		if top == ".claudebox" || top == ".cache" || strings.HasPrefix(top, "proj-") || strings.HasPrefix(top, "out-") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		v := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			v += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			sum := sha256.Sum256(b)
			v += " " + hex.EncodeToString(sum[:8])
		}
		snap[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func sameSnapshot(t *testing.T, before, after map[string]string) {
	t.Helper()
	for p, v := range before {
		if after[p] != v {
			t.Errorf("host file changed: ~/%s: %q -> %q", p, v, after[p])
		}
	}
	for p, v := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("host file made: ~/%s (%s)", p, v)
		}
	}
}

// hostileHost gives the test user a login, a user CLAUDE.md, a secret
// shaped like a login and a directory a link may point at.
func hostileHost(t *testing.T) {
	t.Helper()
	resetClaudeState(t)
	for path, content := range map[string]string{
		hostCredsPath():               token("host-token"),
		".claude/CLAUDE.md":           "# the user's own instructions\n",
		".docker/config.json":         token(secretDocker),
		"victim/untouched":            victimContent,
		".claude/settings.json":       "{}\n",
		".config/unrelated/file.conf": "x\n",
	} {
		if !filepath.IsAbs(path) {
			path = filepath.Join(testUser.home, path)
		}
		if err := writeOwned(testUser, path, content); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, p := range []string{".docker", "victim", ".config/unrelated"} {
			os.RemoveAll(filepath.Join(testUser.home, p))
		}
	})
}

// plantInside runs a planting script inside a sandbox of proj, with P set.
func plantInside(t *testing.T, in invocation, p, script string) {
	t.Helper()
	r := in.run(t, "run", "-q", "-y", "--", "sh", "-c", `H=$HOME; P=`+p+`; `+script+`; echo planted`)
	if r.code != 0 || !strings.Contains(r.stdout, "planted") {
		t.Fatalf("planting %q at %s: %s", script, p, r)
	}
}

// checkLaunch launches again and asserts the row's invariants; it
// returns the launch's result for more.
func checkLaunch(t *testing.T, in invocation, before map[string]string, args ...string) result {
	t.Helper()
	start := time.Now()
	r := in.run(t, args...)
	if took := time.Since(start); took > launchBound {
		t.Errorf("the launch took %v (bound %v)", took, launchBound)
	}
	if r.code != 0 && !(r.code == 125 && strings.Contains(r.stderr, "hint:")) {
		t.Errorf("the launch neither ran nor refused with a hint:\n%s", r)
	}
	mustNotContain(t, r, secretSSH, secretDocker, victimContent)
	sameSnapshot(t, before, hostSnapshot(t))
	if got := hostToken(t); got != "host-token" {
		t.Errorf("host login changed: %q", got)
	}
	assertNothingLeft(t, testUser)
	return r
}

// showAll prints what the sandbox's home holds at the targets.
const showAll = `for f in ~/.claude/CLAUDE.md ~/.claude/SANDBOX.md ~/.claude/.credentials.json ~/.claude/CLAUDE.host.md; do
	[ -f "$f" ] && timeout 2 head -c 4096 "$f"; done; ls -la ~ ~/.claude ~/.local/bin 2>&1; echo shown`

func TestHostileInstanceHome(t *testing.T) {
	needSuite(t)
	for _, target := range homeTargets {
		for _, plant := range plants {
			if target.dir && !plant.forDirs || target.path == "." && plant.name != "mode 000" {
				continue
			}
			t.Run(target.path+"/"+plant.name, func(t *testing.T) {
				hostileHost(t)
				proj := newProject(t, testUser)
				in := invocation{as: testUser, dir: proj}
				mustExit(t, in.run(t, "run", "-q", "-y", "--", "true"), 0) // the instance, as a session leaves it
				// Planted by a launch that does not mount anything at the
				// target: without the user's CLAUDE.md and ~/.local/bin.
				hostMD := filepath.Join(testUser.home, ".claude/CLAUDE.md")
				os.Rename(hostMD, hostMD+".away")
				planter := in
				planter.env = []string{"PATH=/usr/bin:/bin"}
				plantInside(t, planter, `"$HOME/`+target.path+`"`, plant.script)
				os.Rename(hostMD+".away", hostMD)

				before := hostSnapshot(t)
				r := checkLaunch(t, in, before, "run", "-y", "--", "sh", "-c", showAll)
				regularFile := plant.name == "30 GB sparse file" || plant.name == "mode 000"
				if r.code == 0 && !(target.mount && !target.dir && regularFile) {
					mustContain(t, r, "shown", "claudebox: instance home: ")
				}
				// A second launch is clean: the state was repaired.
				r = checkLaunch(t, in, before, "run", "-y", "--", "sh", "-c", showAll)
				mustExit(t, r, 0)
				mustNotContain(t, r, "claudebox: instance home: ")
			})
		}
	}
}

// TestHostileProject: the project's .git and links in the project.
func TestHostileProject(t *testing.T) {
	needSuite(t)
	other := filepath.Join(testUser.home, "other")
	for _, c := range []struct {
		name, plant string
		args        []string // the next launch
	}{
		// The measured attack: a forged worktree link whose commondir
		// names a link to another repository's .git.
		{"forged worktree link", `rm -rf .git; mkdir -p .fake; ln -s "$H/other/.git" lnk; echo "$PWD/lnk" > .fake/commondir; echo "gitdir: .fake" > .git`, nil},
		{"forged worktree entry", `rm -rf .git; echo "gitdir: $H/other/.git/worktrees/w" > .git`, nil},
		{".git a FIFO", `rm -rf .git; mkfifo .git`, nil},
		{".git a 30 GB file", `rm -rf .git; truncate -s 30G .git`, nil},
		// A path the user names with --ro, made a link to ~/.ssh.
		{"--ro through a link", `ln -s "$H/.ssh" vendor`, []string{"--ro", "vendor"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hostileHost(t)
			if err := os.MkdirAll(filepath.Join(other, ".git/worktrees/w"), 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(other, ".git/worktrees/w/commondir"), []byte("../..\n"), 0o644)
			os.WriteFile(filepath.Join(other, ".git/HEAD"), []byte("ref: refs/heads/main\n"), 0o644)
			filepath.WalkDir(other, func(p string, _ fs.DirEntry, _ error) error { return os.Chown(p, testUser.uid, testUser.gid) })
			defer os.RemoveAll(other)
			proj := newProject(t, testUser)
			in := invocation{as: testUser, dir: proj}
			plantInside(t, in, "x", c.plant)

			before := hostSnapshot(t)
			args := append([]string{"run", "-y"}, c.args...)
			r := checkLaunch(t, in, before, append(args, "--", "sh", "-c", `touch "$HOME/other/.git/PWNED" 2>&1; cat vendor/id_ed25519 2>&1; echo shown`)...)
			if _, err := os.Stat(filepath.Join(other, ".git/PWNED")); err == nil {
				t.Error("the next launch mounted another repository's .git writable")
			}
			if c.args != nil {
				mustExit(t, r, 125)
				mustContain(t, r, "--ro vendor", "link", "name "+filepath.Join(testUser.home, ".ssh")+" itself")
			} else {
				mustExit(t, r, 0)
				if regexp.MustCompile(`\S+\s+git worktree\s*\n`).MatchString(r.stderr) {
					t.Errorf("the plan mounts a git directory for the forged worktree:\n%s", r.stderr)
				}
			}
			entries, _ := os.ReadDir(filepath.Join(testUser.home, ".claudebox/instances"))
			for _, e := range entries {
				if e.Name() != launch.InstanceID(proj) {
					t.Errorf("an instance other than the project's was used: %s", e.Name())
				}
			}
		})
	}
}

// TestHostileHelperOnPath: a slirp4netns planted in a PATH directory the
// sandbox can write is not what the next inet launch runs on the host.
func TestHostileHelperOnPath(t *testing.T) {
	needSuite(t)
	hostileHost(t)
	proj := worldProject(t, testUser)
	in := invocation{as: testUser, dir: proj}
	marker := filepath.Join(testUser.home, "PWNED-by-helper")
	defer os.Remove(marker)
	plantInside(t, in, "x", fmt.Sprintf(`mkdir -p bin; printf '#!/bin/sh\ntouch %s\nexec /usr/bin/slirp4netns "$@"\n' > bin/slirp4netns; chmod +x bin/slirp4netns`, marker))

	// inet launches use the relay; CLAUDEBOX_UPLINK=slirp4netns makes
	// this one start slirp4netns, which gives the sandbox its tap0.
	in.env = []string{"PATH=" + filepath.Join(proj, "bin") + ":" + filepath.Join(testUser.home, ".local/bin") + ":/usr/bin:/bin",
		"CLAUDEBOX_UPLINK=slirp4netns"}
	r := in.inWorld(t, "run", "-q", "--network", "inet", "--", "sh", "-c", "./testpeer probe internet=198.51.100.10:8080; cat /proc/net/dev")
	mustExit(t, r, 0)
	mustContain(t, r, "internet ok", "tap0")
	if _, err := os.Stat(marker); err == nil {
		t.Error("a slirp4netns planted in the project ran on the host")
	}
	r = in.inWorld(t, "check")
	if line := lineOf(r.stdout, "slirp4netns"); !strings.Contains(line, "/usr/bin/slirp4netns") {
		t.Errorf("--check names %q, want /usr/bin/slirp4netns", line)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a slirp4netns planted in the project ran on the host at --check")
	}
	// The control: the planted helper does run when the host runs it.
	cmd := exec.Command("setpriv", "--reuid", strconv.Itoa(testUser.uid), "--regid", strconv.Itoa(testUser.gid), "--clear-groups",
		filepath.Join(proj, "bin/slirp4netns"), "--version")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the planted helper does not run on the host: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the planted helper ran but left no marker: %v", err)
	}
}

// TestHostileGC: gc removes an instance whose home the sandbox made
// partly inaccessible, and ls walks it without following links.
func TestHostileGC(t *testing.T) {
	needSuite(t)
	hostileHost(t)
	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj}
	plantInside(t, in, "x", `mkdir -p ~/deep/a/b && echo x > ~/deep/a/b/f && chmod 000 ~/deep/a/b ~/deep/a ~/deep;
		ln -s / ~/root-link; ln -s "$H/victim" ~/victim-link; mkfifo ~/fifo; chmod 000 ~/.claude`)
	before := hostSnapshot(t)
	r := in.run(t, "ls")
	mustExit(t, r, 0)
	mustContain(t, r, proj)
	os.RemoveAll(proj)
	r = invocation{as: testUser, dir: testUser.home}.run(t, "gc")
	mustExit(t, r, 0)
	if entries, _ := os.ReadDir(filepath.Join(testUser.home, ".claudebox/instances")); len(entries) != 0 {
		t.Errorf("gc left %v\n%s", entries, r)
	}
	sameSnapshot(t, before, hostSnapshot(t))
}
