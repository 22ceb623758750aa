// Package seccomp compiles the sandbox's seccomp profile (bundle.Seccomp)
// into the BPF program pid1 loads, once per profile, libseccomp and
// kernel, and keeps it in the user's cache. A build without the seccomp
// tag has no compiler and refuses: claudebox never launches without the
// filter unless told to (--seccomp=off).
package seccomp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/claudebox/claudebox/bundle"
	"github.com/claudebox/claudebox/state"
	"golang.org/x/sys/unix"
)

// Program returns the compiled seccomp filter of the sandbox's
// profile (bundle.Seccomp) for a process with caps, as a file pid1 loads.
//
// runc would compile the profile with libseccomp at every start, which
// measured at 25-35 ms of a launch here (hack/bench.sh). The program only
// depends on the profile, libseccomp and the kernel, so it is compiled once
// and kept in the user's cache, named by a hash of all three.
func Program(caps []string) ([]byte, string, error) {
	profile, err := bundle.Seccomp(caps)
	if err != nil {
		return nil, "", err
	}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	key, err := json.Marshal(struct {
		Profile any
		Kernel  string
		Version string
	}{profile, unix.ByteSliceToString(uts.Release[:]), cacheVersion})
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(key)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	path := filepath.Join(cache, "claudebox", "seccomp", hex.EncodeToString(sum[:12])+".bpf")
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 && len(b)%8 == 0 {
		return b, path, nil
	}
	prog, err := compile(profile)
	if err != nil {
		return nil, "", fmt.Errorf("seccomp: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err == nil {
		_ = state.WriteFileAtomic(path, prog, 0o644) // a cache: failing to keep it costs only time
	}
	if _, err := os.Stat(path); err != nil {
		// Not cacheable (read-only cache dir): hand the program over in a
		// file of the launch instead.
		return prog, "", nil
	}
	return prog, path, nil
}

// cacheVersion changes when the compiler here changes.
const cacheVersion = "1"
