package state

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/claudebox/claudebox/launch"
)

// netLogDir is where an instance keeps the allowlist tier's logs, one a
// session; netLogsKept of them.
const (
	netLogDir   = "netlog"
	netLogsKept = 10
)

// NewNetLog returns the path of a new session's network log in inst
// (the file is the caller's to create), removing the oldest beyond
// netLogsKept.
func NewNetLog(inst *launch.Instance) (string, error) { return newSessionLog(inst, netLogDir) }

// LastNetLog is the newest network log of inst; "" when it has none.
func LastNetLog(inst *launch.Instance) string { return lastSessionLog(inst, netLogDir) }

// newSessionLog returns the path of a new session's log in inst's
// directory dir, removing the oldest beyond netLogsKept.
func newSessionLog(inst *launch.Instance, dir string) (string, error) {
	dir = filepath.Join(inst.Dir, dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	logs := netLogs(dir)
	for len(logs) >= netLogsKept {
		os.Remove(filepath.Join(dir, logs[0]))
		logs = logs[1:]
	}
	return filepath.Join(dir, fmt.Sprintf("%020d-%d.jsonl", time.Now().UnixNano(), os.Getpid())), nil
}

// lastSessionLog is the newest log in inst's directory dir; "" for none.
func lastSessionLog(inst *launch.Instance, dir string) string {
	dir = filepath.Join(inst.Dir, dir)
	logs := netLogs(dir)
	if len(logs) == 0 {
		return ""
	}
	return filepath.Join(dir, logs[len(logs)-1])
}

// netLogs are the logs in dir, oldest first.
func netLogs(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".jsonl") {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}
