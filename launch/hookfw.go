package launch

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/claudebox/claudebox/internal/safefs"
)

// A hook framework installs a git hook that runs what a file in the work
// tree names. Recognised by a mark in an installed hook (in the git
// directory's hooks/ or a core.hooksPath directory); its configuration in
// the work tree is then protected, as it is at launch (a file that is not
// there is not made). The list, and what it misses, is in SECURITY.md.
var hookFrameworks = []struct {
	name  string
	marks []string // any of these in a hook
	files []string // relative to the work tree
}{
	{"pre-commit", []string{"pre-commit.com", "hook-impl"}, nil}, // files: the --config the hook names (preCommitConfigs)
	{"lefthook", []string{"lefthook"}, lefthookFiles()},
	{"husky", []string{"husky"}, []string{
		".husky", ".huskyrc", ".huskyrc.json", ".huskyrc.yaml", ".huskyrc.yml", ".huskyrc.js", ".huskyrc.cjs",
		"husky.config.js", "husky.config.cjs",
	}},
}

// lefthookFiles are the configurations lefthook reads (the main one and
// the -local one merged on top, in any of its formats), and its script
// directories.
func lefthookFiles() []string {
	out := []string{".lefthook", ".lefthook-local", ".config/lefthook.yml", ".config/lefthook.yaml"}
	for _, base := range []string{"lefthook", ".lefthook", "lefthook-local", ".lefthook-local"} {
		for _, ext := range []string{"yml", "yaml", "toml", "json", "jsonc"} {
			out = append(out, base+"."+ext)
		}
	}
	return out
}

// preCommitConfig finds the --config a pre-commit hook names.
var preCommitConfig = regexp.MustCompile(`--config[= ]([^ \t\n)'"]+)`)

// hookFrameworks protects the configuration of the hook frameworks whose
// hooks are installed for the git directory gitdir (config cfg), in its
// work tree worktree.
func (p *protector) hookFrameworks(gitdir string, cfg []gitConfigEntry, worktree string) error {
	if _, _, ok := p.tree(worktree); worktree == "" || !ok {
		return nil
	}
	dirs := []string{filepath.Join(gitdir, "hooks")}
	for _, h := range append(configValues(p.global, "core.hookspath"), configValues(cfg, "core.hookspath")...) {
		if d := gitPath(h, p.home, worktree); d != "" {
			dirs = append(dirs, d)
		}
	}
	var files []string
	for _, d := range dirs {
		for _, hook := range p.hooks(d) {
			for _, fw := range hookFrameworks {
				if !containsAny(hook, fw.marks) {
					continue
				}
				files = append(files, fw.files...)
				if fw.name == "pre-commit" {
					files = append(files, preCommitConfigs(hook)...)
				}
			}
		}
	}
	for _, f := range files {
		if err := p.existing(filepath.Join(worktree, f), WhyHookFW); err != nil {
			return err
		}
	}
	return nil
}

// preCommitConfigs is the configuration a pre-commit hook reads.
func preCommitConfigs(hook string) []string {
	var out []string
	for _, m := range preCommitConfig.FindAllStringSubmatch(hook, -1) {
		if filepath.IsLocal(m[1]) {
			out = append(out, m[1])
		}
	}
	if len(out) == 0 {
		out = []string{".pre-commit-config.yaml"}
	}
	return out
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// hooks reads the installed hooks in dir (not the .sample ones), bounded:
// through safefs in the project or the shared git directory, directly
// elsewhere (a global hooks directory of the user's, which no sandbox can
// write).
func (p *protector) hooks(dir string) []string {
	var names []string
	var read func(string) ([]byte, error)
	if d, rel, ok := p.tree(dir); ok {
		h, err := d.OpenDir(rel)
		if err != nil {
			return nil
		}
		defer h.Close()
		if names, err = h.ReadDirNames(".", maxHookFiles); err != nil {
			return nil
		}
		read = func(n string) ([]byte, error) { b, _, err := h.ReadFile(n, maxHookSize); return b, err }
	} else {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) > maxHookFiles {
			return nil
		}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		read = func(n string) ([]byte, error) {
			b, _, err := safefs.ReadTrusted(filepath.Join(dir, n), maxHookSize)
			return b, err
		}
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, ".sample") {
			continue
		}
		if b, err := read(n); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}
