package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claudebox/claudebox/launch"
)

func TestCheckUserNS(t *testing.T) {
	if !apparmorUnconfined() {
		t.Fatal("these cases assume the test runs without an AppArmor profile")
	}
	for _, c := range []struct {
		name   string
		knobs  map[string]string
		want   string // "" = allowed
		inHint string
	}{
		{"defaults", map[string]string{"user/max_user_namespaces": "63000"}, "", ""},
		{"no knobs at all", nil, "", ""},
		{"max zero", map[string]string{"user/max_user_namespaces": "0\n"}, "user.max_user_namespaces is 0", "sysctl -w user.max_user_namespaces="},
		{"debian clone knob", map[string]string{"kernel/unprivileged_userns_clone": "0"}, "kernel.unprivileged_userns_clone is 0", "unprivileged_userns_clone=1"},
		{"clone knob on", map[string]string{"kernel/unprivileged_userns_clone": "1"}, "", ""},
		{"ubuntu apparmor restriction", map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "1"}, "AppArmor restricts them", "userns,"},
		{"apparmor restriction off", map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "0"}, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, v := range c.knobs {
				p := filepath.Join(dir, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte(v), 0o644)
			}
			old := procSys
			procSys = dir
			defer func() { procSys = old }()
			err := checkUserNS(1000)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUserNS) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want %q, got %v", c.want, err)
			}
			if !strings.Contains(launch.Hint(err), c.inHint) {
				t.Errorf("hint %q lacks %q", launch.Hint(err), c.inHint)
			}
		})
	}
}
