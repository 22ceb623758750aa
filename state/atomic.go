// Package state owns claudebox's files on disk: the per-project instances
// (sessions, locks, gc), the instance home, which the sandbox can write and
// so is only ever touched through internal/safefs (Home: SANDBOX.md,
// CLAUDE.md, mount points, the credential sync), the project's protected
// paths, and the runtime directory. Its own files are written atomically.
package state

import (
	"os"
	"path/filepath"

	"github.com/claudebox/claudebox/internal/safefs"
)

// WriteFileAtomic writes data to path through a temporary file in the same
// directory, fsynced and renamed over path, so a reader sees the old content
// or the new, never a torn file. path's directory is trusted (links in it
// are followed); inside a tree a sandbox can write, use safefs.Dir.WriteFile.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	d, err := safefs.OpenTrusted(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.WriteFile(filepath.Base(path), data, perm)
}
