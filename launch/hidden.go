package launch

import (
	"path/filepath"
	"slices"
)

// homeSecrets are paths under $HOME that stay hidden even when a mount
// would otherwise show them (a project that is the home directory, a --ro of
// ~/.config). Naming one of them, or a path inside it, with --ro or --rw is
// the explicit way to show it.
var homeSecrets = []string{
	".claude", ".claude.json", ".claudebox", // other projects' transcripts
	".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".netrc",
	".git-credentials", ".npmrc", ".pypirc", ".password-store",
	".config/gh", ".config/gcloud", ".config/hub", ".local/share/keyrings",
}

// IsSecretPath reports whether p is one of the well-known secret locations
// under home (~/.ssh, ~/.aws, ...), or inside one.
func IsSecretPath(home, p string) bool {
	return slices.ContainsFunc(homeSecrets, func(s string) bool { return Within(p, filepath.Join(home, s)) })
}

// defaultHidden lists what is hidden on every launch: /root, and the home
// secrets that a mount would show. Only existing paths are listed, and
// none that a mount names (the way to show one on purpose). The host's
// daemons and the user's runtime directory (ssh-agent, D-Bus, keyrings)
// are out of reach by construction instead: see sockets.go.
func defaultHidden(h Host, mounts []Mount) []string {
	var candidates []string
	if h.UID != 0 {
		candidates = append(candidates, "/root")
	}
	for _, s := range homeSecrets {
		p := filepath.Join(h.Home, s)
		shown := slices.ContainsFunc(mounts, func(m Mount) bool { return Within(p, m.Path) })
		named := slices.ContainsFunc(mounts, func(m Mount) bool { return Within(m.Path, p) })
		if shown && !named {
			candidates = append(candidates, p)
		}
	}
	var out []string
	for _, c := range candidates {
		real, err := filepath.EvalSymlinks(c)
		if err != nil {
			continue
		}
		named := slices.ContainsFunc(mounts, func(m Mount) bool { return Within(m.Path, real) })
		if !named && !slices.Contains(out, real) {
			out = append(out, real)
		}
	}
	return out
}
