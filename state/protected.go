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

// PrepareProtected makes each missing protected directory (a git
// directory's hooks), empty, so that the read-only mount over it leaves
// the sandbox nothing to plant there. It goes through safefs: the project
// is the sandbox's to write.
func PrepareProtected(s *launch.Spec) error {
	for _, m := range s.Mounts {
		if !m.Protected {
			continue
		}
		if _, err := os.Lstat(m.Path); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		// The git directory holding it was checked when the spec was
		// resolved; it is opened again here, without links.
		dir, err := safefs.OpenPath(filepath.Dir(m.Path), filepath.Dir(m.Path))
		if err == nil {
			_, err = dir.Repair(filepath.Base(m.Path), true, 0o755)
			dir.Close()
		}
		if err != nil {
			return &launch.HintError{Err: fmt.Errorf("making %s, to show it read-only: %w", m.Path, err),
				Hint: "create it yourself (mkdir " + m.Path + "), or lift the protection with --rw " + m.Path}
		}
	}
	return nil
}
