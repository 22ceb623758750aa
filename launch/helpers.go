package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// HelperDirs are where claudebox looks for the programs it runs on the
// host (slirp4netns): the system's own directories, which no sandbox can
// write. Never $PATH: an entry of it under the project, the instance
// home, a --rw mount or /tmp would let a sandbox plant a program that the
// next launch runs outside the sandbox.
var HelperDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// HelperPath finds the helper program name in HelperDirs, else beside the
// claudebox binary (launcher; "" for none).
func HelperPath(name, launcher string) (string, error) {
	dirs := HelperDirs[:len(HelperDirs):len(HelperDirs)]
	if launcher != "" {
		dirs = append(dirs, filepath.Dir(launcher))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &HintError{
		Err:  fmt.Errorf("%s is not installed (looked in %s; never in $PATH)", name, strings.Join(dirs, ", ")),
		Hint: "install it: sudo apt-get install " + name,
	}
}
