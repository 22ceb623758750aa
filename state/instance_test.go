package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claudebox/claudebox/launch"
)

func newInstance(t *testing.T, project string) (*launch.Instance, string) {
	t.Helper()
	stateDir := t.TempDir()
	id := launch.InstanceID(project)
	return &launch.Instance{ID: id, Dir: filepath.Join(InstancesDir(stateDir), id), Root: project}, stateDir
}

func TestOpenSessionSeedsAndRecords(t *testing.T) {
	host := t.TempDir()
	os.MkdirAll(filepath.Join(host, ".claude"), 0o700)
	os.WriteFile(filepath.Join(host, ".claude.json"), []byte(`{"hasCompletedOnboarding":true,"mcpServers":{"gh":{"env":{"T":"MCP-SECRET-1"}}},"projects":{"/p":{"a":1,"mcpServers":{"db":{"env":{"T":"MCP-SECRET-2"}}}},"/p/sub":{"b":2},"/other":{"c":3},"/pp":{"d":4}}}`), 0o600)
	os.WriteFile(filepath.Join(host, ".claude/settings.json"), []byte(`{"theme":"dark"}`), 0o600)
	os.WriteFile(filepath.Join(host, ".claude/history.jsonl"), []byte("host history"), 0o600)
	inst, _ := newInstance(t, "/p")

	s, err := OpenSession(inst, host)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var seeded struct {
		Onboarded bool                       `json:"hasCompletedOnboarding"`
		Projects  map[string]json.RawMessage `json:"projects"`
	}
	b, _ := os.ReadFile(filepath.Join(inst.HomeDir(), ".claude.json"))
	if err := json.Unmarshal(b, &seeded); err != nil || !seeded.Onboarded {
		t.Fatalf("seeded ~/.claude.json %q: %v", b, err)
	}
	if len(seeded.Projects) != 2 || seeded.Projects["/p"] == nil || seeded.Projects["/p/sub"] == nil {
		t.Errorf("other projects' entries must be left out: %s", b)
	}
	if strings.Contains(string(b), "MCP-SECRET") || !strings.Contains(string(b), `"a"`) {
		t.Errorf("MCP servers must be left out of the seed, the project's entry kept: %s", b)
	}
	// The settings are layered at each launch (Home.Prepare), not seeded.
	if _, err := os.Stat(filepath.Join(inst.HomeDir(), ".claude/settings.json")); err == nil {
		t.Error("settings seeded")
	}
	if _, err := os.Stat(filepath.Join(inst.HomeDir(), ".claude/history.jsonl")); err == nil {
		t.Error("the host's history was copied into the instance")
	}
	m, err := ReadMeta(inst.Dir)
	if err != nil || m.Project != "/p" || m.Version != MetaVersion || m.LastUsed.Before(m.Created) {
		t.Errorf("meta %+v %v", m, err)
	}
}

func TestOpenSessionWithoutHostState(t *testing.T) {
	inst, _ := newInstance(t, "/p")
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, ".claude.json"), []byte("{torn"), 0o600)
	s, err := OpenSession(inst, host)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(inst.HomeDir(), ".claude.json")); err == nil {
		t.Error("a malformed host ~/.claude.json was carried over")
	}
}

func TestOpenSessionConcurrent(t *testing.T) {
	inst, _ := newInstance(t, "/p")
	host := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := OpenSession(inst, host)
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(inst.Dir))
	if len(entries) != 1 {
		t.Errorf("want exactly the instance, got %v", entries)
	}
	if _, err := ReadMeta(inst.Dir); err != nil {
		t.Error(err)
	}
}

func TestOpenSessionRefusesBadMeta(t *testing.T) {
	inst, _ := newInstance(t, "/p")
	host := t.TempDir()
	s, err := OpenSession(inst, host)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	meta := filepath.Join(inst.Dir, metaName)
	for _, c := range []struct {
		content string
		want    error
		hint    string
	}{
		{`{"version":2,"project":"/p"}`, ErrFutureMeta, "upgrade"},
		{`{torn`, ErrBadMeta, "mv "},
		{`{"version":1,"project":"/elsewhere"}`, ErrBadMeta, "mv "},
	} {
		os.WriteFile(meta, []byte(c.content), 0o600)
		_, err := OpenSession(inst, host)
		if !errors.Is(err, c.want) || !strings.Contains(launch.Hint(err), c.hint) {
			t.Errorf("%s: got %v (hint %q)", c.content, err, launch.Hint(err))
		}
		if b, _ := os.ReadFile(meta); string(b) != c.content {
			t.Errorf("%s was rewritten to %s", c.content, b)
		}
	}
}

func TestGC(t *testing.T) {
	stateDir := t.TempDir()
	host := t.TempDir()
	open := func(project string) (*launch.Instance, *Session) {
		id := launch.InstanceID(project)
		inst := &launch.Instance{ID: id, Dir: filepath.Join(InstancesDir(stateDir), id), Root: project}
		s, err := OpenSession(inst, host)
		if err != nil {
			t.Fatal(err)
		}
		return inst, s
	}
	existing := t.TempDir()
	alive, s1 := open(existing)
	s1.Close()
	gone, s2 := open("/nonexistent/gone")
	s2.Close()
	live, s3 := open("/nonexistent/live")
	defer s3.Close()
	corrupt, s4 := open("/nonexistent/corrupt")
	s4.Close()
	os.WriteFile(filepath.Join(corrupt.Dir, metaName), []byte("{"), 0o600)
	future, s5 := open("/nonexistent/future")
	s5.Close()
	os.WriteFile(filepath.Join(future.Dir, metaName), []byte(`{"version":9,"project":"/nonexistent/future"}`), 0o600)
	os.Mkdir(filepath.Join(InstancesDir(stateDir), ".trash-x"), 0o700)

	res, err := GC(stateDir, GCOptions{DryRun: true})
	if err != nil || len(res.Removed) != 1 || res.Removed[0].ID != gone.ID || len(res.Kept) != 2 {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	for _, i := range []*launch.Instance{alive, gone, live, corrupt, future} {
		if _, err := os.Stat(i.Dir); err != nil {
			t.Errorf("dry run removed %s", i.ID)
		}
	}
	res, err = GC(stateDir, GCOptions{Force: true})
	if err != nil || res.Freed <= 0 {
		t.Fatalf("gc: %+v %v", res, err)
	}
	exists := func(i *launch.Instance) bool { _, err := os.Stat(i.Dir); return err == nil }
	if exists(gone) || exists(corrupt) || !exists(alive) || !exists(live) || !exists(future) {
		t.Errorf("after gc --force: gone %v corrupt %v (want false); alive %v live %v future %v (want true)",
			exists(gone), exists(corrupt), exists(alive), exists(live), exists(future))
	}
	if entries, _ := os.ReadDir(InstancesDir(stateDir)); len(entries) != 3 {
		t.Errorf("leftovers: %v", entries)
	}
	list, err := ListInstances(stateDir)
	if err != nil || len(list) != 3 {
		t.Fatalf("ls: %+v %v", list, err)
	}
	for _, in := range list {
		if in.ID == live.ID && !in.Live || in.ID != live.ID && in.Live {
			t.Errorf("%s live=%v", in.ID, in.Live)
		}
		if in.Size <= 0 {
			t.Errorf("%s has no size", in.ID)
		}
	}
}

// TestGCLarge: gc scans many instances quickly enough to run on every
// call; the timing itself is for `make bench`, this only checks the result.
func TestGCLarge(t *testing.T) {
	stateDir := t.TempDir()
	now := time.Now().UTC()
	for i := range 500 {
		dir := filepath.Join(InstancesDir(stateDir), fmt.Sprintf("p%04d-00000000", i))
		os.MkdirAll(filepath.Join(dir, homeName), 0o700)
		writeMeta(dir, &Meta{Version: MetaVersion, Project: "/nonexistent/" + dir, Created: now, LastUsed: now})
		os.WriteFile(filepath.Join(dir, lockName), nil, 0o600)
	}
	res, err := GC(stateDir, GCOptions{})
	if err != nil || len(res.Removed) != 500 {
		t.Fatalf("removed %d: %v", len(res.Removed), err)
	}
}

func FuzzReadMeta(f *testing.F) {
	for _, s := range []string{`{"version":1,"project":"/p"}`, `{"version":99,"project":"/p"}`, `{`, ``, `{"version":"1"}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMeta("meta.json", b)
		switch {
		case err == nil && (m.Version < 1 || m.Version > MetaVersion || m.Project == ""):
			t.Fatalf("accepted %q as %+v", b, m)
		case err != nil && !errors.Is(err, ErrBadMeta) && !errors.Is(err, ErrFutureMeta):
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

// A session's start is its instance's last use, as ReadMeta reads it,
// without rewriting meta.json.
func TestSessionRecordsLastUse(t *testing.T) {
	inst, _ := newInstance(t, "/p")
	s, err := OpenSession(inst, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	first, err := ReadMeta(inst.Dir)
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(filepath.Join(inst.Dir, metaName))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if s, err = OpenSession(inst, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	m, err := ReadMeta(inst.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !m.LastUsed.After(first.LastUsed) || !m.Created.Equal(first.Created) {
		t.Errorf("last use %v after a first at %v (created %v, %v)", m.LastUsed, first.LastUsed, m.Created, first.Created)
	}
	after, err := os.Stat(filepath.Join(inst.Dir, metaName))
	if err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("meta.json rewritten by a session's start: %v", err)
	}
}
