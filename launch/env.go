package launch

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// DefaultPath is used inside the sandbox when the host has no PATH.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// allowedEnv are the host variables that pass into the sandbox without being
// named: the terminal, the locale, the user's editor, and Claude Code's own
// settings. Everything else (GITHUB_TOKEN, AWS_*, SSH_AUTH_SOCK, KUBECONFIG,
// ...) stays out unless the user names it with --env.
var allowedEnv = []string{
	"PATH", "HOME", "USER", "LOGNAME", "SHELL",
	"TERM", "COLORTERM", "LANG", "LANGUAGE", "TZ", "NO_COLOR",
	"EDITOR", "VISUAL",
	// Claude Code settings that hold no host path.
	"DISABLE_AUTOUPDATER", "DISABLE_BUG_COMMAND", "DISABLE_COST_WARNINGS",
	"DISABLE_ERROR_REPORTING", "DISABLE_NON_ESSENTIAL_MODEL_CALLS", "DISABLE_TELEMETRY",
	"MAX_THINKING_TOKENS", "MAX_MCP_OUTPUT_TOKENS", "MCP_TIMEOUT", "MCP_TOOL_TIMEOUT",
	"BASH_DEFAULT_TIMEOUT_MS", "BASH_MAX_TIMEOUT_MS", "BASH_MAX_OUTPUT_LENGTH",
}

// allowedEnvPrefixes pass every variable that starts with them: the locale
// (LC_*) and Claude Code's configuration (ANTHROPIC_API_KEY, ANTHROPIC_MODEL,
// CLAUDE_CODE_*, ...).
var allowedEnvPrefixes = []string{"LC_", "ANTHROPIC_", "CLAUDE_CODE_"}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidEnvName reports whether name can be an environment variable's.
func ValidEnvName(name string) bool { return envName.MatchString(name) }

// EnvAllowed reports whether a host variable passes into the sandbox without
// being named.
func EnvAllowed(name string) bool {
	if slices.Contains(allowedEnv, name) {
		return true
	}
	for _, p := range allowedEnvPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// setEnv sets name in a sorted environment.
func setEnv(env []string, name, value string) []string {
	env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
	env = append(env, name+"="+value)
	slices.Sort(env)
	return env
}

// buildEnv returns the sandbox environment: the allowlisted host variables,
// then the --env entries (NAME passes the host value and is skipped when the
// host has none; NAME=VALUE sets it), then the variables claudebox owns.
func buildEnv(host []string, flags []string, home string) ([]string, error) {
	hostVals := make(map[string]string, len(host))
	for _, kv := range host {
		if k, v, ok := strings.Cut(kv, "="); ok {
			hostVals[k] = v
		}
	}
	env := map[string]string{}
	for k, v := range hostVals {
		if EnvAllowed(k) {
			env[k] = v
		}
	}
	for _, f := range flags {
		name, value, set := strings.Cut(f, "=")
		if !envName.MatchString(name) {
			return nil, withHint(fmt.Errorf("%w %q: %q is not a valid variable name", ErrBadEnv, f, name),
				"use --env NAME to pass the host value or --env NAME=VALUE to set one; NAME is letters, digits and _, not starting with a digit")
		}
		if !set {
			var ok bool
			if value, ok = hostVals[name]; !ok {
				continue
			}
		}
		env[name] = value
	}
	if env["PATH"] == "" {
		env["PATH"] = DefaultPath
	}
	env["HOME"] = home
	env["CLAUDEBOX"] = "1"

	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out, nil
}

// envValue returns the last value of name in environ, as getenv does.
func envValue(environ []string, name string) string {
	for _, kv := range slices.Backward(environ) {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}
