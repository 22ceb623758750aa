package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLsEscapesControlCharacters: a project path (and an instance name)
// with a newline, a carriage return and an escape sequence in it stays on
// its own row of `claudebox ls`, escaped, and reaches the terminal with
// no control character at all.
func TestLsEscapesControlCharacters(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	dir := filepath.Join(home, stateDirName, "instances", "evil\rid")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	meta := `{"version":1,"project":"/tmp/a\nFAKE ROW\u001b[2J\u202e","created":"2026-01-01T00:00:00Z","lastUsed":"2026-01-01T00:00:00Z"}`
	for name, content := range map[string]string{"meta.json": meta, "lock": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := newLsCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a header and one row, got %d lines:\n%s", len(lines), got)
	}
	for _, want := range []string{`/tmp/a\nFAKE ROW\x1b[2J\u202e`, `evil\rid`, "project missing"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	if strings.ContainsAny(got, "\r\x1b\u202e") {
		t.Errorf("a control character reached the output: %q", got)
	}
}
