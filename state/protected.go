package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/claudebox/claudebox/internal/safefs"
	"github.com/claudebox/claudebox/launch"
)

// PrepareProtected makes each protected path that was missing at launch
// as its Placeholder says (an empty directory, a file of neutral
// content), so that the read-only mount over it leaves the sandbox
// nothing to plant there. It goes through safefs: the project is the
// sandbox's to write. What appeared meanwhile in a placeholder's place is
// left as it is, and shown read-only.
func PrepareProtected(s *launch.Spec) error {
	for _, m := range s.Mounts {
		if !m.Protected || m.Placeholder == nil {
			continue
		}
		if _, err := os.Lstat(m.Path); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		// The directory holding it was checked when the spec was
		// resolved; it is opened again here, without links.
		dir, err := safefs.OpenPath(filepath.Dir(m.Path), filepath.Dir(m.Path))
		if err == nil {
			base := filepath.Base(m.Path)
			switch {
			case m.Placeholder.Dir:
				_, err = dir.Repair(base, true, 0o755)
			case m.Placeholder.Content == "":
				_, err = dir.Repair(base, false, 0o644)
			default:
				err = dir.WriteFile(base, []byte(m.Placeholder.Content), 0o644)
			}
			dir.Close()
		}
		if err != nil {
			what := "mkdir " + m.Path
			if !m.Placeholder.Dir {
				what = fmt.Sprintf("printf %q > %s", m.Placeholder.Content, m.Path)
			}
			return &launch.HintError{Err: fmt.Errorf("making %s, to show it read-only: %w", m.Path, err),
				Hint: "create it yourself (" + what + "), or lift the protection with --rw " + m.Path}
		}
	}
	return nil
}
