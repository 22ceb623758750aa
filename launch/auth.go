package launch

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// How Claude will authenticate inside the sandbox.
const (
	// AuthAPIKey: ANTHROPIC_API_KEY is passed in; Claude prefers it to a
	// login.
	AuthAPIKey = "api-key"
	// AuthLogin: the host's Claude login (~/.claude/.credentials.json),
	// kept in sync both ways while the sandbox runs.
	AuthLogin = "login"
	// AuthNone: neither; Claude will ask to log in, and a login done inside
	// persists to the host.
	AuthNone = "none"
)

// CredentialsPath is where Claude Code keeps its login under a home.
func CredentialsPath(home string) string {
	return filepath.Join(home, ".claude", ".credentials.json")
}

func authOf(env []string, home string) string {
	if envValue(env, "ANTHROPIC_API_KEY") != "" {
		return AuthAPIKey
	}
	if ValidCredentials(CredentialsPath(home)) {
		return AuthLogin
	}
	return AuthNone
}

// ValidCredentials reports whether path holds credentials.
func ValidCredentials(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && IsCredentials(b)
}

// IsCredentials reports whether b is a non-empty JSON object: an empty,
// torn or malformed file is no login.
func IsCredentials(b []byte) bool {
	var v map[string]json.RawMessage
	return json.Unmarshal(b, &v) == nil && len(v) > 0
}
