package launch

import (
	"path/filepath"
	"strings"
)

// maxGitConfig caps a git configuration file read to find what it points
// at (hooksPath, includes).
const maxGitConfig = 1 << 20

// gitConfigEntry is one variable of a git configuration file. Key is
// "section.name" or "section.subsection.name", section and name in lower
// case (git compares them so), the subsection as written.
type gitConfigEntry struct {
	Key, Value string
	Bool       bool // no "=": a boolean true, Value is ""
}

// parseGitConfig reads the variables of a git configuration file: a small
// parser of git's syntax ([section "sub"] headers, name = value lines,
// quotes, backslash escapes and continuations, # and ; comments). It never
// runs git. It is lenient: a line it cannot read is skipped, where git
// would refuse the whole file (and so run nothing from it). The files it
// reads are read-only inside every sandbox, so they are the user's own,
// not a sandbox's attempt to hide a key from it.
func parseGitConfig(b []byte) []gitConfigEntry {
	var out []gitConfigEntry
	section := ""
	s := string(b)
	for len(s) > 0 {
		line, rest := logicalLine(s)
		s = rest
		l := strings.TrimLeft(line, " \t\r")
		if strings.HasPrefix(l, "[") {
			var ok bool
			if section, l, ok = parseSection(l); !ok {
				section = "" // unreadable header: what follows belongs to no section
				continue
			}
			l = strings.TrimLeft(l, " \t\r")
		}
		if l == "" || l[0] == '#' || l[0] == ';' || section == "" {
			continue
		}
		i := 0
		for i < len(l) && (isAlnum(l[i]) || l[i] == '-') {
			i++
		}
		if i == 0 {
			continue
		}
		name := strings.ToLower(l[:i])
		r := strings.TrimLeft(l[i:], " \t\r")
		switch {
		case r == "" || r[0] == '#' || r[0] == ';':
			out = append(out, gitConfigEntry{Key: section + "." + name, Bool: true})
		case r[0] == '=':
			out = append(out, gitConfigEntry{Key: section + "." + name, Value: parseValue(r[1:])})
		}
	}
	return out
}

// logicalLine splits off s's first line, a backslash at its end joining
// the next (outside a comment; good enough for the keys read here).
func logicalLine(s string) (line, rest string) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			b.WriteString(s)
			return b.String(), ""
		}
		l := strings.TrimSuffix(s[:i], "\r")
		if strings.HasSuffix(l, `\`) && !strings.HasSuffix(l, `\\`) {
			b.WriteString(l[:len(l)-1])
			s = s[i+1:]
			continue
		}
		b.WriteString(l)
		return b.String(), s[i+1:]
	}
}

// parseSection reads a section header at the start of l ("[core]",
// `[includeIf "gitdir:~/x/"]`, the old "[section.sub]"), and returns the
// section (and subsection) as a key prefix and what follows the header.
func parseSection(l string) (section, rest string, ok bool) {
	l = l[1:]
	i := 0
	for i < len(l) && (isAlnum(l[i]) || l[i] == '-' || l[i] == '.') {
		i++
	}
	name := strings.ToLower(l[:i])
	if name == "" {
		return "", "", false
	}
	l = l[i:]
	if strings.HasPrefix(l, "]") {
		// [section.sub]: the old form, subsection in lower case.
		return name, l[1:], true
	}
	l = strings.TrimLeft(l, " \t")
	if !strings.HasPrefix(l, `"`) {
		return "", "", false
	}
	var sub strings.Builder
	for i = 1; i < len(l) && l[i] != '"'; i++ {
		if l[i] == '\\' && i+1 < len(l) {
			i++
		}
		sub.WriteByte(l[i])
	}
	if i+1 >= len(l) || l[i+1] != ']' {
		return "", "", false
	}
	return name + "." + sub.String(), l[i+2:], true
}

// parseValue reads a value as git does: leading blanks dropped, quotes
// removed, \" \\ \n \t \b unescaped, a comment outside quotes ending it,
// trailing blanks outside quotes dropped.
func parseValue(v string) string {
	var b strings.Builder
	quoted := false
	pending := "" // blanks kept only if something follows them
	v = strings.TrimLeft(v, " \t")
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case !quoted && (c == '#' || c == ';'):
			return b.String()
		case !quoted && (c == ' ' || c == '\t' || c == '\r'):
			pending += string(c)
			continue
		case c == '"':
			quoted = !quoted
		case c == '\\' && i+1 < len(v):
			i++
			b.WriteString(pending)
			pending = ""
			switch v[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			default:
				b.WriteByte(v[i])
			}
			continue
		default:
			b.WriteString(pending)
			pending = ""
			b.WriteByte(c)
			continue
		}
		b.WriteString(pending)
		pending = ""
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// configValues returns the values of key (lower-case section and name),
// in order.
func configValues(entries []gitConfigEntry, key string) []string {
	var out []string
	for _, e := range entries {
		if e.Key == key {
			out = append(out, e.Value)
		}
	}
	return out
}

// configBool reports whether the last setting of key is true.
func configBool(entries []gitConfigEntry, key string) bool {
	v := false
	for _, e := range entries {
		if e.Key == key {
			switch strings.ToLower(e.Value) {
			case "true", "yes", "on", "1":
				v = true
			case "":
				v = e.Bool
			default:
				v = false
			}
		}
	}
	return v
}

// includePaths returns the files the configuration includes: include.path
// and every includeIf.<condition>.path, the condition not evaluated (all
// are looked at).
func includePaths(entries []gitConfigEntry) []string {
	var out []string
	for _, e := range entries {
		if e.Key == "include.path" || strings.HasPrefix(e.Key, "includeif.") && strings.HasSuffix(e.Key, ".path") {
			out = append(out, e.Value)
		}
	}
	return out
}

// gitPath makes a path from a git configuration absolute: "~/" is home,
// a relative path is from base. It returns "" for what it cannot place
// (~user/, %(prefix)/, an empty value).
func gitPath(v, home, base string) string {
	switch {
	case v == "":
		return ""
	case v == "~" || strings.HasPrefix(v, "~/"):
		return filepath.Join(home, strings.TrimPrefix(v, "~"))
	case strings.HasPrefix(v, "~"), strings.HasPrefix(v, "%(prefix)/"):
		return ""
	case filepath.IsAbs(v):
		return filepath.Clean(v)
	case base == "":
		return ""
	}
	return filepath.Join(base, v)
}
