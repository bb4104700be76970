// Package redact removes secrets from text before it is printed or written.
package redact

import (
	"net/url"
	"regexp"
)

// userinfo matches the password part of scheme://user:password@host. The
// password runs to the last '@' of the token (greedy), as in url.Parse, so a
// password containing '@' is masked whole.
var userinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)\S*@`)

// pgPassword matches password=... in a key/value PostgreSQL connection string.
var pgPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)

// Mask replaces a redacted password.
const Mask = "xxxxx"

// URL returns u with its password masked; text that does not parse as a URL
// is masked by pattern.
func URL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return String(u)
	}
	if _, has := p.User.Password(); has {
		p.User = url.UserPassword(p.User.Username(), Mask)
	}
	q := p.Query()
	if q.Has("password") {
		q.Set("password", Mask)
		p.RawQuery = q.Encode()
	}
	return p.String()
}

// String masks every URL password and password=value in s.
func String(s string) string {
	s = userinfo.ReplaceAllString(s, "${1}"+Mask+"@")
	return pgPassword.ReplaceAllString(s, "${1}"+Mask)
}
