package sandbox

import (
	"errors"
	"testing"
	"time"
)

// execRecorder stands for the container: when its command was released.
type execRecorder struct{ at time.Time }

func (e *execRecorder) Exec() error { e.at = time.Now(); return nil }

// TestExecWaitsForReviewSync: the command is released (Exec) only once
// the review's baseline is on disk, and never when that failed.
func TestExecWaitsForReviewSync(t *testing.T) {
	ctr := &execRecorder{}
	recorded := make(chan error, 1)
	var synced time.Time
	go func() {
		time.Sleep(50 * time.Millisecond)
		synced = time.Now()
		recorded <- nil
	}()
	if err := execWhen(ctr, recorded); err != nil {
		t.Fatal(err)
	}
	if ctr.at.IsZero() || ctr.at.Before(synced) {
		t.Errorf("released at %v, the baseline synced at %v", ctr.at, synced)
	}

	ctr = &execRecorder{}
	recorded <- errors.New("no disk")
	if err := execWhen(ctr, recorded); !errors.Is(err, ErrStart) || !ctr.at.IsZero() {
		t.Errorf("a failed sync: %v, released %v", err, !ctr.at.IsZero())
	}
}
