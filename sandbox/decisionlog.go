package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// maxDecisionLog caps a session's decision log (the ssh-agent proxy's and
// the git credential server's, one file), in bytes: a sandbox that asks
// without end fills no disk, and claudebox agent-log reads the whole log.
const maxDecisionLog = 8 << 20

// decisionLog is the one writer of a session's decision log, shared by the
// forwarders: whole lines, one at a time, up to max bytes. Past it the
// lines are counted, not written: one line says the log is full, and
// close adds one that counts what was dropped.
type decisionLog struct {
	mu      sync.Mutex
	w       io.Writer
	max     int64 // bytes, the two closing lines included
	n       int64
	dropped int
}

// logReserve is the room kept for the two lines that close a full log.
const logReserve = 512

func (l *decisionLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped > 0 || l.n+int64(len(p)) > l.max-logReserve {
		if l.dropped == 0 {
			l.note(fmt.Sprintf("log full at %d bytes: later decisions are not logged", l.n))
		}
		l.dropped++
		return len(p), nil
	}
	n, err := l.w.Write(p)
	l.n += int64(n)
	return n, err
}

// close writes the count of the lines dropped, if any.
func (l *decisionLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped > 0 {
		l.note(fmt.Sprintf("log full: %d later decisions were not logged", l.dropped))
	}
}

// note writes one line of the log's own, in the decisions' shape.
func (l *decisionLog) note(reason string) {
	b, err := json.Marshal(map[string]string{"time": time.Now().UTC().Format(time.RFC3339Nano), "event": "log", "verdict": "refused", "reason": reason})
	if err != nil {
		return
	}
	n, _ := l.w.Write(append(b, '\n'))
	l.n += int64(n)
}
