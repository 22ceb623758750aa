package launch

import (
	"encoding/json"
	"path/filepath"

	"github.com/claudebox/claudebox/internal/safefs"
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

// MaxCredentials caps a credentials file: a Claude Code login is under
// 1 KiB.
const MaxCredentials = 64 << 10

// CredentialsPath is where Claude Code keeps its login under a home.
func CredentialsPath(home string) string {
	return filepath.Join(home, ".claude", ".credentials.json")
}

func authOf(env []string, home string) string {
	if envValue(env, "ANTHROPIC_API_KEY") != "" {
		return AuthAPIKey
	}
	if b, _, err := safefs.ReadTrusted(CredentialsPath(home), MaxCredentials); err == nil && IsCredentials(b) {
		return AuthLogin
	}
	return AuthNone
}

// IsCredentials reports whether b is Claude Code's login: a JSON object
// whose "claudeAiOauth" member is an object with a string accessToken
// (empty once the login has ended). Any other JSON (an empty, torn or
// malformed file; another tool's credentials) is not.
func IsCredentials(b []byte) bool {
	var v struct {
		ClaudeAiOauth *struct {
			AccessToken *string `json:"accessToken"`
		} `json:"claudeAiOauth"`
	}
	return json.Unmarshal(b, &v) == nil && v.ClaudeAiOauth != nil && v.ClaudeAiOauth.AccessToken != nil
}
