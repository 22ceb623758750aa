package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestKillLauncherAnywhere: SIGKILL the launcher at points from set-up to
// teardown. The sandbox dies with it (no orphan, no uplink), and the next
// launch leaves nothing behind.
func TestKillLauncherAnywhere(t *testing.T) {
	needSuite(t)
	proj := worldProject(t, testUser)
	user := strconv.Itoa(testUser.uid)
	for i, delay := range []time.Duration{0, 2, 5, 10, 20, 40, 80, 150} {
		marker := fmt.Sprintf("1000.%d%d", os.Getpid(), i)
		cmd := invocation{as: testUser, dir: proj}.command()
		cmd.SysProcAttr = nil
		cmd.Path, _ = filepath.Abs("../hack/in-world.sh")
		cmd.Args = []string{cmd.Path, user, strconv.Itoa(testUser.gid), binPath, "run", "-q", "--network", "inet", "--",
			"sh", "-c", "sleep 0.05; exec sleep " + marker}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay * time.Millisecond)
		cmd.Process.Kill() // in-world.sh execs down to the launcher
		cmd.Wait()
		deadline := time.Now().Add(5 * time.Second)
		for exec.Command("pgrep", "-u", user, "-f", "sleep "+marker).Run() == nil ||
			exec.Command("pgrep", "-u", user, "slirp4netns").Run() == nil {
			if time.Now().After(deadline) {
				exec.Command("pkill", "-KILL", "-u", user, "-f", "sleep "+marker).Run()
				exec.Command("pkill", "-KILL", "-u", user, "slirp4netns").Run()
				t.Fatalf("killed after %d ms: the sandbox or its uplink outlived the launcher", delay)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	mustExit(t, invocation{as: testUser, dir: proj}.inWorld(t, "run", "-q", "--network", "none", "--", "true"), 0)
	assertNothingLeft(t, testUser)
}

func TestParallelAcrossProjects(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	var wg sync.WaitGroup
	results := make([]result, 16)
	for i := range results {
		proj := newProject(t, testUser)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = invocation{as: testUser, dir: proj}.run(t, "run", "-q", "--", "sh", "-c", "echo "+strconv.Itoa(i)+" > ~/.claude/mine")
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("launch %d: %s", i, r)
		}
	}
	instances, _ := os.ReadDir(filepath.Join(testUser.home, ".claudebox/instances"))
	if len(instances) != 16 {
		t.Fatalf("want 16 instances, got %d", len(instances))
	}
	for _, in := range instances {
		b, err := os.ReadFile(filepath.Join(testUser.home, ".claudebox/instances", in.Name(), "meta.json"))
		if err != nil || !json.Valid(b) {
			t.Errorf("%s: meta.json %q %v", in.Name(), b, err)
		}
	}
	assertNothingLeft(t, testUser)
}

// TestFullDisk: with the state directory full, a launch fails with a clear
// error and the previous state stays intact.
func TestFullDisk(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	state := filepath.Join(testUser.home, ".claudebox")
	os.MkdirAll(state, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k,mode=0700,uid="+strconv.Itoa(testUser.uid)+",gid="+strconv.Itoa(testUser.gid), "tmpfs", state).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("umount", "-l", state).Run()
		os.RemoveAll(state) // the mount point root made: the user makes it anew
	})
	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj}
	mustExit(t, in.run(t, "run", "-q", "--", "true"), 0)
	entries, _ := os.ReadDir(filepath.Join(state, "instances"))
	meta := filepath.Join(state, "instances", entries[0].Name(), "meta.json")
	before, _ := os.ReadFile(meta)

	// Fill the disk.
	exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(state, "filler"), "bs=4k", "count=1000").Run()
	r := in.run(t, "run", "-q", "--", "echo", "RAN")
	mustExit(t, r, 125)
	mustContain(t, r, "no space left on device")
	mustNotContain(t, r, "RAN\n")
	after, _ := os.ReadFile(meta)
	if string(after) != string(before) || !json.Valid(after) {
		t.Errorf("meta.json changed on a full disk:\nbefore %q\nafter  %q", before, after)
	}
	// A new project cannot get an instance either, and leaves no half.
	r = invocation{as: testUser, dir: newProject(t, testUser)}.run(t, "run", "-q", "--", "true")
	mustExit(t, r, 125)
	if got, _ := os.ReadDir(filepath.Join(state, "instances")); len(got) != 1 {
		t.Errorf("a failed instance creation left %d entries", len(got))
	}
	assertNothingLeft(t, testUser)
}
