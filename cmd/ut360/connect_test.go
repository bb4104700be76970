package main

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/testenv"
)

// fakePG accepts PostgreSQL connections and answers every startup with the
// FATAL error a real server sends for a wrong password (SQLSTATE 28P01), so
// the whole path (pgconn, the CLI's classification, the printed line) runs on
// a real wire error. The local test server trusts every connection, so it
// cannot produce this one.
func fakePG(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				be := pgproto3.NewBackend(c, c)
				if _, err := be.ReceiveStartupMessage(); err != nil {
					return
				}
				be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01",
					Message: `password authentication failed for user "ut360"`})
				_ = be.Flush()
			}()
		}
	}()
	return ln.Addr().String()
}

// TestConnectionErrors: every way of failing to reach a store gives one line
// that names the store (password masked), what is wrong and what to do, with
// the documented exit code.
func TestConnectionErrors(t *testing.T) {
	const secret = "s3cr3t-PW"
	pg := testenv.NewPG(t) // a real server; its URL names a database that exists
	base, err := url.Parse(pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	with := func(mod func(u *url.URL)) string {
		u := *base
		q := u.Query()
		q.Del("search_path")
		u.RawQuery = q.Encode()
		mod(&u)
		return u.String()
	}
	noDB := with(func(u *url.URL) { u.Path = "/ut360_missing_" + testenv.ID() })
	noRole := with(func(u *url.URL) { u.User = url.UserPassword("ut360_no_role_"+testenv.ID(), secret) })
	wrongPW := "postgres://ut360:" + secret + "@" + fakePG(t) + "/ut360?sslmode=disable"
	closed := "postgres://ut360:" + secret + "@127.0.0.1:1/ut360?sslmode=disable&connect_timeout=2"

	// A schema one migration behind, and one with none.
	behind := testenv.NewPG(t)
	if code, out, errs := runUT(t, "--pg", behind.URL, "migrate", "up"); code != exitcode.OK {
		t.Fatalf("migrate up: %d %s %s", code, out, errs)
	}
	if code, out, errs := runUT(t, "--pg", behind.URL, "migrate", "down"); code != exitcode.OK {
		t.Fatalf("migrate down: %d %s %s", code, out, errs)
	}
	empty := testenv.NewPG(t)

	// Redis: a private server with a password.
	redisPW := testenv.StartRedis(t, "--requirepass", "right-"+secret)
	wrongRedis := "redis://:" + secret + "@" + redisPW + "/0"
	noPWRedis := "redis://" + redisPW + "/0"

	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"server down: migrate", []string{"--pg", closed, "migrate", "status"}, exitcode.Fault,
			[]string{"PostgreSQL at postgres://ut360:xxxxx@127.0.0.1:1/", "is not running", "make services", "UT360_PG_URL"}},
		{"server down: verify", []string{"--pg", closed, "verify"}, exitcode.Fault,
			[]string{"127.0.0.1:1", "is not running", "make services"}},
		{"server down: Redis", []string{"--redis", "redis://:" + secret + "@127.0.0.1:1/0", "load", "--to", "redis", "--data", t.TempDir()}, exitcode.Fault,
			[]string{"Redis at redis://:xxxxx@127.0.0.1:1/0", "is not running", "make services", "UT360_REDIS_URL"}},
		{"database missing: verify", []string{"--pg", noDB, "verify"}, exitcode.Fault,
			[]string{"answers, but database", "does not exist", "ut360 migrate up"}},
		{"database missing: migrate status", []string{"--pg", noDB, "migrate", "status"}, exitcode.Fault,
			[]string{"does not exist", "ut360 migrate up"}},
		{"database missing: bench", []string{"--pg", noDB, "bench", "--target", "postgres", "--all"}, exitcode.Fault,
			[]string{"does not exist", "ut360 migrate up"}},
		{"malformed URL: migrate up", []string{"--pg", "notaurl", "migrate", "up"}, exitcode.Usage, []string{"--pg notaurl"}},
		{"malformed URL: migrate status", []string{"--pg", "notaurl", "migrate", "status"}, exitcode.Usage, []string{"--pg notaurl"}},
		{"malformed URL: migrate down", []string{"--pg", "notaurl", "migrate", "down"}, exitcode.Usage, []string{"--pg notaurl"}},
		{"malformed URL: load", []string{"--pg", "notaurl", "load", "--data", t.TempDir()}, exitcode.Usage, []string{"--pg notaurl"}},
		{"malformed URL: verify", []string{"--pg", "notaurl", "verify"}, exitcode.Usage, []string{"--pg notaurl"}},
		{"malformed URL: capacity", []string{"--pg", "notaurl", "capacity"}, exitcode.Usage, []string{"--pg notaurl"}},
		{"malformed URL: bench", []string{"--pg", "notaurl", "bench", "--target", "postgres", "--all"}, exitcode.Usage, []string{"--pg"}},
		{"malformed URL: demo", []string{"--pg", "notaurl", "demo"}, exitcode.Usage, []string{"--pg notaurl"}},
		{"malformed Redis URL", []string{"--redis", "http://x", "verify"}, exitcode.Usage, []string{"--redis"}},
		{"wrong password (28P01 from a fake server)", []string{"--pg", wrongPW, "verify"}, exitcode.Fault,
			[]string{"authentication failed for user \"ut360\"", "wrong password", "UT360_PG_URL"}},
		{"unknown user (28000 from the real server)", []string{"--pg", noRole, "migrate", "status"}, exitcode.Fault,
			[]string{"authentication failed for user \"ut360_no_role_", "does not exist"}},
		{"wrong Redis password", []string{"--redis", wrongRedis, "load", "--to", "redis", "--data", t.TempDir()}, exitcode.Fault,
			[]string{"authentication failed for user \"default\"", "wrong password", "UT360_REDIS_URL"}},
		{"Redis password missing", []string{"--redis", noPWRedis, "load", "--to", "redis", "--data", t.TempDir()}, exitcode.Fault,
			[]string{"requires a password", "UT360_REDIS_URL"}},
		{"schema behind: verify", []string{"--pg", behind.URL, "verify"}, exitcode.Fault,
			[]string{`schema "` + behind.Schema + `" is at version 4 of 5`, "migration 005_campaign_index.sql is pending", "ut360 migrate up"}},
		{"schema behind: capacity", []string{"--pg", behind.URL, "capacity"}, exitcode.Fault,
			[]string{"005_campaign_index.sql is pending", "ut360 migrate up"}},
		{"schema behind: bench", []string{"--pg", behind.URL, "bench", "--target", "postgres", "--all"}, exitcode.Fault,
			[]string{"005_campaign_index.sql is pending", "ut360 migrate up"}},
		{"no tables", []string{"--pg", empty.URL, "verify"}, exitcode.Fault,
			[]string{"has no ut360 tables", "ut360 migrate up"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runUT(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			oneErrLine(t, stderr, tc.want...)
			if strings.Contains(stderr, secret) {
				t.Errorf("the password is printed: %s", stderr)
			}
		})
	}

	// The schema check leaves nothing behind (no version table in the empty schema).
	var n int
	if err := empty.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_tables WHERE schemaname = $1", empty.Schema).Scan(&n); err != nil || n != 0 {
		t.Errorf("the schema check created %d tables (%v)", n, err)
	}
}
