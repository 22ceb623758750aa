package network

import (
	"container/list"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Bounds of the answered table: what a sandbox can make the launcher
// hold by asking for many names under a wildcard.
const (
	answeredMax      = 4096             // addresses, least recently used dropped first
	answeredNamesMax = 8                // names kept for one address, oldest dropped first
	answeredTTLMin   = 5 * time.Minute  // clients keep answers longer than their TTL
	answeredTTLMax   = 60 * time.Minute // and an address does not stay a name's forever
)

// answeredTable is what the allowlist's stub gave out: for each address,
// the listed names it was an answer for, until the answer expires. Only a
// nameless rule (launch.HostRule.Nameless) consults it.
type answeredTable struct {
	mu  sync.Mutex
	m   map[netip.Addr]*list.Element // of *answer
	lru list.List                    // most recently used first
	now func() time.Time             // time.Now, but for tests
}

type answer struct {
	addr    netip.Addr
	names   []string
	expires time.Time
}

func newAnsweredTable() *answeredTable {
	return &answeredTable{m: map[netip.Addr]*list.Element{}, now: time.Now}
}

// record notes that the stub gave a out for name, with the answer's ttl.
func (t *answeredTable) record(a netip.Addr, name string, ttl time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	expires := t.now().Add(min(max(ttl, answeredTTLMin), answeredTTLMax))
	if e, ok := t.m[a]; ok {
		an := e.Value.(*answer)
		if an.expires.Before(t.now()) {
			an.names = nil
		}
		an.names = slices.DeleteFunc(an.names, func(n string) bool { return n == name })
		if len(an.names) >= answeredNamesMax {
			an.names = an.names[1:]
		}
		an.names = append(an.names, name)
		if expires.After(an.expires) {
			an.expires = expires
		}
		t.lru.MoveToFront(e)
		return
	}
	for len(t.m) >= answeredMax {
		oldest := t.lru.Back()
		delete(t.m, oldest.Value.(*answer).addr)
		t.lru.Remove(oldest)
	}
	t.m[a] = t.lru.PushFront(&answer{addr: a, names: []string{name}, expires: expires})
}

// names are the names a was given out for, unexpired.
func (t *answeredTable) names(a netip.Addr) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[a]
	if !ok {
		return nil
	}
	an := e.Value.(*answer)
	if an.expires.Before(t.now()) {
		delete(t.m, a)
		t.lru.Remove(e)
		return nil
	}
	t.lru.MoveToFront(e)
	return slices.Clone(an.names)
}

// len is how many addresses the table holds.
func (t *answeredTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
