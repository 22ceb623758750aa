package launch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MCPCredentialKey is the key under which Claude Code keeps an MCP
// server's OAuth tokens in its credentials file (mcpOAuth): "NAME|HASH",
// HASH the first 16 hex digits of the SHA-256 of
// JSON.stringify({type, url, headers: headers || {}}) of the server's
// entry, as Claude Code 2.1 computes it. Two servers of one name (the
// user's, another project's) have different keys. ok is false when the
// key cannot be computed with certainty (a value that is not a string,
// a header name JavaScript would reorder, a ${VAR} Claude Code would
// expand first): no token is then carried for that server.
func MCPCredentialKey(name string, config json.RawMessage) (key string, ok bool) {
	var entry map[string]json.RawMessage
	if json.Unmarshal(config, &entry) != nil || entry == nil {
		return "", false
	}
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, k := range []string{"type", "url"} {
		raw, present := entry[k]
		if !present {
			continue // undefined: JSON.stringify leaves it out
		}
		v, ok := jsValue(raw)
		if !ok {
			return "", false
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(jsString(k) + ":" + v)
	}
	headers, ok := jsHeaders(entry["headers"])
	if !ok {
		return "", false
	}
	if !first {
		b.WriteByte(',')
	}
	b.WriteString(`"headers":` + headers + "}")
	sum := sha256.Sum256([]byte(b.String()))
	return name + "|" + hex.EncodeToString(sum[:])[:16], true
}

// jsValue is a type or url as JSON.stringify writes it: a string or null.
func jsValue(raw json.RawMessage) (string, bool) {
	if string(bytes.TrimSpace(raw)) == "null" {
		return "null", true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || !utf8.ValidString(s) || strings.Contains(s, "${") {
		return "", false
	}
	return jsString(s), true
}

// jsHeaders is headers || {} as JSON.stringify writes it: the names in
// the order written, each value a string. An absent or falsy value is
// {}.
func jsHeaders(raw json.RawMessage) (string, bool) {
	switch t := string(bytes.TrimSpace(raw)); t {
	case "", "null", "false", "0", `""`:
		return "{}", true
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	var b strings.Builder
	b.WriteByte('{')
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		k, _ := tok.(string)
		if seen[k] || isArrayIndex(k) || !utf8.ValidString(k) {
			return "", false // JavaScript would keep it elsewhere
		}
		seen[k] = true
		var v string
		if err := dec.Decode(&v); err != nil || !utf8.ValidString(v) || strings.Contains(v, "${") {
			return "", false
		}
		if len(seen) > 1 {
			b.WriteByte(',')
		}
		b.WriteString(jsString(k) + ":" + jsString(v))
	}
	b.WriteByte('}')
	return b.String(), true
}

// isArrayIndex reports whether JavaScript orders k as an integer key
// (before the others).
func isArrayIndex(k string) bool {
	if k == "" || len(k) > 10 || k != "0" && k[0] == '0' {
		return false
	}
	var n uint64
	for _, c := range k {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + uint64(c-'0')
	}
	return n < 1<<32-1
}

// jsString quotes s as JSON.stringify does: only '"', '\\' and the
// control characters escaped, the short forms where there are.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
