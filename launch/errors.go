package launch

import "errors"

// Sentinel errors; match them with errors.Is.
var (
	ErrBadProject = errors.New("bad project")
	ErrBadPath    = errors.New("bad path")
	ErrBadEnv     = errors.New("bad --env")
	ErrNoClaude   = errors.New("claude not found")
	ErrBadNetwork = errors.New("bad network")
	// ErrBadGitCredential: a --git-credential that is not a host.
	ErrBadGitCredential = errors.New("bad --git-credential")
)

// HintError is an error the user can fix; Hint says how.
type HintError struct {
	Err  error
	Hint string
}

func (e *HintError) Error() string { return e.Err.Error() }
func (e *HintError) Unwrap() error { return e.Err }

// Hint returns the fix attached to err, or "".
func Hint(err error) string {
	if he, ok := errors.AsType[*HintError](err); ok {
		return he.Hint
	}
	return ""
}

func withHint(err error, hint string) error { return &HintError{Err: err, Hint: hint} }
