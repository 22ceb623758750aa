package sandbox

import (
	"fmt"
	"io"
	"strings"

	"github.com/claudebox/claudebox/internal/trace"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/review"
	"github.com/claudebox/claudebox/state"
)

// instance is a launch's session of its project's instance: the review
// of what the sandbox changes, the instance home made ready, and the
// credential sync. A nil *instance (a launch without one) does nothing.
type instance struct {
	stderr io.Writer
	sess   *state.Session
	home   *state.Home
	creds  *state.CredentialSync
	ended  chan reviewEnd // the review at the session's end, once begun
}

type reviewEnd struct {
	res  review.Result
	last bool
	err  error
}

// openInstance opens the project's instance for this session, begins
// the review of what it changes, makes its home ready (the mount points
// claudebox puts in it, SANDBOX.md and the CLAUDE.md that imports it) and
// starts the credential sync. What was found broken in the home, which
// the sandbox can write, is moved aside and said on stderr.
func openInstance(s *launch.Spec, stderr io.Writer) (_ *instance, err error) {
	sess, err := state.OpenSession(s.Instance, s.Home)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			sess.Close()
		}
	}()
	if err := beginReview(sess, s, stderr); err != nil {
		return nil, err
	}
	home, err := state.OpenHome(s.Instance)
	if err != nil {
		return nil, instanceHomeError(s, err)
	}
	defer func() {
		if err != nil {
			home.Close()
		}
	}()
	err = home.Prepare(s)
	var creds *state.CredentialSync
	if err == nil {
		creds, err = state.StartCredentialSync(s.Home, home, s.Setup.MCPCredentialKeys())
	}
	for _, n := range home.Notes {
		fmt.Fprintf(stderr, "claudebox: %s\n", n)
	}
	if err != nil {
		return nil, instanceHomeError(s, err)
	}
	trace.Step("instance session")
	return &instance{stderr: stderr, sess: sess, home: home, creds: creds}, nil
}

// syncReview puts the review's baseline, recorded as the session began,
// on disk: the sandbox's command must not start before.
func (i *instance) syncReview() error {
	if i == nil {
		return nil
	}
	return i.sess.SyncReview()
}

// commandEnded begins the review of what the session changed. Call it
// only once every process of the sandbox is gone: its pid 1 has exited
// (the kernel ends a pid namespace's other processes before its init).
func (i *instance) commandEnded() {
	if i == nil || i.ended != nil {
		return
	}
	i.ended = make(chan reviewEnd, 1)
	go func() {
		res, last, err := i.sess.EndReview()
		i.ended <- reviewEnd{res, last, err}
	}()
}

// close ends the session: the credential sync, the home, and the review
// (begun here when the command never ran; run again as the session
// closes when another session was live then: the last to close reviews),
// whose result it shows.
func (i *instance) close() {
	if i == nil {
		return
	}
	i.creds.Stop()
	i.home.Close()
	i.commandEnded()
	end := <-i.ended
	if !end.last && end.err == nil {
		// Another session was live when the command ended: it may have
		// ended since, finding this one live, and left the review to it.
		end.res, end.last, end.err = i.sess.CloseReviewing()
	} else {
		i.sess.Close()
	}
	review.Report(i.stderr, end.res)
	if !end.last && end.err == nil {
		fmt.Fprintln(i.stderr, "claudebox: another session of this project is live: the review of what this one changed runs when the last one ends")
	}
	if end.err != nil {
		fmt.Fprintf(i.stderr, "claudebox: the review of this session: %v\n", end.err)
	}
	trace.Step("instance closed")
}

// beginReview records what the review at the session's end compares with
// (the project's, and a linked worktree's main worktree's, host-run
// surface), after the review a killed launcher left, which it shows.
func beginReview(sess *state.Session, s *launch.Spec, stderr io.Writer) error {
	projects := []string{s.Project}
	if s.Instance.Root != s.Project {
		projects = append(projects, s.Instance.Root)
	}
	var lifted, pinned []string
	for _, m := range s.Mounts {
		switch {
		case m.Unprotects, userWritable(m):
			lifted = append(lifted, m.Path)
		case m.Protected && m.Mode == launch.ReadOnly && m.Target == "":
			pinned = append(pinned, m.Path)
		}
	}
	res, err := sess.BeginReview(projects, lifted, pinned)
	review.Report(stderr, res)
	if err != nil {
		return &launch.HintError{Err: fmt.Errorf("%w: the review of what the session changes: %w", ErrStart, err),
			Hint: "see what is wrong with the files named; claudebox review shows what is held"}
	}
	trace.Step("review recorded")
	return nil
}

// userWritable: a read-write mount the user asked for (--rw, a
// profile's), which lifts the protection of what it covers, and the
// review's holding of it: when it holds the project, no protected path is
// even looked for under it (so it carries no Unprotects).
func userWritable(m launch.Mount) bool {
	return m.Mode == launch.ReadWrite && !m.Pin && (m.Why == "--rw" || strings.HasPrefix(m.Why, "profile "))
}

// instanceHomeError explains a home that could not be made ready.
func instanceHomeError(s *launch.Spec, err error) error {
	return &launch.HintError{
		Err:  fmt.Errorf("%w: instance home %s: %w", ErrStart, s.Instance.HomeDir(), err),
		Hint: "move what is named out of the way (the instance home is the sandbox's to write), or remove the instance: claudebox gc --force",
	}
}
