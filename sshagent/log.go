package sshagent

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Decision is one thing the proxy decided, as logged: one JSON object a
// line.
type Decision struct {
	Time time.Time `json:"time"`
	// Event is "list", "bind", "sign" or "request" (anything else asked).
	Event string `json:"event"`
	// Kind is a signature's: "login" or "sshsig"; for "request", the
	// message asked for.
	Kind string `json:"kind,omitempty"`
	// Host is the named host a bind or a login is for; Namespace an
	// SSHSIG's.
	Host      string `json:"host,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// Key is the fingerprint of the key asked to sign, or of a bind's
	// host key.
	Key string `json:"key,omitempty"`
	// Verdict is "allowed" or "refused"; Reason says why refused, or
	// what was passed on.
	Verdict string `json:"verdict"`
	Reason  string `json:"reason,omitempty"`
}

// The verdicts.
const (
	Allowed = "allowed"
	Refused = "refused"
)

// maxLogged caps a session's log: a sandbox that asks without end fills
// no disk. Past it decisions are counted, not logged.
const maxLogged = 10000

// decisionLog writes a session's decisions and counts them for the
// summary. A nil writer logs nowhere but still counts.
type decisionLog struct {
	mu      sync.Mutex
	w       io.Writer
	n       int
	signed  map[string]int // "host" or "sshsig NAMESPACE" -> count
	refused int
}

func (l *decisionLog) add(d Decision) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d.Event == "sign" {
		if d.Verdict == Allowed {
			if l.signed == nil {
				l.signed = map[string]int{}
			}
			what := d.Host
			if d.Kind == KindSSHSIG {
				what = "sshsig " + d.Namespace
			}
			l.signed[what]++
		} else {
			l.refused++
		}
	}
	if l.w == nil || l.n > maxLogged {
		return
	}
	l.n++
	if l.n > maxLogged {
		d = Decision{Event: "log", Verdict: Refused, Reason: fmt.Sprintf("log full after %d decisions: later ones are not logged", maxLogged)}
	}
	if d.Time.IsZero() {
		d.Time = time.Now().UTC()
	}
	b, err := json.Marshal(d)
	if err != nil {
		return
	}
	_, _ = l.w.Write(append(b, '\n'))
}

// summary says what was signed and refused; "" when nothing was asked.
func (l *decisionLog) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for what, n := range l.signed {
		parts = append(parts, fmt.Sprintf("%d for %s", n, what))
	}
	sort.Strings(parts)
	var out []string
	if len(parts) > 0 {
		out = append(out, "signed "+strings.Join(parts, ", "))
	}
	if l.refused > 0 {
		out = append(out, fmt.Sprintf("refused %d signature(s) (claudebox agent-log shows why)", l.refused))
	}
	if len(out) == 0 {
		return ""
	}
	return "ssh-agent: " + strings.Join(out, "; ")
}
