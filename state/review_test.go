package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/claudebox/claudebox/launch"
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

// twoSessions opens two sessions of one project's instance, each with
// its review begun, and plants a nested repository ("one") in it.
func twoSessions(t *testing.T) (proj string, inst *launch.Instance, a, b *Session) {
	t.Helper()
	proj = t.TempDir()
	inst, _ = newInstance(t, proj)
	inst.Root = proj
	var err error
	if a, err = OpenSession(inst, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	begin(t, a, proj)
	if b, err = OpenSession(inst, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	begin(t, b, proj)
	plant(t, proj, "one")
	return proj, inst, a, b
}

// The review runs when the last live session ends, never while another
// is live; a session whose launcher was killed (its lock gone, no end)
// leaves it to the next launch.
func TestReviewNeverRacesALiveSession(t *testing.T) {
	proj, inst, a, b := twoSessions(t)

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

// Two sessions whose commands end close together: the first one's review
// finds the second live and leaves it; the second's finds the first still
// live (being taken down, its lock held until it closes) and leaves it
// too. The last to close reviews: what either planted is held, not left
// for a host tool until the next launch.
func TestReviewWhenSessionsEndTogether(t *testing.T) {
	_, inst, a, b := twoSessions(t)

	// Both commands have ended; neither session is closed yet.
	if _, last, err := a.EndReview(); err != nil || last {
		t.Fatalf("a reviewed while b was live: last=%v %v", last, err)
	}
	if _, last, err := b.EndReview(); err != nil || last {
		t.Fatalf("b reviewed while a was live: last=%v %v", last, err)
	}
	// a is taken down first, then b: the last to close reviews.
	res, last, err := a.CloseReviewing()
	if err != nil || last || len(res.Held) > 0 {
		t.Fatalf("a reviewed at its close while b was live: last=%v %v %+v", last, err, res)
	}
	res, last, err = b.CloseReviewing()
	if err != nil || !last || len(res.Held) != 1 || res.Held[0].Rel != "one/.git/config" {
		t.Fatalf("the last session to close did not review: last=%v %v %+v", last, err, res)
	}
	list, err := ListInstances(filepath.Dir(filepath.Dir(inst.Dir)))
	if err != nil || len(list) != 1 || list[0].ReviewPending || list[0].Held != 1 {
		t.Fatalf("ls after both sessions: %v %+v", err, list)
	}
}
