package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/claudebox/claudebox/launch"
)

// ErrUserNS means the host does not let this user create user namespaces.
var ErrUserNS = errors.New("user namespaces are not available")

// procSys is where the sysctls are read; tests point it elsewhere.
var procSys = "/proc/sys"

// CheckUserNS reads the sysctls that block unprivileged user namespaces and
// names the one that does, with its fix. It is cheap (three small reads) and
// runs before every launch, so a blocked host fails with a clear message
// rather than a runtime error from deep inside container set-up.
func CheckUserNS() error { return checkUserNS(os.Geteuid()) }

func checkUserNS(euid int) error {
	if v, ok := readSysctl("user/max_user_namespaces"); ok && v == "0" {
		return &launch.HintError{
			Err:  fmt.Errorf("%w: user.max_user_namespaces is 0", ErrUserNS),
			Hint: "allow them: sudo sysctl -w user.max_user_namespaces=28633 (persist it in /etc/sysctl.d/)",
		}
	}
	if euid == 0 {
		return nil
	}
	if v, ok := readSysctl("kernel/unprivileged_userns_clone"); ok && v == "0" {
		return &launch.HintError{
			Err:  fmt.Errorf("%w: kernel.unprivileged_userns_clone is 0", ErrUserNS),
			Hint: "allow them: sudo sysctl -w kernel.unprivileged_userns_clone=1 (persist it in /etc/sysctl.d/)",
		}
	}
	if v, ok := readSysctl("kernel/apparmor_restrict_unprivileged_userns"); ok && v == "1" && apparmorUnconfined() {
		return &launch.HintError{
			Err: fmt.Errorf("%w: AppArmor restricts them (kernel.apparmor_restrict_unprivileged_userns=1)", ErrUserNS),
			Hint: "give claudebox an AppArmor profile with `userns,` (see README, \"Ubuntu 24.04\"), " +
				"or sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
		}
	}
	return nil
}

func readSysctl(name string) (string, bool) {
	b, err := os.ReadFile(procSys + "/" + name)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// apparmorUnconfined reports whether this process runs without an AppArmor
// profile (a profile with `userns,` lifts the restriction).
func apparmorUnconfined() bool {
	b, err := os.ReadFile("/proc/self/attr/apparmor/current")
	if err != nil {
		b, err = os.ReadFile("/proc/self/attr/current")
	}
	return err != nil || strings.HasPrefix(strings.TrimSpace(string(b)), "unconfined")
}

// explainStart adds what the user can do to a start failure.
func explainStart(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unshare user namespace") && strings.Contains(msg, "No space left on device"):
		return &launch.HintError{Err: fmt.Errorf("%w: the limit on user namespaces is reached: %w", ErrUserNS, err),
			Hint: "raise it: sudo sysctl -w user.max_user_namespaces=28633"}
	case strings.Contains(msg, "unshare user namespace"), strings.Contains(msg, "operation not permitted") && strings.Contains(msg, "clone"):
		return &launch.HintError{Err: fmt.Errorf("%w: %w", ErrUserNS, err),
			Hint: "this host blocks unprivileged user namespaces; see README, \"User namespaces\""}
	case strings.Contains(msg, "permission denied"):
		return &launch.HintError{Err: err, Hint: "a path the sandbox mounts is not accessible to you; check the --ro/--rw paths and the project"}
	}
	return err
}
