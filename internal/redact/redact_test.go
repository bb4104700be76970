package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://postgres@127.0.0.1:5432/ut360?sslmode=disable", "postgres://postgres@127.0.0.1:5432/ut360?sslmode=disable"},
		{"postgres://u:secret@db:5432/ut360", "postgres://u:xxxxx@db:5432/ut360"},
		{"postgresql://u:p%40ss%3Aw0rd@db/ut360?sslmode=require", "postgresql://u:xxxxx@db/ut360?sslmode=require"},
		{"redis://:secret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"rediss://default:secret@cache:6380", "rediss://default:xxxxx@cache:6380"},
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"postgres://u@db/ut360?password=secret&sslmode=disable", "postgres://u@db/ut360?password=xxxxx&sslmode=disable"},
		{"host=db user=u password=secret dbname=ut360", "host=db user=u password=xxxxx dbname=ut360"},
		{"host=db password='se cret' dbname=ut360", "host=db password=xxxxx dbname=ut360"},
		{"", ""},
	} {
		got := URL(tc.in)
		if got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "secret") || strings.Contains(got, "w0rd") {
			t.Errorf("URL(%q) leaks the password: %q", tc.in, got)
		}
	}
}

func TestURLPasswordOnlyInQuery(t *testing.T) {
	// No userinfo at all, password only as a query parameter.
	got := URL("postgres://db/ut360?password=secret")
	if strings.Contains(got, "secret") {
		t.Errorf("password in the query leaked: %q", got)
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`failed to connect to "postgres://u:hunter2@db:5432/ut360": refused`,
			`failed to connect to "postgres://u:xxxxx@db:5432/ut360": refused`},
		{"two: redis://:a@h1:1 and postgres://b:c@h2/x", "two: redis://:xxxxx@h1:1 and postgres://b:xxxxx@h2/x"},
		{"dsn password=hunter2 user=u", "dsn password=xxxxx user=u"},
		{"PASSWORD = hunter2", "PASSWORD = xxxxx"},
		{"no secrets here: postgres://u@db/x", "no secrets here: postgres://u@db/x"},
		{"email u@example.com:8080", "email u@example.com:8080"},
		{"at in password: postgres://u:p@ss@db/x failed", "at in password: postgres://u:xxxxx@db/x failed"},
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
