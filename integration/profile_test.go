package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeProfile(t *testing.T, name, content string) {
	t.Helper()
	if err := writeOwned(testUser, filepath.Join(testUser.home, ".claudebox/profiles", name+".json"), content); err != nil {
		t.Fatal(err)
	}
}

func TestProfiles(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := worldProject(t, testUser)
	rw, ro := filepath.Join(testUser.home, "it-prof-rw"), filepath.Join(testUser.home, "it-prof-ro")
	for _, f := range []string{filepath.Join(rw, ".keep"), filepath.Join(ro, "data.txt"), filepath.Join(proj, ".secret/key")} {
		if err := writeOwned(testUser, f, "content-"+filepath.Base(f)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(rw); os.RemoveAll(ro) })
	writeProfile(t, "it", `{
  "description": "integration profile",
  "env": ["PROFILE_VAR=from-profile", "GITHUB_TOKEN", "API_TOKEN=sk-ant-api03-profileSECRETprofileSECRET"],
  "mounts": [
    {"source": "~/it-prof-rw", "mode": "rw"},
    {"source": "~/it-prof-ro", "mode": "ro"},
    {"source": "`+proj+`/.secret", "mode": "hide"}
  ],
  "network": "none"
}`)
	writeProfile(t, "other", `{"description": "the other one", "env": ["PROFILE_VAR=from-other"]}`)
	in := invocation{as: testUser, dir: proj}

	t.Run("applied inside", func(t *testing.T) {
		r := in.inWorld(t, "run", "--profile", "it", "--", "sh", "-c", `
			echo "var=$PROFILE_VAR token=${GITHUB_TOKEN:+passed}"
			echo written > ~/it-prof-rw/out && echo rw-ok
			touch ~/it-prof-ro/new 2>/dev/null || echo ro-ok; cat ~/it-prof-ro/data.txt; echo
			echo "secret=[$(ls -A .secret)]"
			echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ' ')"`)
		mustExit(t, r, 0)
		mustContain(t, r, "var=from-profile token=passed", "rw-ok", "ro-ok", "content-data.txt", "secret=[]", "ifaces=lo \n")
		// The plan shows the profile, its mounts and the tier's source.
		mustContain(t, r, "profile", "it", "it-prof-rw", "profile it", "from profile it", "API_TOKEN", "sk-a…(")
		mustNotContain(t, r, "profileSECRETprofileSECRET")
		if b, _ := os.ReadFile(filepath.Join(rw, "out")); string(b) != "written\n" {
			t.Errorf("the profile's rw mount did not reach the host: %q", b)
		}
	})
	t.Run("env var activates, the flag wins", func(t *testing.T) {
		env := invocation{as: testUser, dir: proj, env: []string{"CLAUDEBOX_PROFILE=it"}}
		mustContain(t, env.inWorld(t, "run", "-q", "--", "sh", "-c", `echo "var=$PROFILE_VAR"`), "var=from-profile")
		mustContain(t, env.inWorld(t, "run", "-q", "--profile", "other", "--", "sh", "-c", `echo "var=$PROFILE_VAR"`), "var=from-other")
		// Flags add to the profile, and --network beats its tier.
		r := env.inWorld(t, "run", "-q", "--network", "inet", "--env", "EXTRA=flag", "--", "sh", "-c",
			`echo "extra=$EXTRA var=$PROFILE_VAR"; ./testpeer probe internet=198.51.100.10:8080`)
		mustContain(t, r, "extra=flag var=from-profile", "internet ok")
	})
	t.Run("list and show", func(t *testing.T) {
		writeProfile(t, "broken", "{\n  \"network\": \"lan\"\n}")
		r := in.run(t, "--list-profiles")
		mustExit(t, r, 0)
		mustContain(t, r, "broken", "BROKEN", `network: "lan"`, "it ", "integration profile", "other", "the other one")
		if strings.Index(r.stdout, "broken") > strings.Index(r.stdout, "other") {
			t.Errorf("not sorted:\n%s", r.stdout)
		}
		r = in.run(t, "--list-profiles", "--json")
		var list []struct{ Name, Description, Error string }
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 3 {
			t.Fatalf("--list-profiles --json: %v\n%s", err, r)
		}
		r = in.run(t, "--show-profile", "it")
		mustExit(t, r, 0)
		mustContain(t, r, "integration profile", "PROFILE_VAR=from-profile", "GITHUB_TOKEN", "(the host's value)", rw, ro, "hide", "none", "API_TOKEN=sk-a…(")
		mustNotContain(t, r, "profileSECRETprofileSECRET", "~/")
		r = in.run(t, "--show-profile", "it", "--json")
		mustNotContain(t, r, "profileSECRETprofileSECRET")
		if !json.Valid([]byte(r.stdout)) {
			t.Errorf("--show-profile --json: %s", r)
		}
	})
	t.Run("errors launch nothing", func(t *testing.T) {
		r := in.run(t, "run", "--profile", "nope", "--", "echo", "RAN")
		mustExit(t, r, 125)
		mustContain(t, r, `no such profile "nope"`, "existing profiles: broken, it, other")
		r = in.run(t, "run", "--profile", "broken", "--", "echo", "RAN")
		mustExit(t, r, 125)
		mustContain(t, r, "broken.json", "network", `"lan"`)
		r = in.run(t, "run", "--profile", "../etc/passwd", "--", "echo", "RAN")
		mustExit(t, r, 125)
		mustContain(t, r, "bad profile name")
		for _, r := range []result{r} {
			mustNotContain(t, r, "RAN\n")
		}
		assertNothingLeft(t, testUser)
	})
}
