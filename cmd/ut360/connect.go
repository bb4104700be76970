package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"

	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/redact"
	"github.com/ut360/ut360/migrations"
)

// Connection errors that say what to do. Every one is a single line naming
// the store and its URL (password masked), what is wrong and the command that
// fixes it. A URL that does not parse is a usage error (exit 2); everything
// found out by talking to the server is a runtime fault (exit 3): nothing
// answers, the database or the schema is missing, authentication failed.

// startHint says how to get a server when none answers.
const startHint = "start one with `make services` (private PostgreSQL and Redis on loopback), or point %s at a running server"

// hintError is a one-line explanation with the error it explains: Error
// prints the explanation and a short cause; errors.Is and errors.As see the
// whole original error.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg }

// Unwrap returns the explained error.
func (e *hintError) Unwrap() error { return e.err }

// fault is a runtime fault (exit 3) explained by the formatted message, with
// the short form of err appended in parentheses.
func fault(err error, format string, args ...any) error {
	return exitcode.Wrap(exitcode.Fault, &hintError{msg: fmt.Sprintf(format, args...) + " (" + shortCause(err) + ")", err: err})
}

// shortCause is the innermost useful text of a connection error: the
// server's message, or the network failure without the driver's preamble.
func shortCause(err error) string {
	var pgErr *pgconn.PgError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &pgErr):
		return "server: " + pgErr.Message
	case errors.As(err, &dnsErr):
		return dnsErr.Error()
	case errors.As(err, &opErr):
		return opErr.Error()
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// pgConnError explains a failed connection to the PostgreSQL server at u as
// user to database.
func pgConnError(u, user, database string, err error) error {
	at := "PostgreSQL at " + redact.URL(u)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "3D000": // invalid_catalog_name
			return fault(err, "%s answers, but database %q does not exist: run `ut360 migrate up` (it creates the database and the tables)", at, database)
		case "28P01": // invalid_password
			return fault(err, "%s: authentication failed for user %q (wrong password): fix the password in --pg / UT360_PG_URL (or ~/.pgpass)", at, user)
		case "28000": // invalid_authorization_specification: no such role, or pg_hba.conf refuses
			return fault(err, "%s: authentication failed for user %q (the server refuses this user): check the user in --pg / UT360_PG_URL and the server's pg_hba.conf", at, user)
		case "42501": // insufficient_privilege (creating the database)
			return fault(err, "%s: user %q may not create database %q: have an administrator run CREATE DATABASE, or name an existing database in --pg", at, user, database)
		case "57P03": // cannot_connect_now
			return fault(err, "%s is starting up or shutting down: retry in a moment", at)
		case "53300": // too_many_connections
			return fault(err, "%s has no connection slot left: close idle clients or raise max_connections", at)
		}
		return fault(err, "%s refused the connection", at)
	}
	return fault(err, "%s %s: "+startHint, at, unreachable(err), "--pg (UT360_PG_URL)")
}

// redisConnError explains a failed connection to the Redis server at u as
// user ("" is Redis's default user).
func redisConnError(u, user string, err error) error {
	at := "Redis at " + redact.URL(u)
	if user == "" {
		user = "default"
	}
	msg := err.Error()
	var reply redis.Error // the server's own reply, under redisconn's wrapping
	if errors.As(err, &reply) {
		msg = reply.Error()
	}
	switch {
	case strings.HasPrefix(msg, "WRONGPASS"), strings.Contains(msg, "invalid password"), strings.Contains(msg, "invalid username-password"):
		return fault(err, "%s: authentication failed for user %q (wrong password): fix the password in --redis / UT360_REDIS_URL (redis://user:password@host:port/db)", at, user)
	case strings.HasPrefix(msg, "NOAUTH"):
		return fault(err, "%s requires a password: put it in --redis / UT360_REDIS_URL (redis://:password@host:port/db)", at)
	case strings.Contains(msg, "without any password configured"):
		return fault(err, "%s has no password set: drop the password from --redis / UT360_REDIS_URL", at)
	case strings.Contains(msg, "DB index is out of range"):
		return fault(err, "%s has no such database number: pick one below its `databases` setting in --redis", at)
	case strings.HasPrefix(msg, "LOADING"):
		return fault(err, "%s is loading its dataset: retry in a moment", at)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded) {
		return fault(err, "%s %s: "+startHint, at, unreachable(err), "--redis (UT360_REDIS_URL)")
	}
	return fault(err, "%s refused the connection", at)
}

// unreachable words a network failure.
func unreachable(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "is not running (nothing answers on that port)"
	case errors.As(err, &dnsErr):
		return "is unreachable (unknown host)"
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "is unreachable (no answer in time)"
	}
	return "is unreachable"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// migratesItself names the commands that apply pending migrations
// themselves, so their connections skip the schema check.
var migratesItself = map[string]bool{"load": true, "demo": true}

// checkSchema fails when the schema lacks a migration this binary knows (the
// readers, verify, bench and capacity, need every table and index).
func checkSchema(c *cli.Context, q migrations.Querier) error {
	for _, l := range c.Lineage() {
		if l.Command != nil && migratesItself[l.Command.Name] {
			return nil
		}
	}
	if _, err := migrations.Check(c.Context, q); err != nil {
		return exitcode.Wrap(exitcode.Fault, fmt.Errorf("PostgreSQL at %s: %w", redact.URL(c.String("pg")), err))
	}
	return nil
}

// redisLog carries go-redis's internal log lines (dial retries and the like)
// to the debug log of --verbose; main installs it, so a connection failure
// prints one explained line instead of the pool's retries.
type redisLog struct{}

// redisLogger is the --verbose logger, nil when not verbose.
var redisLogger atomic.Pointer[slog.Logger]

// Printf logs one go-redis line at debug level when --verbose is on.
func (redisLog) Printf(_ context.Context, format string, v ...any) {
	if l := redisLogger.Load(); l != nil {
		l.Debug("go-redis: " + fmt.Sprintf(format, v...))
	}
}
