package integration

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/claudebox/claudebox/launch"
)

// TestReviewSyncGatesCommand: in every network tier, the command starts
// only once the review's baseline is on disk: when that sync fails (the
// instance's review directory made unreadable, so opening it to sync it
// fails, while the baseline is still written), the launch refuses and the
// command did not run; the same launch with the directory readable runs
// it (the control).
func TestReviewSyncGatesCommand(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj}
	mustExit(t, in.run(t, "run", "-q", "--network", "none", "--", "true"), 0)
	review := filepath.Join(testUser.home, ".claudebox/instances", launch.InstanceID(proj), "review")
	t.Cleanup(func() { os.Chmod(review, 0o700) })
	for _, tier := range []string{"none", "full", "inet", "allowlist"} {
		t.Run(tier, func(t *testing.T) {
			launchIt := func(marker string) result {
				args := []string{"run", "-q", "--network", tier, "--", "touch", marker}
				if tier == "inet" || tier == "allowlist" {
					return in.inWorld(t, args...)
				}
				return in.run(t, args...)
			}
			if err := os.Chmod(review, 0o300); err != nil {
				t.Fatal(err)
			}
			r := launchIt("ran-" + tier)
			os.Chmod(review, 0o700)
			if r.code == 0 || exists(filepath.Join(proj, "ran-"+tier)) {
				t.Errorf("the command ran though the review's baseline was not synced: %v", r)
			}
			mustContain(t, r, "the review's record of the project")
			t.Logf("refused: exit %d: %s", r.code, r.stderr)
			r = launchIt("control-" + tier)
			mustExit(t, r, 0)
			if !exists(filepath.Join(proj, "control-"+tier)) {
				t.Errorf("control: the command did not run: %v", r)
			}
		})
	}
}
