package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// plant writes a nested repository whose config runs core.fsmonitor.
func plant(t *testing.T, proj, name string) {
	t.Helper()
	dir := filepath.Join(proj, name, ".git")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "HEAD"), []byte("ref: refs/heads/main\n"), 0o644)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte("[core]\nfsmonitor = planted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func begin(t *testing.T, s *Session, proj string) {
	t.Helper()
	res, err := s.BeginReview([]string{proj}, nil, nil)
	if err != nil || len(res.Held) > 0 {
		t.Fatalf("begin: %v %+v", err, res)
	}
	time.Sleep(10 * time.Millisecond)
}

// The review runs when the last live session ends, never while another
// is live; a session whose launcher was killed (its lock gone, no end)
// leaves it to the next launch.
func TestReviewNeverRacesALiveSession(t *testing.T) {
	proj := t.TempDir()
	inst, _ := newInstance(t, proj)
	inst.Root = proj
	a, err := OpenSession(inst, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	begin(t, a, proj)
	b, err := OpenSession(inst, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	begin(t, b, proj)
	plant(t, proj, "one")

	res, last, err := a.EndReview()
	if err != nil || last || len(res.Held) > 0 {
		t.Fatalf("the first of two sessions reviewed: last=%v %v %+v", last, err, res)
	}
	a.Close()
	if _, err := os.Stat(filepath.Join(proj, "one/.git/config")); err != nil {
		t.Fatal("held while a session is live")
	}
	res, last, err = b.EndReview()
	if err != nil || !last || len(res.Held) != 1 || res.Held[0].Rel != "one/.git/config" {
		t.Fatalf("the last session's review: last=%v %v %+v", last, err, res)
	}
	b.Close()

	// A killed launcher: the lock goes with the process, the review stays
	// pending, and the next session's start runs it.
	c, err := OpenSession(inst, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	begin(t, c, proj)
	plant(t, proj, "two")
	c.lock.Close() // killed: no EndReview
	list, err := ListInstances(filepath.Dir(filepath.Dir(inst.Dir)))
	if err != nil || len(list) != 1 || !list[0].ReviewPending || list[0].Held != 1 {
		t.Fatalf("ls after a killed launcher: %v %+v", err, list)
	}
	d, err := OpenSession(inst, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err = d.BeginReview([]string{proj}, nil, nil)
	if err != nil || len(res.Held) != 1 || res.Held[0].Rel != "two/.git/config" {
		t.Fatalf("the next launch did not run the pending review: %v %+v", err, res)
	}
	// The next session has a baseline of its own; its end reviews it.
	if _, _, err := d.EndReview(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	list, _ = ListInstances(filepath.Dir(filepath.Dir(inst.Dir)))
	if list[0].ReviewPending || list[0].Held != 2 {
		t.Errorf("ls at the end: %+v", list)
	}
}
