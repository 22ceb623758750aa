package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A log larger than what is read (written before logs were capped, or
// flooded) still shows its first decisions, and says it was cut.
func TestReadLogFileHead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	first := `{"event":"credential","host":"other.test","verdict":"refused"}` + "\n"
	flood := `{"event":"credential","host":"` + strings.Repeat("h", 1000) + `","verdict":"refused"}` + "\n"
	if err := os.WriteFile(path, []byte(first+strings.Repeat(flood, 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	var warn bytes.Buffer
	entries, err := readLogFile(path, 10<<10, &warn)
	if err != nil || len(entries) < 2 || len(entries) > 10 || entries[0]["host"] != "other.test" {
		t.Fatalf("%d entries (%v), %v", len(entries), entries[:min(1, len(entries))], err)
	}
	if !strings.Contains(warn.String(), "showing what its first 10 KiB hold") {
		t.Errorf("no warning: %q", warn.String())
	}
	// Control: read whole, all of it and no warning.
	warn.Reset()
	if entries, err = readLogFile(path, 1<<20, &warn); err != nil || len(entries) != 101 || warn.Len() != 0 {
		t.Fatalf("whole: %d entries, %v, %q", len(entries), err, warn.String())
	}
}
