package network

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/claudebox/claudebox/internal/printable"
)

// netLog is a session's record of the allowlist tier's decisions, one
// JSON object a line, bounded: each class of entry has its share of
// NetLogCap, and entries beyond it are counted, not written, so a flood of
// refused queries cannot push the allowed connections out (nor fill the
// disk). The counts are written as one "dropped" line a class at close.
type netLog struct {
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	flush   *time.Timer // pending flush of w; nil when none
	written map[string]int64
	dropped map[string]int64
	refused []string // for Summary, at most maxSummarized
	nRef    int
}

// NetLogCap is the most a session's log holds, in bytes (the dropped
// lines aside): the allowed connections' share, the DNS answers', and the
// refusals'.
const NetLogCap = 8 << 20

var logShare = map[string]int64{"allowed": 4 << 20, "answered": 1 << 20, "refused": 3 << 20}

// maxSummarized bounds the refusals kept for the exit summary.
const maxSummarized = 1000

type logEntry struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // "dns", "tcp"; "dropped" for a count of what was not logged
	Name    string    `json:"name,omitempty"`
	Addr    string    `json:"addr,omitempty"`
	Port    uint16    `json:"port,omitempty"`
	Verdict string    `json:"verdict"` // "answered", "allowed", "refused"
	Reason  string    `json:"reason,omitempty"`
	Bytes   int64     `json:"bytes,omitempty"`
	Count   int64     `json:"count,omitempty"` // entries dropped ("dropped")
}

// add records an entry (a nil log records nothing). A name as it came
// off the wire is kept at most maxLogged bytes long.
func (l *netLog) add(e logEntry) {
	if l == nil {
		return
	}
	e.Time = time.Now().UTC()
	e.Name = clip(e.Name)
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Verdict == "refused" {
		l.nRef++
		if len(l.refused) < maxSummarized {
			what := e.Name
			if what == "" {
				what = e.Addr
			}
			if e.Port != 0 {
				what = fmt.Sprintf("%s:%d", what, e.Port)
			}
			l.refused = append(l.refused, what)
		}
	}
	if l.w == nil {
		return
	}
	b, _ := json.Marshal(e)
	class := e.Verdict
	if l.written[class]+int64(len(b))+1 > logShare[class] {
		l.dropped[class]++
		return
	}
	l.written[class] += int64(len(b)) + 1
	_, _ = l.w.Write(append(b, '\n'))
	if l.flush == nil {
		l.flush = time.AfterFunc(time.Second, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.flush = nil
			if l.w != nil {
				_ = l.w.Flush()
			}
		})
	}
}

// Summary says what was refused, in one line; "" for nothing. Names are
// shown escaped (internal/printable) and clipped.
func (l *netLog) Summary() string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nRef == 0 {
		return ""
	}
	shown := slices.Compact(slices.Clone(l.refused))
	more := ""
	if len(shown) > 5 {
		more = ", ..."
		shown = shown[:5]
	}
	for i, s := range shown {
		shown[i] = printable.String(clip(s))
	}
	return fmt.Sprintf("%d refused in the allowlist tier: %s%s (claudebox net-log shows them all)", l.nRef, strings.Join(shown, ", "), more)
}

// openNetLog opens a session's log at path ("" for none).
func openNetLog(path string) (*netLog, error) {
	l := &netLog{written: map[string]int64{}, dropped: map[string]int64{}}
	if path == "" {
		return l, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("the network log: %w", err)
	}
	l.f, l.w = f, bufio.NewWriterSize(f, 64<<10)
	return l, nil
}

// close writes the dropped counts and closes the log's file.
func (l *netLog) close() {
	if l == nil || l.f == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.flush != nil {
		l.flush.Stop()
		l.flush = nil
	}
	for _, class := range []string{"allowed", "answered", "refused"} {
		if n := l.dropped[class]; n > 0 {
			b, _ := json.Marshal(logEntry{Time: time.Now().UTC(), Kind: "dropped", Verdict: class, Count: n,
				Reason: fmt.Sprintf("%d %s entries not logged: over the log's %d MiB share for them", n, class, logShare[class]>>20)})
			_, _ = l.w.Write(append(b, '\n'))
		}
	}
	_ = l.w.Flush()
	l.f.Close()
	l.f, l.w = nil, nil
}
