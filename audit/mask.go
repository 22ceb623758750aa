// Package audit renders what a launch will do, from the same launch.Spec
// that builds the bundle: the pre-launch audit and the dry run, the
// SANDBOX.md that tells Claude the rules of its box, and the CLAUDE.md
// import of it. It is pure: spec in, text out.
package audit

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// secretWords mark a variable name as secret when one of its _-separated
// parts is one of them (so GIT_AUTHOR_NAME, KEYBOARD and MONKEY are not).
var secretWords = map[string]bool{
	"KEY": true, "KEYS": true, "APIKEY": true, "ACCESSKEY": true, "PRIVATEKEY": true, "SECRETKEY": true,
	"TOKEN": true, "TOKENS": true, "AUTHTOKEN": true,
	"SECRET": true, "SECRETS": true,
	"PASSWORD": true, "PASSWORDS": true, "PASSWD": true, "PASSPHRASE": true, "PW": true,
	"CREDENTIAL": true, "CREDENTIALS": true, "CREDS": true,
	"AUTH": true, "OAUTH": true, "BEARER": true,
	"COOKIE": true, "COOKIES": true,
}

// secretShape matches credentials anywhere in a string; secretValue a
// value that is one. Compiled when first used: every process this binary
// runs as (runc's init, the CNI helper, the egress plugin) would otherwise
// compile them at start, 0.2 ms each, and only a shown plan needs them.
var (
	secretShape = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(secretPattern) })
	secretValue = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(` + secretPattern + `)`) })
)

const secretPattern = `(` +
	`sk-ant-[A-Za-z0-9_-]{8,}` + // Anthropic
	`|sk-[A-Za-z0-9_-]{20,}` + // OpenAI and others
	`|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}` + // GitHub
	`|glpat-[A-Za-z0-9_-]{20,}` + // GitLab
	`|(AKIA|ASIA)[A-Z0-9]{16}` + // AWS access key ids
	`|xox[abprs]-[A-Za-z0-9-]{10,}` + // Slack
	`|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}` + // JWT
	`)`

// SecretName reports whether a variable name looks secret.
func SecretName(name string) bool {
	for _, part := range strings.Split(strings.ToUpper(name), "_") {
		if secretWords[part] {
			return true
		}
	}
	return false
}

// SecretValue reports whether a value looks like a credential.
func SecretValue(value string) bool {
	return secretValue().MatchString(value) || strings.Contains(value, "-----BEGIN ")
}

// MaskInline masks every credential-shaped token inside s (a command
// line, say).
func MaskInline(s string) string {
	return secretShape().ReplaceAllStringFunc(s, func(tok string) string {
		shown, _ := Mask("", tok)
		return shown
	})
}

// Mask returns how an environment value is shown: whole, or when the name
// or the value looks secret, a short prefix, an ellipsis and the length
// ("sk-a…(108 chars)"). It never returns a secret whole.
func Mask(name, value string) (shown string, masked bool) {
	if !SecretName(name) && !SecretValue(value) {
		return value, false
	}
	return MaskSecret(value), true
}

// MaskSecret shows a value known to be secret: a short prefix when it is
// long enough, an ellipsis and the length.
func MaskSecret(value string) string {
	n := utf8.RuneCountInString(value)
	prefix := 4
	if n < 16 {
		prefix = 0 // too short to show any of it
	}
	r := []rune(value)
	return string(r[:min(prefix, n)]) + "…(" + strconv.Itoa(n) + " chars)"
}

// MaskURL masks the credentials in a URL: its password (or a user given
// alone), and the values of query parameters whose name or value looks
// secret. masked says whether any was. A string that is not a URL is
// masked inline (MaskInline).
func MaskURL(raw string) (shown string, masked bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		shown = MaskInline(raw)
		return shown, shown != raw
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), MaskSecret(pw))
		} else {
			u.User = url.User(MaskSecret(u.User.Username()))
		}
		masked = true
	}
	if u.RawQuery != "" {
		var parts []string
		for _, kv := range strings.Split(u.RawQuery, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if dv, err := url.QueryUnescape(v); err == nil {
				v = dv
			}
			if shown, m := Mask(k, v); m {
				kv, masked = k+"="+shown, true
			}
			parts = append(parts, kv)
		}
		u.RawQuery = ""
		if masked {
			return unescapeUserinfo(u.String()) + "?" + strings.Join(parts, "&"), true
		}
		return raw, false
	}
	if !masked {
		return raw, false
	}
	return unescapeUserinfo(u.String()), true
}

// unescapeUserinfo shows a masked user info as it was written ("…" and
// the parentheses escaped by url.URL.String).
func unescapeUserinfo(s string) string {
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return s
}
