package launch

import "testing"

// TestIsCredentials: only Claude Code's own login shape is a login; a torn
// write, another tool's credentials, or the name buried elsewhere is not.
func TestIsCredentials(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{`{"claudeAiOauth":{"accessToken":"sk-ant-oat01-x","refreshToken":"r","expiresAt":1}}`, true},
		{`{"claudeAiOauth":{"accessToken":""}}`, true}, // a login that has ended
		{`{"claudeAiOauth":{"accessToken":"t"},"other":1}`, true},
		{``, false},
		{`{}`, false},
		{`null`, false},
		{`[]`, false},
		{`{"claudeAiOauth":`, false}, // torn
		{`{"claudeAiOauth":{"accessToken":"t"`, false},
		{`{"claudeAiOauth":{"accessToken":"t"}} trailing`, false},
		{`{"claudeAiOauth":null}`, false},
		{`{"claudeAiOauth":{}}`, false},
		{`{"claudeAiOauth":{"accessToken":null}}`, false},
		{`{"claudeAiOauth":{"accessToken":5}}`, false},
		{`{"claudeAiOauth":"t"}`, false},
		{`{"auths":{"registry":{"auth":"c2VjcmV0"}}}`, false}, // another tool's
		{`{"other":{"claudeAiOauth":{"accessToken":"t"}}}`, false},
		{`"claudeAiOauth accessToken"`, false},
	} {
		if got := IsCredentials([]byte(c.in)); got != c.want {
			t.Errorf("IsCredentials(%s) = %v, want %v", c.in, got, c.want)
		}
	}
}
