package review

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
)

// configEntry is one variable set in a git config file: its key as git
// compares it (section and name lower-case, subsection as written) and
// its value ("" with no "=": a boolean true).
type configEntry struct {
	Key, Value string
}

func (e configEntry) String() string { return e.Key + " = " + e.Value }

// parseGitConfig reads a git config file the way git does (sections,
// subsections, quoting, escapes, comments, continued lines). What it
// cannot read is an error: such a file is held, never guessed at.
func parseGitConfig(b []byte) ([]configEntry, error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	s := string(b)
	var out []configEntry
	section := ""
	line := 1
	i := 0
	fail := func(why string) error { return fmt.Errorf("line %d: %s", line, why) }
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#' || c == ';':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fail("a section header without ]")
			}
			hdr, err := parseSection(s[i+1 : i+end])
			if err != nil {
				return nil, fail(err.Error())
			}
			section = hdr
			i += end + 1
		case isAlpha(c):
			if section == "" {
				return nil, fail("a variable outside any section")
			}
			j := i
			for j < len(s) && (isAlpha(s[j]) || isDigit(s[j]) || s[j] == '-') {
				j++
			}
			name := strings.ToLower(s[i:j])
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			value := ""
			switch {
			case j >= len(s) || s[j] == '\n' || s[j] == '#' || s[j] == ';' || s[j] == '\r':
			case s[j] == '=':
				v, n, lines, err := parseValue(s[j+1:])
				if err != nil {
					return nil, fail(err.Error())
				}
				value, j, line = v, j+1+n, line+lines
			default:
				return nil, fail("a variable name followed by " + fmt.Sprintf("%q", s[j]))
			}
			out = append(out, configEntry{Key: section + "." + name, Value: value})
			i = j
		default:
			return nil, fail(fmt.Sprintf("unexpected %q", c))
		}
	}
	return out, nil
}

// parseSection reads a section header's inside: name, name "sub", or the
// old name.sub.
func parseSection(h string) (string, error) {
	h = strings.TrimSpace(h)
	if q := strings.IndexByte(h, '"'); q >= 0 {
		name := strings.TrimSpace(h[:q])
		rest := h[q+1:]
		var sub strings.Builder
		k := 0
		for ; k < len(rest) && rest[k] != '"'; k++ {
			if rest[k] == '\\' && k+1 < len(rest) {
				k++
			}
			if rest[k] == '\n' {
				return "", errors.New("a newline in a subsection")
			}
			sub.WriteByte(rest[k])
		}
		if k >= len(rest) || strings.TrimSpace(rest[k+1:]) != "" || !validName(name) {
			return "", errors.New("a malformed section header")
		}
		return strings.ToLower(name) + "." + sub.String(), nil
	}
	name, sub, dotted := strings.Cut(h, ".")
	if !validName(name) {
		return "", errors.New("a malformed section header")
	}
	if dotted {
		return strings.ToLower(name) + "." + strings.ToLower(sub), nil
	}
	return strings.ToLower(name), nil
}

func validName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if !isAlpha(n[i]) && !isDigit(n[i]) && n[i] != '-' && n[i] != '.' {
			return false
		}
	}
	return true
}

// parseValue reads a value after "=" up to its end of line: it returns
// the value, the bytes used and the line breaks escaped within it.
func parseValue(s string) (string, int, int, error) {
	var v strings.Builder
	quoted, lines := false, 0
	pending := "" // white space kept only if more follows
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n' && !quoted:
			return v.String(), i, lines, nil
		case c == '\n':
			return "", 0, 0, errors.New("a quoted value runs past its line")
		case (c == '#' || c == ';') && !quoted:
			for i < len(s) && s[i] != '\n' {
				i++
			}
			return v.String(), i, lines, nil
		case c == '"':
			quoted = !quoted
			v.WriteString(pending)
			pending = ""
		case c == '\\':
			if i+1 >= len(s) {
				return "", 0, 0, errors.New("a value ends in a backslash")
			}
			i++
			switch s[i] {
			case '\n':
				lines++
				continue
			case '\r':
				if i+1 < len(s) && s[i+1] == '\n' {
					i++
					lines++
					continue
				}
				return "", 0, 0, errors.New("a bad escape")
			case 'n':
				c = '\n'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case '\\', '"':
				c = s[i]
			default:
				return "", 0, 0, fmt.Errorf("a bad escape \\%c", s[i])
			}
			v.WriteString(pending)
			pending = ""
			v.WriteByte(c)
		case (c == ' ' || c == '\t' || c == '\r') && !quoted:
			if v.Len() > 0 {
				pending += string(c)
			}
		default:
			v.WriteString(pending)
			pending = ""
			v.WriteByte(c)
		}
	}
	if quoted {
		return "", 0, 0, errors.New("a quoted value runs past the end")
	}
	return v.String(), i, lines, nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// dataKeys are the git config variables that only hold data: what `git
// init`, `git clone` and `git submodule` write, and nothing that names a
// program, a file git reads, or a transport's command. Every other key is
// judged to run something (core.fsmonitor, core.hooksPath, core.pager,
// core.sshCommand, core.editor, include.path, filter.*, diff.*.command,
// alias.*, credential.helper, remote.*.uploadpack, submodule.*.update,
// and the keys git adds next year): a change that sets one is held.
// "*" stands for a subsection.
var dataKeys = []string{
	"core.repositoryformatversion", "core.filemode", "core.bare", "core.logallrefupdates",
	"core.ignorecase", "core.precomposeunicode", "core.symlinks", "core.worktree",
	"extensions.objectformat", "extensions.refstorage", "extensions.worktreeconfig",
	"init.defaultbranch", "user.name", "user.email",
	"remote.*.url", "remote.*.pushurl", "remote.*.fetch", "remote.*.push", "remote.*.tagopt",
	"branch.*.remote", "branch.*.merge", "branch.*.pushremote",
	"submodule.*.url", "submodule.*.active",
}

// isDataKey reports whether key only holds data.
func isDataKey(key string) bool {
	sec, rest, _ := strings.Cut(key, ".")
	name := rest
	sub := ""
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		sub, name = rest[:i], rest[i+1:]
	}
	for _, k := range dataKeys {
		ks, kr, _ := strings.Cut(k, ".")
		if ks != sec {
			continue
		}
		kname, ksub := kr, ""
		if i := strings.LastIndexByte(kr, '.'); i >= 0 {
			ksub, kname = kr[:i], kr[i+1:]
		}
		if kname == name && (ksub == sub || ksub == "*" && sub != "") {
			return true
		}
	}
	return false
}

// judgeGitConfig says what in the git config now, compared with old (nil:
// none), a host git would run: each variable set anew that is not data.
func judgeGitConfig(old, now []byte) []string {
	entries, err := parseGitConfig(now)
	if err != nil {
		return []string{"a git config that claudebox cannot read (" + err.Error() + "): git may run what it names"}
	}
	had := map[configEntry]int{}
	if old != nil {
		if prev, err := parseGitConfig(old); err == nil {
			for _, e := range prev {
				had[e]++
			}
		}
	}
	var runs []string
	for _, e := range entries {
		if had[e] > 0 {
			had[e]--
			continue
		}
		if !isDataKey(e.Key) {
			runs = append(runs, e.String())
		}
	}
	return runs
}

// judgeCommondir: a linked worktree's commondir ("../..") is git's own;
// in a git directory the review examines itself (not a worktrees/ entry,
// whose own config and hooks it does not read), "." names that same
// directory: nothing new (it is the placeholder the pinned protection
// makes at launch). Any other redirects where git reads config and hooks
// from. Exact content only (one optional newline): git reads the whole
// file as the path.
func judgeCommondir(rel string, now []byte) []string {
	content := strings.TrimSuffix(string(now), "\n")
	inWorktree := path.Base(path.Dir(path.Dir(rel))) == "worktrees"
	if inWorktree && content == "../.." || !inWorktree && content == "." {
		return nil
	}
	return []string{"commondir " + strings.TrimSpace(string(now)) + ": git reads its config and hooks from there"}
}
