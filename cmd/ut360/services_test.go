package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/testenv"
)

// TestServicesScript runs scripts/services.sh as `make services` would on a
// fresh machine: from a clone under a mode-700 home, with UT360_PG_URL and
// UT360_REDIS_URL naming free loopback ports. Both servers must answer on
// those ports (and ut360 must migrate the private PostgreSQL); "down" must
// return only once both have stopped. As root it runs the script as root (the
// PostgreSQL data then lives outside the clone, as the postgres user cannot
// enter the home) and as the unprivileged user "nobody".
func TestServicesScript(t *testing.T) {
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "services.sh"))
	if err != nil {
		t.Fatal(err)
	}
	users := []string{""} // the current user
	if os.Getuid() == 0 {
		if _, err := user.Lookup("nobody"); err == nil {
			users = append(users, "nobody")
		}
	}
	for _, as := range users {
		name := "as " + as
		if as == "" {
			u, _ := user.Current()
			name = "as " + u.Username
		}
		t.Run(name, func(t *testing.T) { servicesRoundTrip(t, script, as) })
	}
}

// tempDir is a directory directly under the system's temporary folder
// (t.TempDir's parent is mode 700, closed to other users), removed afterwards.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ut360-services-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func servicesRoundTrip(t *testing.T, script, as string) {
	// The clone: <home>/repo/scripts/services.sh, home mode 700 and owned by the user.
	home := tempDir(t)
	repo := filepath.Join(home, "repo")
	if err := os.MkdirAll(filepath.Join(repo, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "scripts", "services.sh"), body, 0o755); err != nil {
		t.Fatal(err)
	}
	// Where root's private PostgreSQL data goes: reachable by the postgres user, removed with the test.
	tmp := tempDir(t)
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	if as != "" {
		u, err := user.Lookup(as)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := filepath.Walk(home, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	pgPort, redisPort := testenv.FreePort(t), testenv.FreePort(t)
	pgURL := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/ut360_svc?sslmode=disable&connect_timeout=5", pgPort)
	redisURL := fmt.Sprintf("redis://127.0.0.1:%d/0", redisPort)
	sh := func(arg string) string {
		t.Helper()
		args := []string{filepath.Join(repo, "scripts", "services.sh"), arg}
		if as != "" {
			args = append([]string{"runuser", "-u", as, "--"}, args...)
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = os.TempDir() // not the clone: as another user, the home is closed to root's cwd too
		cmd.Env = append(os.Environ(), "UT360_NO_BROWSER=1", "UT360_SERVICES_TMP="+tmp,
			"UT360_PG_URL="+pgURL, "UT360_REDIS_URL="+redisURL, "UT360_PGPORT=", "UT360_REDISPORT=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("services.sh %s: %v\n%s", arg, err, out)
		}
		return string(out)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			sh("down")
		}
	})
	out := sh("up")
	for _, want := range []string{fmt.Sprintf("started private PostgreSQL on 127.0.0.1:%d", pgPort), fmt.Sprintf("started private Redis on 127.0.0.1:%d", redisPort)} {
		if !strings.Contains(out, want) {
			t.Errorf("up printed no %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(repo, ".services", "state")); err != nil {
		t.Errorf("no state file: %v", err)
	}

	// Both answer; ut360 creates the database and migrates it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code, stdout, stderr := runUT(t, "--pg", pgURL, "migrate", "up"); code != exitcode.OK || !strings.Contains(stdout, "schema version") {
		t.Errorf("migrate up on the private PostgreSQL: exit %d\n%s%s", code, stdout, stderr)
	}
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", redisPort)})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Errorf("private Redis: %v", err)
	}
	if lp, err := rdb.ConfigGet(ctx, "hash-max-listpack-value").Result(); err != nil || lp["hash-max-listpack-value"] != "4096" {
		t.Errorf("private Redis hash-max-listpack-value: %v %v", lp, err)
	}

	// A second up changes nothing.
	if out := sh("up"); !strings.Contains(out, "PostgreSQL answers") || !strings.Contains(out, "Redis answers") {
		t.Errorf("second up:\n%s", out)
	}

	// down returns only when both have stopped: nothing answers right after it.
	out = sh("down")
	stopped = true
	if !strings.Contains(out, "stopped private PostgreSQL") || !strings.Contains(out, "stopped private Redis") {
		t.Errorf("down:\n%s", out)
	}
	for _, port := range []int{pgPort, redisPort} {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d still accepts connections right after down", port)
		}
	}
	if conn, err := pgx.Connect(ctx, pgURL); err == nil {
		conn.Close(ctx)
		t.Error("PostgreSQL still answers after down")
	}
	// down again: nothing to stop, nothing printed about stopping.
	if out := sh("down"); strings.Contains(out, "stopped") {
		t.Errorf("second down stopped something:\n%s", out)
	}
}
