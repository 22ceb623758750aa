package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/claudebox/claudebox/launch"
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

func TestCredentialSync(t *testing.T) {
	host, inst := t.TempDir(), t.TempDir()
	hostFile := launch.CredentialsPath(host)
	instFile := launch.CredentialsPath(inst)
	os.MkdirAll(filepath.Dir(hostFile), 0o700)
	os.WriteFile(hostFile, []byte(`{"t":"host-1"}`), 0o600)

	c, err := StartCredentialSync(host, inst)
	if err != nil {
		t.Fatal(err)
	}
	waitFile(t, instFile, `{"t":"host-1"}`) // reconciled at start

	os.WriteFile(instFile, []byte(`{"t":"in-place"}`), 0o600) // in place
	waitFile(t, hostFile, `{"t":"in-place"}`)

	tmp := instFile + ".tmp"
	os.WriteFile(tmp, []byte(`{"t":"renamed"}`), 0o600)
	os.Rename(tmp, instFile) // replace by rename
	waitFile(t, hostFile, `{"t":"renamed"}`)

	os.WriteFile(hostFile, []byte(`{"t":"host-2"}`), 0o600) // the host refreshes
	waitFile(t, instFile, `{"t":"host-2"}`)

	os.WriteFile(instFile, []byte(`{"t":`), 0o600) // torn: never copied
	time.Sleep(100 * time.Millisecond)
	waitFile(t, hostFile, `{"t":"host-2"}`)

	os.WriteFile(instFile, []byte(`{"t":"last"}`), 0o600)
	c.Stop()
	waitFile(t, hostFile, `{"t":"last"}`)
	if fi, _ := os.Stat(hostFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("host credentials mode %v", fi.Mode())
	}
}

func TestCredentialSyncNewerWins(t *testing.T) {
	host, inst := t.TempDir(), t.TempDir()
	hostFile := launch.CredentialsPath(host)
	instFile := launch.CredentialsPath(inst)
	os.MkdirAll(filepath.Dir(hostFile), 0o700)
	os.MkdirAll(filepath.Dir(instFile), 0o700)
	os.WriteFile(hostFile, []byte(`{"t":"old"}`), 0o600)
	os.WriteFile(instFile, []byte(`{"t":"new"}`), 0o600)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(hostFile, past, past)
	c, err := StartCredentialSync(host, inst)
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
	waitFile(t, hostFile, `{"t":"new"}`)
}
