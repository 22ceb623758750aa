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

// SecretLocations are the well-known secret locations under home: each
// as spelled (~/.docker) and, when it is a link (a dotfiles manager's
// ~/.docker -> dotfiles/docker) or lies under one, where it resolves to.
func SecretLocations(home string) []string {
	var out []string
	for _, s := range homeSecrets {
		p := filepath.Join(home, s)
		out = append(out, p)
		if real, err := filepath.EvalSymlinks(p); err == nil && real != p {
			out = append(out, real)
		}
	}
	return out
}

// IsSecretPath reports whether p is one of the well-known secret locations
// under home (~/.ssh, ~/.aws, ...), or inside one; also where such a
// location resolves to when it is a link.
func IsSecretPath(home, p string) bool {
	return slices.ContainsFunc(SecretLocations(home), func(s string) bool { return Within(p, s) })
}

// HoldsSecret returns the secret location (SecretLocations) that p holds
// (is, or is an ancestor of), if any: showing p shows it.
func HoldsSecret(home, p string) (string, bool) {
	for _, s := range SecretLocations(home) {
		if Within(s, p) {
			return s, true
		}
	}
	return "", false
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
		// Where it resolves to counts too: a mount of ~/dotfiles shows
		// the real ~/.docker when that is a link to dotfiles/docker.
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			real = p
		}
		shown := slices.ContainsFunc(mounts, func(m Mount) bool { return Within(p, m.Path) || Within(real, m.Path) })
		named := slices.ContainsFunc(mounts, func(m Mount) bool { return Within(m.Path, p) || Within(m.Path, real) })
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
