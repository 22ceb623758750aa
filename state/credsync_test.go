package state

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claudebox/claudebox/internal/testuser"
	"github.com/claudebox/claudebox/launch"
	"golang.org/x/sys/unix"
	"time"
)

func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %q", path, b, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// login is a Claude Code login holding token.
func login(token string) string {
	return fmt.Sprintf(`{"claudeAiOauth":{"accessToken":%q,"refreshToken":"r"}}`, token)
}

// testHome opens the home of a new instance; the host home and the
// instance's credentials file are returned with it.
func testHome(t *testing.T) (home *Home, hostHome, instFile string) {
	t.Helper()
	inst := &launch.Instance{ID: "p-1", Dir: t.TempDir()}
	h, err := OpenHome(inst)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	hostHome = t.TempDir()
	os.MkdirAll(filepath.Join(hostHome, ".claude"), 0o700)
	return h, hostHome, filepath.Join(inst.HomeDir(), CredentialsFile)
}

// startStepped starts a sync whose loop looks at the two files once per
// step(), which returns when that look is done: no test waits on a clock.
func startStepped(t *testing.T, host string, home *Home) (c *CredentialSync, step func()) {
	t.Helper()
	ticks, synced := make(chan time.Time), make(chan struct{})
	c, err := startCredentialSync(host, home, ticks, synced)
	if err != nil {
		t.Fatal(err)
	}
	return c, func() { ticks <- time.Now(); <-synced }
}

// holds fails unless path holds want now.
func holds(t *testing.T, path, want string) {
	t.Helper()
	if b, err := os.ReadFile(path); err != nil || string(b) != want {
		t.Fatalf("%s holds %q (%v), want %q", path, b, err, want)
	}
}

func TestCredentialSync(t *testing.T) {
	home, host, instFile := testHome(t)
	hostFile := launch.CredentialsPath(host)
	os.WriteFile(hostFile, []byte(login("host-1")), 0o600)

	c, step := startStepped(t, host, home)
	holds(t, instFile, login("host-1")) // reconciled at start

	os.WriteFile(instFile, []byte(login("in-place")), 0o600) // in place
	step()
	holds(t, hostFile, login("in-place"))

	tmp := instFile + ".tmp"
	os.WriteFile(tmp, []byte(login("renamed")), 0o600)
	os.Rename(tmp, instFile) // replace by rename
	step()
	holds(t, hostFile, login("renamed"))

	os.WriteFile(hostFile, []byte(login("host-2")), 0o600) // the host refreshes
	step()
	holds(t, instFile, login("host-2"))

	os.WriteFile(instFile, []byte(`{"claudeAiOauth":`), 0o600) // torn: never copied
	step()
	holds(t, hostFile, login("host-2"))

	os.WriteFile(instFile, []byte(`{"auths":{"registry":{"auth":"c2VjcmV0"}}}`), 0o600) // not a login: never copied
	step()
	step()
	holds(t, hostFile, login("host-2"))

	os.WriteFile(instFile, []byte(login("last")), 0o600)
	c.Stop()
	holds(t, hostFile, login("last"))
	if fi, _ := os.Stat(hostFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("host credentials mode %v", fi.Mode())
	}
}

// TestCredentialSyncTicks: unstepped, the loop looks every SyncInterval.
func TestCredentialSyncTicks(t *testing.T) {
	home, host, instFile := testHome(t)
	hostFile := launch.CredentialsPath(host)
	os.WriteFile(hostFile, []byte(login("host")), 0o600)
	c, err := StartCredentialSync(host, home)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	os.WriteFile(instFile, []byte(login("refreshed")), 0o600)
	waitFile(t, hostFile, login("refreshed"))
}

func TestCredentialSyncNewerWins(t *testing.T) {
	home, host, instFile := testHome(t)
	hostFile := launch.CredentialsPath(host)
	os.WriteFile(hostFile, []byte(login("old")), 0o600)
	os.WriteFile(instFile, []byte(login("new")), 0o600)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(hostFile, past, past)
	c, err := StartCredentialSync(host, home)
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
	waitFile(t, hostFile, login("new"))
}

// An instance copy that is not a login file is moved aside at the start,
// never followed or copied, and the host's login stays as it was.
func TestCredentialSyncHostileCopy(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "docker-config.json")
	os.WriteFile(secret, []byte(`{"claudeAiOauth":{"accessToken":"not-the-users"}}`), 0o600)
	plants := map[string]func(string) error{
		"symlink": func(p string) error { return os.Symlink(secret, p) },
		"fifo":    func(p string) error { return mkfifo(p) },
		"huge": func(p string) error {
			if err := os.WriteFile(p, []byte(login("x")), 0o600); err != nil {
				return err
			}
			return os.Truncate(p, 30<<30)
		},
		"directory":   func(p string) error { return os.Mkdir(p, 0o700) },
		"other json":  func(p string) error { return os.WriteFile(p, []byte(`{"auths":{}}`), 0o600) },
		"dev/zero ln": func(p string) error { return os.Symlink("/dev/zero", p) },
		"unreadable":  func(p string) error { return os.WriteFile(p, []byte(login("x")), 0) },
	}
	for name, plant := range plants {
		t.Run(name, func(t *testing.T) {
			if name == "unreadable" && testuser.Rerun(t, "^TestCredentialSyncHostileCopy$/^unreadable$") {
				return // root reads a mode 000 file: run as the test user
			}
			home, host, instFile := testHome(t)
			hostFile := launch.CredentialsPath(host)
			os.WriteFile(hostFile, []byte(login("host")), 0o600)
			if err := plant(instFile); err != nil {
				t.Fatal(err)
			}
			done := make(chan *CredentialSync, 1)
			go func() {
				c, err := StartCredentialSync(host, home)
				if err != nil {
					t.Error(err)
				}
				done <- c
			}()
			select {
			case c := <-done:
				if c != nil {
					c.Stop()
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the sync hung")
			}
			waitFile(t, hostFile, login("host"))
			waitFile(t, instFile, login("host"))
			if len(home.Notes) != 1 {
				t.Fatalf("notes %q, want one", home.Notes)
			}
			if n := home.Notes[0]; !strings.Contains(n, ".credentials.json") || !strings.Contains(n, "moved to") || !strings.Contains(n, "host login was not changed") {
				t.Errorf("note %q", n)
			}
			if b, _ := os.ReadFile(secret); !strings.Contains(string(b), "not-the-users") {
				t.Errorf("the link's target changed: %q", b)
			}
		})
	}
}

func mkfifo(p string) error { return unix.Mkfifo(p, 0o600) }
