// Package testenv gives each test its own PostgreSQL schema and Redis
// namespace on the real servers, and removes them afterwards. It never
// flushes a Redis database or drops anything it did not create. When a server
// is unreachable the test FAILS with a message saying how to start it.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/internal/redact"
	"github.com/ut360/ut360/migrations"
)

// Defaults, overridable with UT360_TEST_PG_URL and UT360_TEST_REDIS_URL.
const (
	DefaultPG    = "postgres://postgres@127.0.0.1:5432/ut360_test?sslmode=disable"
	DefaultRedis = "redis://127.0.0.1:6379/13" // a database only ut360 tests use: SCANs in cleanups never walk other data
)

const hint = "start the services with `make services` (or set UT360_TEST_PG_URL / UT360_TEST_REDIS_URL)"

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// ID returns a short random identifier, safe in schema names and keys.
func ID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// PG is a private PostgreSQL schema for one test.
type PG struct {
	// URL connects with search_path set to the private schema.
	URL string
	// Schema is the schema's name.
	Schema string
	// Pool is connected to URL.
	Pool *pgxpool.Pool
}

// NewPG creates a private schema (in database ut360_test, created when
// missing) and drops it when the test ends.
func NewPG(t testing.TB) *PG {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := getenv("UT360_TEST_PG_URL", DefaultPG)
	if err := migrations.EnsureDatabase(ctx, base); err != nil {
		t.Fatalf("PostgreSQL unreachable at %s: %v — %s", redact.URL(base), err, hint)
	}
	schema := "t_" + ID()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("UT360_TEST_PG_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL unreachable at %s: %v — %s", redact.URL(base), err, hint)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatalf("connect %s: %v", redact.URL(u.String()), err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("cleanup: drop schema %s: %v", schema, err)
		}
	})
	return &PG{URL: u.String(), Schema: schema, Pool: pool}
}

// NewMigratedPG is NewPG with every migration applied.
func NewMigratedPG(t testing.TB) *PG {
	t.Helper()
	pg := NewPG(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := migrations.Up(ctx, conn); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	return pg
}

// Redis is a private Redis namespace for one test.
type Redis struct {
	// URL is the server's URL.
	URL string
	// Namespace is the private key prefix (no trailing colon).
	Namespace string
	// Client is connected to URL.
	Client *redis.Client
}

// NewRedis picks a unique namespace and deletes its keys when the test ends.
func NewRedis(t testing.TB) *Redis {
	t.Helper()
	u := getenv("UT360_TEST_REDIS_URL", DefaultRedis)
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("UT360_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis unreachable at %s: %v — %s", redact.URL(u), err, hint)
	}
	ns := "ut360test-" + ID()
	t.Cleanup(func() {
		if err := DeleteNamespace(context.Background(), c, ns); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		c.Close()
	})
	return &Redis{URL: u, Namespace: ns, Client: c}
}

// DeleteNamespace removes every key under ns: (and nothing else).
func DeleteNamespace(ctx context.Context, c *redis.Client, ns string) error {
	it := c.Scan(ctx, 0, ns+":*", 20000).Iterator() // large COUNT: few round trips on a big shared server
	var batch []string
	for it.Next(ctx) {
		batch = append(batch, it.Val())
		if len(batch) == 1000 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("scan %s: %w", ns, err)
	}
	if len(batch) > 0 {
		return c.Unlink(ctx, batch...).Err()
	}
	return nil
}

// KillClients closes every connection named name on admin's server (CLIENT
// KILL ID), as a network fault would, and returns how many it closed.
func KillClients(ctx context.Context, admin *redis.Client, name string) (int, error) {
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		return 0, err
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok && admin.ClientKillByFilter(ctx, "ID", id).Err() == nil {
				killed++
			}
		}
	}
	return killed, nil
}
