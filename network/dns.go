package network

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// The relay's DNS: what the sandbox asks is parsed, and a new query is
// built from what was parsed (a fresh ID, the one question, no options)
// and sent to the host's resolvers; the answer is re-addressed to the
// client. No byte of the client's message goes out as it came. The
// allowlist tier's stub adds the list: a name that is not a host name, or
// not listed, is answered NXDOMAIN and asked nobody.

// ednsSize is the UDP payload size the relay offers its upstreams (the
// DNS flag day 2020 value).
const ednsSize = 1232

// dnsQuery is a client's query as the relay read it.
type dnsQuery struct {
	id       uint16
	rd       bool
	q        dnsmessage.Question
	edns     bool
	udpLimit int // the largest UDP answer the client takes
}

// parseQuery reads a client's query: a standard query (opcode 0) with one
// question, no answers, no authorities, and at most an EDNS OPT record
// besides.
func parseQuery(b []byte) (dnsQuery, error) {
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil {
		return dnsQuery{}, err
	}
	if h.Response || h.OpCode != 0 {
		return dnsQuery{}, errors.New("not a standard query")
	}
	qs, err := p.AllQuestions()
	if err != nil {
		return dnsQuery{}, err
	}
	if len(qs) != 1 {
		return dnsQuery{}, fmt.Errorf("%d questions", len(qs))
	}
	q := dnsQuery{id: h.ID, rd: h.RecursionDesired, q: qs[0], udpLimit: 512}
	if err := p.SkipAllAnswers(); err != nil {
		return q, err
	}
	if err := p.SkipAllAuthorities(); err != nil {
		return q, err
	}
	for {
		rh, err := p.AdditionalHeader()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			return q, err
		}
		if rh.Type == dnsmessage.TypeOPT {
			q.edns = true
			q.udpLimit = max(512, int(rh.Class))
		}
		if err := p.SkipAdditional(); err != nil {
			return q, err
		}
	}
	return q, nil
}

// upstreamQuery is the query the relay sends for name (in the form the
// relay checked it, "." ended), of the client's type and class.
func upstreamQuery(id uint16, name string, typ dnsmessage.Type, class dnsmessage.Class) ([]byte, error) {
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: n, Type: typ, Class: class}); err != nil {
		return nil, err
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	var rh dnsmessage.ResourceHeader
	if err := rh.SetEDNS0(ednsSize, dnsmessage.RCodeSuccess, false); err != nil {
		return nil, err
	}
	if err := b.OPTResource(rh, dnsmessage.OPTResource{}); err != nil {
		return nil, err
	}
	return b.Finish()
}

// answers reports whether resp is the upstream's response to the query
// with id, for name (case aside), typ and class.
func answers(resp []byte, id uint16, name string, typ dnsmessage.Type, class dnsmessage.Class) bool {
	var p dnsmessage.Parser
	h, err := p.Start(resp)
	if err != nil || !h.Response || h.ID != id {
		return false
	}
	qs, err := p.AllQuestions()
	return err == nil && len(qs) == 1 && strings.EqualFold(qs[0].Name.String(), name) && qs[0].Type == typ && qs[0].Class == class
}

// reply re-addresses the upstream's response to the client: its ID, its
// question as it asked it, an OPT record only if it sent one, and
// truncated (TC, no records) when over what the client takes over UDP.
func (q dnsQuery) reply(resp []byte, tcp bool) []byte {
	var m dnsmessage.Message
	if err := m.Unpack(resp); err != nil {
		return q.fail(dnsmessage.RCodeServerFailure)
	}
	m.ID, m.RecursionDesired, m.Questions = q.id, q.rd, []dnsmessage.Question{q.q}
	var opt []dnsmessage.Resource
	extra := m.Additionals[:0]
	for _, r := range m.Additionals {
		if r.Header.Type == dnsmessage.TypeOPT {
			opt = append(opt[:0], r)
		} else {
			extra = append(extra, r)
		}
	}
	if !q.edns {
		opt = nil
	}
	m.Additionals = append(extra, opt...)
	out, err := m.Pack()
	if err != nil {
		return q.fail(dnsmessage.RCodeServerFailure)
	}
	if !tcp && len(out) > q.udpLimit {
		m.Truncated, m.Answers, m.Authorities, m.Additionals = true, nil, nil, opt
		if out, err = m.Pack(); err != nil {
			return q.fail(dnsmessage.RCodeServerFailure)
		}
	}
	return out
}

// fail is an answer with rcode and no records (NXDOMAIN for a name not
// on the list).
func (q dnsQuery) fail(rcode dnsmessage.RCode) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: q.id, Response: true, RecursionDesired: q.rd,
		RecursionAvailable: true, RCode: rcode})
	_ = b.StartQuestions()
	_ = b.Question(q.q)
	out, _ := b.Finish()
	return out
}

// askFunc sends a query the relay built to the host's resolvers and
// returns the first response that answers it (nil for none); over TCP
// when tcp.
type askFunc func(ctx context.Context, query []byte, ok func([]byte) bool, tcp bool) []byte

// stub answers one query from the sandbox (nil: drop it). With a list
// (the allowlist tier), a name that is not a host name or not listed is
// answered NXDOMAIN and logged, and nobody is asked; a listed one is
// asked for, and the addresses given out are recorded. Without (inet),
// every query is asked for.
func stub(ctx context.Context, l *allowlist, b []byte, tcp bool, ask askFunc) []byte {
	q, err := parseQuery(b)
	if err != nil {
		return nil
	}
	name := q.q.Name.String()
	if l != nil {
		n, err := hostName(name)
		switch {
		case err != nil:
			l.log.add(logEntry{Kind: "dns", Name: name, Verdict: "refused", Reason: "not a host name: the name " + err.Error()})
			return q.fail(dnsmessage.RCodeNameError)
		case !l.listed(n):
			l.log.add(logEntry{Kind: "dns", Name: n, Verdict: "refused", Reason: "not on the list"})
			return q.fail(dnsmessage.RCodeNameError)
		}
		name = n + "."
	}
	id := uint16(rand.Uint32())
	up, err := upstreamQuery(id, name, q.q.Type, q.q.Class)
	if err != nil {
		return q.fail(dnsmessage.RCodeFormatError)
	}
	resp := ask(ctx, up, func(r []byte) bool { return answers(r, id, name, q.q.Type, q.q.Class) }, tcp)
	if resp == nil {
		return q.fail(dnsmessage.RCodeServerFailure)
	}
	if l != nil {
		n := strings.TrimSuffix(name, ".")
		var addrs []string
		_ = eachA(resp, func(a netip.Addr, ttl uint32) {
			addrs = append(addrs, a.String())
			l.answered.record(a, n, time.Duration(ttl)*time.Second)
		})
		l.log.add(logEntry{Kind: "dns", Name: n, Verdict: "answered", Addr: strings.Join(addrs, ",")})
	}
	return q.reply(resp, tcp)
}

// eachA calls f for each A record of a DNS response, with its TTL.
func eachA(resp []byte, f func(netip.Addr, uint32)) error {
	var p dnsmessage.Parser
	if _, err := p.Start(resp); err != nil {
		return err
	}
	if err := p.SkipAllQuestions(); err != nil {
		return err
	}
	for {
		h, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Type != dnsmessage.TypeA {
			if err := p.SkipAnswer(); err != nil {
				return err
			}
			continue
		}
		r, err := p.AResource()
		if err != nil {
			return err
		}
		f(netip.AddrFrom4(r.A), h.TTL)
	}
}

// lookupA resolves a listed name (as hostName returned it) to its IPv4
// addresses by asking the host's resolvers a question the relay builds:
// the name cannot be read as an address on the way.
func lookupA(ctx context.Context, ask askFunc, name string) ([]netip.Addr, error) {
	fqdn := name + "."
	for _, tcp := range []bool{false, true} {
		id := uint16(rand.Uint32())
		q, err := upstreamQuery(id, fqdn, dnsmessage.TypeA, dnsmessage.ClassINET)
		if err != nil {
			return nil, err
		}
		resp := ask(ctx, q, func(r []byte) bool { return answers(r, id, fqdn, dnsmessage.TypeA, dnsmessage.ClassINET) }, tcp)
		if resp == nil {
			return nil, errors.New("no resolver answered")
		}
		var p dnsmessage.Parser
		h, err := p.Start(resp)
		if err != nil {
			return nil, err
		}
		if h.Truncated && !tcp {
			continue // too long for UDP: ask again over TCP
		}
		if h.RCode != dnsmessage.RCodeSuccess {
			return nil, fmt.Errorf("the resolver answered %v", h.RCode)
		}
		var addrs []netip.Addr
		err = eachA(resp, func(a netip.Addr, _ uint32) { addrs = append(addrs, a) })
		return addrs, err
	}
	return nil, errors.New("truncated over TCP")
}

// ask is the relay's askFunc: the host's resolvers in turn, each within
// what is left of ctx (cancelled when the relay goes down).
func (d *relayDriver) ask(ctx context.Context, query []byte, ok func([]byte) bool, tcp bool) []byte {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, up := range d.upstreams {
		if resp := askOne(ctx, up, query, ok, tcp); resp != nil {
			return resp
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// askOne sends query to one resolver and reads until a response that ok
// accepts, the connection's end or ctx's.
func askOne(ctx context.Context, up string, query []byte, ok func([]byte) bool, tcp bool) []byte {
	network := "udp"
	if tcp {
		network = "tcp"
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, up)
	if err != nil {
		return nil
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(deadline)
	}
	if tcp {
		query = append(binary.BigEndian.AppendUint16(nil, uint16(len(query))), query...)
	}
	if _, err := c.Write(query); err != nil {
		return nil
	}
	buf := make([]byte, 65535)
	for range 8 { // a few strays at most
		var n int
		if tcp {
			var l [2]byte
			if _, err := io.ReadFull(c, l[:]); err != nil {
				return nil
			}
			n, err = io.ReadFull(c, buf[:binary.BigEndian.Uint16(l[:])])
		} else {
			n, err = c.Read(buf)
		}
		if err != nil {
			return nil
		}
		if ok(buf[:n]) {
			return append([]byte(nil), buf[:n]...)
		}
	}
	return nil
}
