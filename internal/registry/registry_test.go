package registry

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestHeaderMatches: registry.h, which the C includes, says what this
// package says, entry for entry.
func TestHeaderMatches(t *testing.T) {
	b, err := os.ReadFile("registry.h")
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^#define (CLAUDEBOX_\w+) (\S+)`).FindAllStringSubmatch(string(b), -1) {
		h[m[1]] = m[2]
	}
	want := map[string]string{
		"CLAUDEBOX_EXIT_FAILURE":        strconv.Itoa(ExitFailure),
		"CLAUDEBOX_EXIT_CANNOT_RUN":     strconv.Itoa(ExitCannotRun),
		"CLAUDEBOX_EXIT_NOT_FOUND":      strconv.Itoa(ExitNotFound),
		"CLAUDEBOX_VERB_INIT":           strconv.Quote(Init),
		"CLAUDEBOX_VERB_PID1":           strconv.Quote(Pid1),
		"CLAUDEBOX_VERB_NS_HOLD":        strconv.Quote(NSHold),
		"CLAUDEBOX_VERB_USERNS_EXEC":    strconv.Quote(UsernsExec),
		"CLAUDEBOX_VERB_CNI":            strconv.Quote(CNI),
		"CLAUDEBOX_VERB_PROBE":          strconv.Quote(Probe),
		"CLAUDEBOX_VERB_NET_HOOK":       strconv.Quote(NetHook),
		"CLAUDEBOX_VERB_NET_KEEPER":     strconv.Quote(NetKeeper),
		"CLAUDEBOX_VERB_GIT_CREDENTIAL": strconv.Quote(GitCredential),
		"CLAUDEBOX_VERB_PUBLISH":        strconv.Quote(Publish),
		"CLAUDEBOX_ENV_USERNS":          strconv.Quote(EnvUserns),
		"CLAUDEBOX_ENV_RESOLV_CONF":     strconv.Quote(EnvResolvConf),
		"CLAUDEBOX_ENV_RELAY":           strconv.Quote(EnvRelay),
	}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("registry.h: %s is %q, registry.go says %s", k, h[k], v)
		}
	}
	for k := range h {
		if _, ok := want[k]; !ok && k != "CLAUDEBOX_REGISTRY_H" {
			t.Errorf("registry.h defines %s, which registry.go lacks", k)
		}
	}
}
