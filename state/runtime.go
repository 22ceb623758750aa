package state

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// RuntimeDir returns claudebox's runtime directory (RuntimeDirPath),
// creating it 0700.
func RuntimeDir() (string, error) {
	dir, err := RuntimeDirPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("runtime directory: %w", err)
	}
	return dir, nil
}

// RuntimeDirPath is claudebox's runtime directory, made or not:
// $XDG_RUNTIME_DIR/claudebox, else claudebox/run under the user's cache
// directory. For root without XDG_RUNTIME_DIR it is /run/claudebox.
func RuntimeDirPath() (string, error) {
	switch xdg := os.Getenv("XDG_RUNTIME_DIR"); {
	case xdg != "" && writableDir(xdg):
		return filepath.Join(xdg, "claudebox"), nil
	case os.Geteuid() == 0:
		return "/run/claudebox", nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("runtime directory: %w (set XDG_RUNTIME_DIR or HOME)", err)
	}
	return filepath.Join(cache, "claudebox", "run"), nil
}

// writableDir reports whether dir is a directory the user owns (an
// inherited XDG_RUNTIME_DIR of another user, after su, is not).
func writableDir(dir string) bool {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}
