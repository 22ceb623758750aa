package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/claudebox/claudebox/review"
	"golang.org/x/sys/unix"
)

// reviewLockName serializes the review's start and end between the
// sessions of one instance, and `claudebox accept`.
const reviewLockName = "review.lock"

// lockReview takes an instance's review lock (waiting for it).
func lockReview(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, reviewLockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(f, unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// alone turns the session's shared lock into an exclusive one without
// waiting, trying a few times (ls and gc take it exclusively for a
// moment): it succeeds only when no other session of the instance is
// live. On Linux a failed conversion drops the shared lock: the caller
// takes it again.
func (s *Session) alone(tries int) bool {
	for i := range tries {
		if unix.Flock(int(s.lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			return true
		}
		if i < tries-1 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return false
}

// BeginReview prepares the review of this session, before the sandbox
// starts: a review left pending by a session whose launcher was killed
// is run first (when no other session of the instance is live: never
// racing one), then the launch-time surface of each project is recorded,
// unless a live session recorded it already. lifted are the paths the
// user's --rw lifted the protection of, pinned those shown read-only.
func (s *Session) BeginReview(projects, lifted, pinned []string) (review.Result, error) {
	var res review.Result
	rl, err := lockReview(s.Instance.Dir)
	if err != nil {
		return res, fmt.Errorf("review lock: %w", err)
	}
	defer rl.Close()
	store := review.Open(s.Instance.Dir)
	alone := s.alone(3)
	if alone && store.Pending() {
		if res, err = store.Run(); err != nil {
			err = fmt.Errorf("the review of the last session (its launcher was killed): %w", err)
		}
	}
	for _, p := range projects {
		if err == nil {
			err = store.Record(p, lifted, pinned)
		}
	}
	// Back to a shared lock, as a session holds it (taken anew when the
	// conversion failed and dropped it).
	if lerr := flock(s.lock, unix.LOCK_SH); lerr != nil && err == nil {
		err = lerr
	}
	if err == nil && !sameFile(s.lock, filepath.Join(s.Instance.Dir, lockName)) {
		err = errors.New("the instance was removed while the session began (is a gc running?)")
	}
	return res, err
}

// SyncReview puts the baseline BeginReview recorded on disk: the
// session's command must not start before (review.Store.Sync).
func (s *Session) SyncReview() error { return review.Open(s.Instance.Dir).Sync() }

// EndReview reviews the session's changes when it is the last live
// session of the instance (review.Store.Run), trying once: the session
// stays live until it is closed, and CloseReviewing tries again. Call it
// once the sandbox's processes are gone; when nothing of the session is
// left, Close after a review, or CloseReviewing when it found another
// session live.
func (s *Session) EndReview() (res review.Result, last bool, err error) {
	rl, err := lockReview(s.Instance.Dir)
	if err != nil {
		return res, false, fmt.Errorf("review lock: %w", err)
	}
	defer rl.Close()
	if res, last, err = s.reviewIfAlone(1); !last && err == nil {
		// The failed conversion dropped the shared lock: taken again.
		err = flock(s.lock, unix.LOCK_SH)
	}
	return res, last, err
}

// CloseReviewing closes a session whose EndReview found another one live
// and left the review to it: that one may have ended since, finding this
// one live (its lock is held until it closes), and left it too. So the
// last session to close reviews: when no other is live now, the
// session's changes are reviewed. The session is closed in any case,
// before the review lock is let go, so the next one to close finds it
// gone.
func (s *Session) CloseReviewing() (res review.Result, last bool, err error) {
	rl, err := lockReview(s.Instance.Dir)
	if err != nil {
		s.Close()
		return res, false, fmt.Errorf("review lock: %w", err)
	}
	defer rl.Close()
	defer s.Close()
	return s.reviewIfAlone(5)
}

// reviewIfAlone runs the review (review.Store.Run) when no other session
// of the instance is live (alone, tries times), under the review lock,
// which the caller holds.
func (s *Session) reviewIfAlone(tries int) (res review.Result, last bool, err error) {
	if !s.alone(tries) {
		return res, false, nil
	}
	res, err = review.Open(s.Instance.Dir).Run()
	return res, true, err
}

// RunPendingReview runs the review a killed launcher left, when no
// session of the instance is live (for `claudebox review`); live reports
// that one is, and nothing was done.
func RunPendingReview(dir string, ackIncomplete bool) (res review.Result, live bool, err error) {
	rl, err := lockReview(dir)
	if err != nil {
		return res, false, err
	}
	defer rl.Close()
	lock, err := TryLock(filepath.Join(dir, lockName))
	if err != nil {
		return res, errors.Is(err, unix.EWOULDBLOCK), nil
	}
	defer lock.Close()
	if ackIncomplete {
		res, err = review.Open(dir).RunAcknowledging()
	} else {
		res, err = review.Open(dir).Run()
	}
	return res, false, err
}

// Accept puts the session's version of a held file in place (see
// review.Store.Accept), under the instance's review lock.
func Accept(dir, path string) (review.Hold, error) {
	rl, err := lockReview(dir)
	if err != nil {
		return review.Hold{}, err
	}
	defer rl.Close()
	return review.Open(dir).Accept(path)
}
