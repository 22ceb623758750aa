package network

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Plaintext HTTP in the allowlist tier: every request on a connection
// names the connection's host, or the relay closes the connection. The
// relay reads the client's side request by request: the head (strictly:
// CRLF lines, one Host, no folding, no Upgrade, no CONNECT), then the
// body by its framing (Content-Length or chunked, never both), so that it
// knows where the next request starts exactly as a server does; anything
// it cannot frame without doubt is refused. The server's side is not
// looked at.

// httpHead is what the relay needs of a request head.
type httpHead struct {
	name    string // the host named (Host, and the absolute-form target's)
	raw     string // what the Host header said, for the log
	length  int64  // Content-Length; 0 for none
	chunked bool   // Transfer-Encoding: chunked
}

// parseHead reads a request head, its final empty line included, whose
// lines hold no bare LF or CR (crlfOnly).
func parseHead(head []byte) (httpHead, error) {
	var h httpHead
	lines := strings.Split(strings.TrimSuffix(string(head), "\r\n\r\n"), "\r\n")
	parts := strings.Split(lines[0], " ")
	if len(parts) != 3 {
		return h, errors.New("not a well-formed HTTP request line")
	}
	method, target, version := parts[0], parts[1], parts[2]
	switch {
	case method == "PRI" && version == "HTTP/2.0":
		return h, errors.New("an HTTP/2 prior-knowledge (h2c) preface: HTTP/2 without TLS is refused")
	case version != "HTTP/1.1" && version != "HTTP/1.0":
		return h, fmt.Errorf("HTTP version %q", clip(version))
	case method == "CONNECT":
		return h, errors.New("an HTTP CONNECT (a tunnel) is refused")
	case !isMethod(method):
		return h, fmt.Errorf("the method %q", clip(method))
	}
	for _, c := range []byte(target) {
		if c <= ' ' || c >= 0x7f {
			return h, errors.New("a request target with a control or non-ASCII byte")
		}
	}
	targetHost := ""
	switch {
	case strings.HasPrefix(target, "/"), target == "*" && method == "OPTIONS":
	case len(target) > 7 && strings.EqualFold(target[:7], "http://"):
		authority := target[7:]
		if i := strings.IndexAny(authority, "/?#"); i >= 0 {
			authority = authority[:i]
		}
		targetHost = stripPort(authority)
		if targetHost == "" {
			return h, errors.New("an absolute-form request target without a host")
		}
	default:
		return h, fmt.Errorf("the request target %q is in no form this relay passes", clip(target))
	}
	hosts, lengths, encodings := 0, 0, 0
	for _, line := range lines[1:] {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			return h, errors.New("a folded or empty header line")
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.Trim(k, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return h, fmt.Errorf("the header line %q", clip(line))
		}
		v = strings.Trim(v, " \t")
		for _, c := range []byte(v) {
			if c < ' ' && c != '\t' || c == 0x7f {
				return h, fmt.Errorf("a control byte in the header %s", clip(k))
			}
		}
		switch strings.ToLower(k) {
		case "host":
			hosts++
			h.raw = v
		case "content-length":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || strings.Trim(v, "0123456789") != "" || lengths > 0 && n != h.length {
				return h, fmt.Errorf("the Content-Length %q", clip(v))
			}
			lengths++
			h.length = n
		case "transfer-encoding":
			encodings++
			if !strings.EqualFold(v, "chunked") || encodings > 1 {
				return h, fmt.Errorf("the Transfer-Encoding %q (only chunked, once)", clip(v))
			}
			h.chunked = true
		case "upgrade":
			return h, errors.New("an HTTP Upgrade (h2c, WebSocket) without TLS is refused")
		}
	}
	switch {
	case hosts != 1:
		return h, fmt.Errorf("%d Host headers, not one", hosts)
	case h.chunked && lengths > 0:
		return h, errors.New("both Content-Length and Transfer-Encoding")
	case h.chunked && version == "HTTP/1.0":
		return h, errors.New("Transfer-Encoding in HTTP/1.0")
	}
	name, reason := checked("the Host", stripPort(h.raw))
	if reason != "" {
		return h, errors.New(reason)
	}
	h.name = name
	if targetHost != "" {
		t, reason := checked("the request target's host", targetHost)
		if reason != "" {
			return h, errors.New(reason)
		}
		if t != name {
			return h, fmt.Errorf("the request target names %s, the Host header %s", t, name)
		}
	}
	return h, nil
}

// stripPort takes a :PORT (digits) off host; what is left is for
// hostName to judge, brackets and colons included.
func stripPort(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && i+1 < len(host) && strings.Trim(host[i+1:], "0123456789") == "" {
		return host[:i]
	}
	return host
}

// guardHTTP passes a plaintext HTTP client's requests from r to out,
// each whole (head, then body by its framing), as long as each names
// name; it returns at the client's end between requests (""), or with the
// reason it stopped passing. reading(true) is called when a request's
// first byte has come and its head is to be read (false: stop, the relay
// is going down), reading(false) when it has been: the relay bounds how
// many heads it reads at once, and how long each may take.
func guardHTTP(r *bufio.Reader, out io.Writer, name string, reading func(bool) bool) string {
	for n := 0; ; n++ {
		if _, err := r.Peek(1); err != nil {
			if err == io.EOF {
				return ""
			}
			return "not a well-formed HTTP request: " + err.Error()
		}
		if !reading(true) {
			return ""
		}
		head, err := readHead(r)
		reading(false)
		if err == io.EOF {
			return ""
		}
		if err != nil {
			return "not a well-formed HTTP request: " + err.Error()
		}
		h, err := parseHead(head)
		switch {
		case err != nil:
			return "request " + strconv.Itoa(n+1) + " on the connection: " + err.Error()
		case h.name != name:
			return fmt.Sprintf("request %d on the connection names %s, not %s", n+1, h.name, name)
		}
		if _, err := out.Write(head); err != nil {
			return ""
		}
		switch {
		case h.chunked:
			if err := copyChunked(out, r); err != nil {
				return "request " + strconv.Itoa(n+1) + "'s chunked body: " + err.Error()
			}
		case h.length > 0:
			if _, err := io.CopyN(out, r, h.length); err != nil {
				return ""
			}
		}
	}
}

// readHead reads one request head, lines ending in CRLF and nothing else,
// maxHead at most; io.EOF when the client ends before one starts. Empty
// lines before a request line are skipped (RFC 9112 2.2), a few at most.
func readHead(r *bufio.Reader) ([]byte, error) {
	var head []byte
	for skipped := 0; ; {
		line, err := readLine(r, maxHead-len(head))
		if err == io.EOF && len(head) == 0 {
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		if len(head) == 0 && len(line) == 2 {
			if skipped++; skipped > 4 {
				return nil, errors.New("empty lines instead of a request")
			}
			continue
		}
		head = append(head, line...)
		if len(line) == 2 {
			return head, nil
		}
	}
}

// readLine reads a line ending in CRLF, with no other CR or LF in it, of
// at most limit bytes.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		b, err := r.ReadSlice('\n')
		line = append(line, b...)
		if len(line) > limit {
			return nil, fmt.Errorf("a line or head over %d KiB", maxHead>>10)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if err := crlfOnly(line, -1); err != nil || !bytes.HasSuffix(line, []byte("\r\n")) {
			return nil, errors.New("a bare LF or CR in a line (lines end in CRLF)")
		}
		return line, nil
	}
}

// copyChunked passes a chunked body (RFC 9112 7.1) from r to out: each
// chunk's size line, its data and CRLF, then the trailer lines to the
// empty one.
func copyChunked(out io.Writer, r *bufio.Reader) error {
	for {
		line, err := readLine(r, 4096)
		if err != nil {
			return err
		}
		size, _, _ := strings.Cut(strings.TrimSuffix(string(line), "\r\n"), ";")
		n, err := strconv.ParseInt(size, 16, 64)
		if err != nil || n < 0 || size == "" || strings.Trim(strings.ToLower(size), "0123456789abcdef") != "" || len(size) > 15 {
			return fmt.Errorf("the chunk size %q", clip(size))
		}
		if _, err := out.Write(line); err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if _, err := io.CopyN(out, r, n); err != nil {
			return err
		}
		end, err := readLine(r, 2)
		if err != nil || len(end) != 2 {
			return errors.New("a chunk not followed by CRLF")
		}
		if _, err := out.Write(end); err != nil {
			return err
		}
	}
	for total := 0; ; {
		line, err := readLine(r, maxHead-total)
		if err != nil {
			return err
		}
		total += len(line)
		if _, err := out.Write(line); err != nil {
			return err
		}
		if len(line) == 2 {
			return nil
		}
	}
}
