package gitcred

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// newServer serves hosts with git's own credential-store helper behind
// it, holding logins for git.test and other.test; it returns the socket.
func newServer(t *testing.T, hosts ...string) (string, *bytes.Buffer) {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("requires git")
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o700)
	store := filepath.Join(home, "creds")
	os.WriteFile(store, []byte("https://u:git-secret@git.test\nhttps://u:other-secret@other.test\n"), 0o600)
	os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[credential]\n\thelper = store --file "+store+"\n"), 0o600)
	neutral := filepath.Join(dir, "neutral")
	os.Mkdir(neutral, 0o700)
	var log bytes.Buffer
	sock := filepath.Join(dir, "cred.sock")
	s, err := Listen(Options{Socket: sock, Hosts: hosts, Git: git, Dir: neutral, Log: &log,
		Env: []string{"HOME=" + home, "PATH=/usr/bin:/bin", "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CEILING_DIRECTORIES=" + dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return sock, &log
}

func ask(t *testing.T, sock, req string) map[string]string {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(req))
	c.(*net.UnixConn).CloseWrite()
	var b bytes.Buffer
	b.ReadFrom(c)
	f, err := Parse(b.Bytes())
	if err != nil {
		t.Fatalf("answer %q: %v", b.String(), err)
	}
	return f
}

func TestOnlyNamedHosts(t *testing.T) {
	sock, log := newServer(t, "git.test")
	if f := ask(t, sock, "protocol=https\nhost=git.test\n"); f["username"] != "u" || f["password"] != "git-secret" {
		t.Fatalf("git.test: %v", f)
	}
	for _, req := range []string{
		"protocol=https\nhost=other.test\n",   // not named
		"protocol=http\nhost=git.test\n",      // not https
		"protocol=https\nhost=git.test:444\n", // another port
		"protocol=https\nhost=git.test\x00\n", // not the format
		"protocol=https\nHost=git.test\n",
	} {
		if f := ask(t, sock, req); len(f) != 0 {
			t.Errorf("%q answered %v", req, f)
		}
	}
	if !strings.Contains(log.String(), `"verdict":"allowed"`) || strings.Count(log.String(), `"verdict":"refused"`) != 5 {
		t.Errorf("log:\n%s", log.String())
	}
	if strings.Contains(log.String(), "secret") {
		t.Errorf("the log holds a password:\n%s", log.String())
	}
}

func TestParse(t *testing.T) {
	f, err := Parse([]byte("protocol=https\nhost=a.test\npath=x=y\n\nignored=1\n"))
	if err != nil || f["host"] != "a.test" || f["path"] != "x=y" || f["ignored"] != "" {
		t.Fatalf("%v %v", f, err)
	}
	for _, bad := range []string{"novalue\n", "=x\n", "KEY=x\n", "k=a\x00b\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if got := string(Format(map[string]string{"password": "p", "username": "u"})); got != "password=p\nusername=u\n" {
		t.Errorf("format %q", got)
	}
}

// FuzzParse: what a sandbox sends parses without panicking, and what
// parses writes back to the same fields.
func FuzzParse(f *testing.F) {
	f.Add([]byte("protocol=https\nhost=git.test\nusername=u\n\n"))
	f.Add([]byte("capability[]=authtype\nwwwauth[]=Basic realm=x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		again, err := Parse(Format(m))
		if err != nil || len(again) != len(m) {
			t.Fatalf("%q: %v %v", b, again, err)
		}
		for k, v := range m {
			if again[k] != v {
				t.Fatalf("%q: %s=%q became %q", b, k, v, again[k])
			}
		}
	})
}
