// Package gitcred answers git's credential requests from a sandbox
// (--git-credential HOST) by asking the host's own credential helpers,
// for the named hosts only.
//
// Inside, git's credential.helper is the claudebox binary (HelperMain),
// which passes a "get" to the launcher over a unix socket; "store" and
// "erase" go nowhere. The launcher (Server) answers a get for https and a
// named host by running the host's `git credential fill` with the
// protocol, the host and the user name only, from a directory of its own
// (no repository's config is read), with no terminal (no prompt), and
// passes back the user name and password; any other request gets
// nothing. Each decision is logged.
package gitcred

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/claudebox/claudebox/internal/sockserve"
)

// Limits: a request's size, how long a client may take to send it, how
// long the host's helpers may take (one may unlock a keyring), and
// connections at once.
const (
	maxRequest  = 64 << 10
	readTimeout = 10 * time.Second
	fillTimeout = 60 * time.Second
	maxConns    = 8
)

// Options are a Server's.
type Options struct {
	// Socket is where it listens: a path in a directory only the user can
	// enter; made here, removed by Close.
	Socket string
	// Hosts are the hosts answered, as git names them (host, or
	// host:port off 443).
	Hosts []string
	// Git is the host's git; Dir the directory it runs in, which no
	// repository holds; Env its environment.
	Git, Dir string
	Env      []string
	// Log receives the decisions, one JSON object a line (nil: none).
	Log io.Writer
}

// Server answers the sandbox's credential requests.
type Server struct {
	o     Options
	srv   *sockserve.Server
	logMu sync.Mutex
	ctx   context.Context
	stop  context.CancelFunc
}

// Listen starts serving o.Socket.
func Listen(o Options) (*Server, error) {
	s := &Server{o: o}
	s.ctx, s.stop = context.WithCancel(context.Background())
	var err error
	if s.srv, err = sockserve.Listen(o.Socket, maxConns, s.serve); err != nil {
		s.stop()
		return nil, fmt.Errorf("git credential socket: %w", err)
	}
	return s, nil
}

// Close stops the server: the socket is removed, a helper still running
// is killed.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.stop()
	return s.srv.Close()
}

// Decision is one request, as logged (the ssh-agent log's shape).
type Decision struct {
	Time    time.Time `json:"time"`
	Event   string    `json:"event"` // "credential"
	Kind    string    `json:"kind,omitempty"`
	Host    string    `json:"host,omitempty"`
	Verdict string    `json:"verdict"` // "allowed" or "refused"
	Reason  string    `json:"reason,omitempty"`
}

func (s *Server) log(d Decision) {
	if s.o.Log == nil {
		return
	}
	d.Time, d.Event = time.Now().UTC(), "credential"
	b, err := json.Marshal(d)
	if err != nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	_, _ = s.o.Log.Write(append(b, '\n'))
}

func (s *Server) serve(c *net.UnixConn) {
	_ = c.SetDeadline(time.Now().Add(readTimeout))
	req, err := io.ReadAll(io.LimitReader(c, maxRequest+1))
	if err != nil || len(req) > maxRequest {
		s.log(Decision{Verdict: "refused", Reason: "request too large or not sent"})
		return
	}
	d, answer := s.decide(req)
	s.log(d)
	if answer != nil {
		_ = c.SetDeadline(time.Now().Add(readTimeout))
		_, _ = c.Write(answer)
	}
}

// decide answers one request: the credential lines for the sandbox, nil
// for nothing.
func (s *Server) decide(req []byte) (Decision, []byte) {
	f, err := Parse(req)
	if err != nil {
		return Decision{Verdict: "refused", Reason: err.Error()}, nil
	}
	d := Decision{Kind: f["protocol"], Host: f["host"], Verdict: "refused"}
	switch {
	case f["protocol"] != "https":
		d.Reason = "only https is answered"
		return d, nil
	case !slices.Contains(s.o.Hosts, f["host"]):
		d.Reason = "not a host named with --git-credential"
		return d, nil
	}
	out, err := s.fill(f["host"], f["username"])
	if err != nil {
		d.Reason = "your credential helpers: " + err.Error()
		return d, nil
	}
	d.Verdict, d.Reason = "allowed", "your credential helpers' login for "+out["username"]
	return d, Format(map[string]string{"username": out["username"], "password": out["password"]})
}

// fill asks the host's helpers, through git credential fill, for host's
// login.
func (s *Server) fill(host, user string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, fillTimeout)
	defer cancel()
	in := map[string]string{"protocol": "https", "host": host}
	if user != "" {
		in["username"] = user
	}
	cmd := exec.CommandContext(ctx, s.o.Git, "credential", "fill")
	cmd.Dir, cmd.Env = s.o.Dir, s.o.Env
	cmd.Stdin = bytes.NewReader(Format(in))
	// No terminal: a helper that would ask cannot.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return nil, fmt.Errorf("%w: %s", err, msg)
	}
	f, err := Parse(out)
	if err != nil {
		return nil, err
	}
	if f["username"] == "" || f["password"] == "" {
		return nil, errors.New("no login")
	}
	return f, nil
}

// Parse reads git's credential format: key=value lines (git-credential(1)).
// A key is lower case letters, digits, _ and []; a value holds no NUL and
// no carriage return. A blank line ends it.
func Parse(b []byte) (map[string]string, error) {
	f := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxRequest)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789_[]") != "" || strings.ContainsAny(v, "\x00\r") {
			return nil, errors.New("not git's credential format")
		}
		f[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

// Format writes fields in git's credential format, keys sorted.
func Format(f map[string]string) []byte {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(k + "=" + f[k] + "\n")
	}
	return b.Bytes()
}

// HelperMain is git's credential helper inside the sandbox: args are the
// launcher's socket and git's operation. A get is passed on and the answer
// printed; anything else (store, erase) is read and dropped. It always
// exits 0: git then asks its next helper, or the user.
func HelperMain(args []string) int {
	req, _ := io.ReadAll(io.LimitReader(os.Stdin, maxRequest))
	if len(args) != 2 || args[1] != "get" {
		return 0
	}
	c, err := net.DialTimeout("unix", args[0], 5*time.Second)
	if err != nil {
		return 0
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(fillTimeout + readTimeout))
	if _, err := c.Write(req); err != nil {
		return 0
	}
	_ = c.(*net.UnixConn).CloseWrite()
	answer, _ := io.ReadAll(io.LimitReader(c, maxRequest))
	if _, err := Parse(answer); err == nil {
		_, _ = os.Stdout.Write(answer)
	}
	return 0
}
