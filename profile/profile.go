// Package profile loads named profiles, ~/.claudebox/profiles/NAME.json: a
// description, environment entries (as --env), mounts (ro, rw or hide), a
// network tier, --allow-net entries and published ports, optionally
// extending another profile. Parsing is strict: an unknown field, a wrong type, a bad tier or
// mode, a relative or missing path is an error that names the file, the
// field (with line and column for syntax errors) and what is allowed.
package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/claudebox/claudebox/launch"
)

var (
	// ErrNotFound: no profile of that name.
	ErrNotFound = errors.New("no such profile")
	// ErrInvalid: a profile file is wrong.
	ErrInvalid = errors.New("invalid profile")
)

var validName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// CheckName rejects names that are not [A-Za-z0-9._-], or are . or ..
func CheckName(name string) error {
	if !validName.MatchString(name) || name == "." || name == ".." || strings.Contains(name, "..") {
		return &launch.HintError{Err: fmt.Errorf("%w: bad profile name %q", ErrInvalid, name),
			Hint: "a profile name is letters, digits, '.', '_' and '-', naming ~/.claudebox/profiles/NAME.json"}
	}
	return nil
}

// file is the on-disk format.
type file struct {
	Description string      `json:"description"`
	Extends     string      `json:"extends"`
	Env         []string    `json:"env"`
	Mounts      []fileMount `json:"mounts"`
	Network     string      `json:"network"`
	AllowNet    []string    `json:"allowNet"`
	AllowHosts  []string    `json:"allowHosts"`
	// SSHAgent, SSHAgentSign and SSHAgentKeys are as --ssh-agent,
	// --ssh-agent-sign and --ssh-agent-key.
	SSHAgent     []string `json:"sshAgent"`
	SSHAgentSign []string `json:"sshAgentSign"`
	SSHAgentKeys []string `json:"sshAgentKeys"`
	// GitCredentials is as --git-credential.
	GitCredentials []string `json:"gitCredentials"`
	Sockets        []string `json:"sockets"`
	Publish        []string `json:"publish"`
	MCP            []string `json:"mcp"`
}

type fileMount struct {
	Source string `json:"source"`
	Target string `json:"target"`
	Mode   string `json:"mode"`
}

// Dir is where profiles live under a state directory.
func Dir(stateDir string) string { return filepath.Join(stateDir, "profiles") }

// Load reads profile name from dir, following extends, with paths
// expanded against home.
func Load(dir, name, home string) (*launch.Profile, error) {
	return load(dir, name, home, nil)
}

func load(dir, name, home string, chain []string) (*launch.Profile, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if slices.Contains(chain, name) {
		return nil, &launch.HintError{
			Err:  fmt.Errorf("%w: profiles extend each other in a cycle: %s", ErrInvalid, strings.Join(append(chain, name), " -> ")),
			Hint: "remove one of the extends"}
	}
	path := filepath.Join(dir, name+".json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		hint := "create " + path
		if names := Names(dir); len(names) > 0 {
			hint = "existing profiles: " + strings.Join(names, ", ")
		}
		if len(chain) > 0 {
			return nil, &launch.HintError{Err: fmt.Errorf("%w: %s extends %q, which does not exist", ErrNotFound, chain[len(chain)-1], name), Hint: hint}
		}
		return nil, &launch.HintError{Err: fmt.Errorf("%w %q (%s)", ErrNotFound, name, path), Hint: hint}
	}
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	p, parent, err := Parse(path, b, home)
	if err != nil {
		return nil, err
	}
	p.Name = name
	for i := range p.Mounts {
		p.Mounts[i].Why = "profile " + name
	}
	if parent == "" {
		return p, nil
	}
	base, err := load(dir, parent, home, append(chain, name))
	if err != nil {
		return nil, err
	}
	return merge(base, p), nil
}

// merge puts p on top of base: base's env and mounts first, p's tier and
// description when it has them.
func merge(base, p *launch.Profile) *launch.Profile {
	out := *p
	out.Env = append(slices.Clone(base.Env), p.Env...)
	out.Mounts = append(slices.Clone(base.Mounts), p.Mounts...)
	out.Hide = append(slices.Clone(base.Hide), p.Hide...)
	out.AllowNet = append(slices.Clone(base.AllowNet), p.AllowNet...)
	out.AllowHosts = append(slices.Clone(base.AllowHosts), p.AllowHosts...)
	out.MCP = append(slices.Clone(base.MCP), p.MCP...)
	out.SSHAgent = append(slices.Clone(base.SSHAgent), p.SSHAgent...)
	out.SSHAgentSign = append(slices.Clone(base.SSHAgentSign), p.SSHAgentSign...)
	out.SSHAgentKeys = append(slices.Clone(base.SSHAgentKeys), p.SSHAgentKeys...)
	out.GitCredentials = append(slices.Clone(base.GitCredentials), p.GitCredentials...)
	out.Sockets = append(slices.Clone(base.Sockets), p.Sockets...)
	out.Publish = append(slices.Clone(base.Publish), p.Publish...)
	if out.Network == "" {
		out.Network = base.Network
	}
	if out.Description == "" {
		out.Description = base.Description
	}
	out.Extends = append([]string{base.Name}, base.Extends...)
	return &out
}

// Parse checks one profile file's content; path is for messages. It
// returns the profile and the name it extends ("" for none).
func Parse(path string, b []byte, home string) (*launch.Profile, string, error) {
	bad := func(field, format string, a ...any) error {
		return &launch.HintError{Err: fmt.Errorf("%w %s: %s: %s", ErrInvalid, path, field, fmt.Sprintf(format, a...)),
			Hint: "see README, \"Profiles\", for the format"}
	}
	// each is the list field's entries, each of which ok accepts; the
	// first it refuses is named with what to use instead.
	each := func(field string, vals []string, ok func(string) bool, use string) ([]string, error) {
		for i, v := range vals {
			if !ok(v) {
				return nil, bad(fmt.Sprintf("%s[%d]", field, i), "%q: %s", v, use)
			}
		}
		if len(vals) == 0 {
			return nil, nil
		}
		return slices.Clone(vals), nil
	}
	var err error
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f file
	if err := dec.Decode(&f); err != nil {
		return nil, "", decodeError(path, b, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, "", bad("(end)", "more than one JSON value")
	}
	p := &launch.Profile{Description: f.Description}
	if f.Extends != "" {
		if err := CheckName(f.Extends); err != nil {
			return nil, "", bad("extends", "%q is not a profile name", f.Extends)
		}
	}
	if p.Env, err = each("env", f.Env, func(e string) bool { name, _, _ := strings.Cut(e, "="); return launch.ValidEnvName(name) },
		`want "NAME" (pass the host value) or "NAME=VALUE"; NAME is letters, digits and _`); err != nil {
		return nil, "", err
	}
	for i, m := range f.Mounts {
		field := fmt.Sprintf("mounts[%d]", i)
		src, err := expand(m.Source, home)
		if err != nil {
			return nil, "", bad(field+".source", "%v", err)
		}
		real, err := filepath.EvalSymlinks(src)
		if err != nil {
			return nil, "", bad(field+".source", "%s does not exist", src)
		}
		switch m.Mode {
		case "hide":
			if m.Target != "" {
				return nil, "", bad(field+".target", "a hidden path has no target; give only source")
			}
			p.Hide = append(p.Hide, real)
			continue
		case "ro", "rw":
		case "":
			return nil, "", bad(field+".mode", "missing: use \"ro\", \"rw\" or \"hide\"")
		default:
			return nil, "", bad(field+".mode", "%q: use \"ro\", \"rw\" or \"hide\"", m.Mode)
		}
		mount := launch.Mount{Path: real, Mode: launch.Mode(m.Mode)}
		if m.Target != "" {
			if mount.Target, err = expand(m.Target, home); err != nil {
				return nil, "", bad(field+".target", "%v", err)
			}
			if mount.Target == real {
				mount.Target = ""
			}
		}
		p.Mounts = append(p.Mounts, mount)
	}
	if f.Network != "" {
		t, err := launch.ParseTier(f.Network)
		if err != nil {
			return nil, "", bad("network", "%q: use \"none\", \"allowlist\", \"inet\" or \"full\"", f.Network)
		}
		p.Network = t
	}
	for _, l := range []struct {
		field string
		to    *[]string
		vals  []string
		ok    func(string) bool
		use   string
	}{
		{"allowNet", &p.AllowNet, f.AllowNet, parses(launch.ParseAllow), "use ADDR, CIDR, ADDR:PORT or CIDR:PORT"},
		{"allowHosts", &p.AllowHosts, f.AllowHosts, parses(func(h string) (launch.HostRule, error) { return launch.ParseHost(h, "") }),
			"use a host name or *.DOMAIN, with :PORT if not 443 and 80, and /nameless after the port for ssh"},
		{"mcp", &p.MCP, f.MCP, launch.ValidMCPName, "give the name of an MCP server in your ~/.claude.json (letters, digits, -, _, .)"},
		{"sshAgent", &p.SSHAgent, f.SSHAgent, func(h string) bool { _, _, err := launch.ParseSSHHost(h); return err == nil },
			"use HOST or HOST:PORT, as you ssh to it"},
		{"sshAgentSign", &p.SSHAgentSign, f.SSHAgentSign, func(ns string) bool { return slices.Contains(launch.SSHSignNamespaces, ns) }, `use "git"`},
		{"sshAgentKeys", &p.SSHAgentKeys, f.SSHAgentKeys, launch.IsKeyFingerprint, "use a SHA256 fingerprint as ssh-add -l shows it"},
		{"gitCredentials", &p.GitCredentials, f.GitCredentials, parses(launch.ParseGitHost), "use HOST or HOST:PORT, the host of the HTTPS remote"},
	} {
		if *l.to, err = each(l.field, l.vals, l.ok, l.use); err != nil {
			return nil, "", err
		}
	}
	for i, sock := range f.Sockets {
		field := fmt.Sprintf("sockets[%d]", i)
		path, err := expand(sock, home)
		if err != nil {
			return nil, "", bad(field, "%v", err)
		}
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return nil, "", bad(field, "%s does not exist", path)
		}
		p.Sockets = append(p.Sockets, real)
	}
	if p.Publish, err = each("publish", f.Publish, parses(launch.ParsePublish), `use [HOST_ADDR:]HOST_PORT[:SANDBOX_PORT], e.g. "5173" or "8080:80"`); err != nil {
		return nil, "", err
	}
	return p, f.Extends, nil
}

// parses turns a parser into whether it accepts a value.
func parses[T any](parse func(string) (T, error)) func(string) bool {
	return func(v string) bool { _, err := parse(v); return err == nil }
}

// expand makes ~ the home and insists on an absolute path.
func expand(p, home string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("missing: give an absolute path or one starting with ~/")
	case p == "~":
		p = home
	case strings.HasPrefix(p, "~/"):
		p = filepath.Join(home, p[2:])
	case !filepath.IsAbs(p):
		return "", fmt.Errorf("%q is relative: give an absolute path or one starting with ~/", p)
	}
	return filepath.Clean(p), nil
}

// decodeError names the field of a type error, and the line and column of
// a syntax error.
func decodeError(path string, b []byte, err error) error {
	hint := "see README, \"Profiles\", for the format"
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		line, col := position(b, max(se.Offset-1, 0)) // the offending byte
		return &launch.HintError{Err: fmt.Errorf("%w %s:%d:%d: invalid JSON: %w", ErrInvalid, path, line, col, err), Hint: hint}
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		line, col := position(b, te.Offset)
		return &launch.HintError{Err: fmt.Errorf("%w %s:%d:%d: %s: want %s, not %s", ErrInvalid, path, line, col, te.Field, te.Type, te.Value), Hint: hint}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &launch.HintError{Err: fmt.Errorf("%w %s: empty or truncated JSON", ErrInvalid, path), Hint: hint}
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &launch.HintError{Err: fmt.Errorf("%w %s: unknown field %s", ErrInvalid, path, f),
			Hint: "the fields are description, extends, env, mounts (source, target, mode), network, allowNet, allowHosts, sockets, publish, sshAgent, sshAgentSign, sshAgentKeys, gitCredentials, mcp"}
	}
	return &launch.HintError{Err: fmt.Errorf("%w %s: %w", ErrInvalid, path, err), Hint: hint}
}

func position(b []byte, offset int64) (line, col int) {
	if offset > int64(len(b)) {
		offset = int64(len(b))
	}
	before := b[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// Names lists the profile names in dir, sorted.
func Names(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() && CheckName(n) == nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Entry is one profile of a listing: loaded, or the error that stops it.
type Entry struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Profile     *launch.Profile `json:"profile,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// List loads every profile in dir; one that fails is listed with its
// error, not dropped.
func List(dir, home string) []Entry {
	var out []Entry
	for _, n := range Names(dir) {
		p, err := Load(dir, n, home)
		e := Entry{Name: n, Profile: p}
		if err != nil {
			e.Error = err.Error()
		} else {
			e.Description = p.Description
		}
		out = append(out, e)
	}
	return out
}
