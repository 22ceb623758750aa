package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// A flood of decisions stays under the log's cap; the decisions before
// it are all there, and the log says how many were dropped.
func TestDecisionLogCapped(t *testing.T) {
	var b bytes.Buffer
	l := &decisionLog{w: &b, max: 64 << 10}
	line := func(i int) []byte {
		return fmt.Appendf(nil, `{"event":"credential","host":"%d.test","verdict":"refused","reason":"%s"}`+"\n", i, strings.Repeat("x", 900))
	}
	const sent = 1000
	for i := range sent {
		if n, err := l.Write(line(i)); err != nil || n != len(line(i)) {
			t.Fatalf("write %d: %d %v", i, n, err)
		}
	}
	l.close()
	if int64(b.Len()) > l.max {
		t.Fatalf("the log holds %d bytes, more than its cap of %d", b.Len(), l.max)
	}
	var kept int
	var notes []string
	sc := bufio.NewScanner(&b)
	for sc.Scan() {
		var e map[string]string
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		if e["event"] == "log" {
			notes = append(notes, e["reason"])
			continue
		}
		if e["host"] != fmt.Sprintf("%d.test", kept) {
			t.Fatalf("line %d is %s", kept, e["host"])
		}
		kept++
	}
	if kept < 50 || len(notes) != 2 || !strings.Contains(notes[1], fmt.Sprintf("%d later decisions", sent-kept)) {
		t.Fatalf("kept %d, notes %q", kept, notes)
	}
	// Control: under the cap nothing is dropped or noted.
	b.Reset()
	l = &decisionLog{w: &b, max: 64 << 10}
	l.Write(line(0))
	l.close()
	if !bytes.Equal(b.Bytes(), line(0)) {
		t.Fatalf("under the cap: %q", b.String())
	}
}
