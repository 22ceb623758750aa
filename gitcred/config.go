package gitcred

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// configTimeout bounds reading the user's git configuration at launch.
const configTimeout = 10 * time.Second

// setting is one entry of the user's credential configuration, in the
// order git read it (a helper list is ordered; an empty helper resets it).
type setting struct{ key, value string }

// ConfigError says that a file git reads for the user's credential
// helpers lies in a tree the sandbox can write: a helper written there
// would run on the host.
type ConfigError struct {
	// What the file is: "git's configuration", "a file git's
	// configuration includes", "the credential helper".
	What string
	// File is the file as git names it; Real with links resolved; Tree
	// the writable tree that holds Real.
	File, Real, Tree string
}

func (e *ConfigError) Error() string {
	f := e.File
	if e.Real != e.File {
		f += " (a link to " + e.Real + ")"
	}
	return fmt.Sprintf("%s %s is in %s, which the sandbox can write: a credential helper written there would run on your host", e.What, f, e.Tree)
}

// hostEnv is the environment every run of the host's git gets: o.Env
// without git's own variables (which could point it at a repository or
// at other configuration) and without SSH_ASKPASS, run outside any
// repository, never asking: no terminal prompt, and an empty GIT_ASKPASS,
// which also turns off core.askPass and SSH_ASKPASS (no dialog on the
// user's desktop that the sandbox could make the user type into).
func hostEnv(o Options) []string {
	env := []string{"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "GCM_INTERACTIVE=never", "GIT_CEILING_DIRECTORIES=" + filepath.Dir(o.Dir)}
	for _, kv := range o.Env {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "GIT_") && k != "SSH_ASKPASS" && k != "GCM_INTERACTIVE" {
			env = append(env, kv)
		}
	}
	return env
}

// fillEnv is the environment of the fills: no configuration file at all
// (no system file, /dev/null as the global one, no repository), only the
// settings read at launch, as command-line configuration. Whatever the
// sandbox writes during the session is never read.
func fillEnv(base []string, snap []setting) []string {
	env := append(base[:len(base):len(base)], "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_COUNT="+strconv.Itoa(len(snap)))
	for i, s := range snap {
		n := strconv.Itoa(i)
		env = append(env, "GIT_CONFIG_KEY_"+n+"="+s.key, "GIT_CONFIG_VALUE_"+n+"="+s.value)
	}
	return env
}

// snapshot reads the user's credential configuration (the credential.*
// keys, credential.URL.* included) as the host's git reads it, once, at
// launch, before the sandbox starts: reading configuration runs nothing.
// It refuses (a *ConfigError) when a file git reads or would read for it
// (the system, XDG and global files, each file an include or includeIf
// names, a credential helper given by path) lies, links resolved, in a
// tree the sandbox can write. It returns the environment of the fills.
func snapshot(o Options) ([]string, error) {
	base := hostEnv(o)
	entries, err := listConfig(o, base)
	if err != nil {
		return nil, err
	}
	home := envValue(o.Env, "HOME")
	xdg := envValue(o.Env, "XDG_CONFIG_HOME")
	if xdg == "" && home != "" {
		xdg = filepath.Join(home, ".config")
	}
	// The files read first (the error names one of them), then those git
	// would read once they exist.
	var check []ConfigError
	var snap []setting
	for _, e := range entries {
		if e.origin != "" {
			check = append(check, ConfigError{What: "git's configuration", File: e.origin})
		}
		k := strings.ToLower(e.key)
		switch {
		case k == "include.path" || strings.HasPrefix(k, "includeif.") && strings.HasSuffix(k, ".path"):
			p := e.value
			if rest, ok := strings.CutPrefix(p, "~/"); ok && home != "" {
				p = filepath.Join(home, rest)
			} else if !filepath.IsAbs(p) && e.origin != "" {
				p = filepath.Join(filepath.Dir(e.origin), p)
			}
			check = append(check, ConfigError{What: "a file git's configuration includes", File: filepath.Clean(p)})
		case strings.HasPrefix(k, "credential."):
			snap = append(snap, setting{e.key, e.value})
			// A helper given by path runs as it is: the program must not
			// be one the sandbox can replace.
			if strings.HasSuffix(k, ".helper") && strings.HasPrefix(e.value, "/") {
				check = append(check, ConfigError{What: "the credential helper", File: strings.Fields(e.value)[0]})
			}
		}
	}
	check = append(check, ConfigError{What: "git's configuration", File: "/etc/gitconfig"})
	if xdg != "" {
		check = append(check, ConfigError{What: "git's configuration", File: filepath.Join(xdg, "git", "config")})
	}
	if home != "" {
		check = append(check, ConfigError{What: "git's configuration", File: filepath.Join(home, ".gitconfig")})
	}
	for _, c := range check {
		c.Real = realPath(c.File)
		if o.Writable == nil {
			continue
		}
		if tree, ok := o.Writable(c.Real); ok {
			c.Tree = tree
			return nil, &c
		}
	}
	env := fillEnv(base, snap)
	// By construction, checked: the fills' git reads no file.
	after, err := listConfig(o, env)
	if err != nil {
		return nil, err
	}
	for _, e := range after {
		if e.origin != "" {
			return nil, fmt.Errorf("git still read %s with GIT_CONFIG_GLOBAL=/dev/null and GIT_CONFIG_NOSYSTEM=1 (git 2.32 or later is needed)", e.origin)
		}
	}
	return env, nil
}

// entry is one line of git config --list: origin is the file it came
// from, "" for another origin (the command line).
type entry struct{ origin, key, value string }

// listConfig is `git config --list --show-origin` with env, outside any
// repository.
func listConfig(o Options, env []string) ([]entry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), configTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.Git, "config", "--list", "--show-origin", "-z")
	cmd.Dir, cmd.Env = o.Dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("reading your git configuration (git config --list): %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	fields := strings.Split(string(out), "\x00")
	var entries []entry
	for i := 0; i+1 < len(fields); i += 2 {
		e := entry{}
		if f, ok := strings.CutPrefix(fields[i], "file:"); ok {
			e.origin = f
		}
		var hasValue bool
		if e.key, e.value, hasValue = strings.Cut(fields[i+1], "\n"); !hasValue {
			e.value = "true" // a key without "=" is a true boolean
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// realPath is p with every link resolved, also one that points at a file
// not made yet (the sandbox could make it).
func realPath(p string) string {
	p = filepath.Clean(p)
	for range 40 {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return real
		}
		target, err := os.Readlink(p)
		if err != nil {
			// Not there: its directory resolved, and the name.
			if dir := filepath.Dir(p); dir != p {
				return filepath.Join(realPath(dir), filepath.Base(p))
			}
			return p
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		p = filepath.Clean(target)
	}
	return p
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}
