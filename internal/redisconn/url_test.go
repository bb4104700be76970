package redisconn_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/internal/redisconn"
	"github.com/ut360/ut360/internal/testenv"
)

const secret = "s3cr3t-pw"

func TestParse(t *testing.T) {
	type want struct {
		cluster  bool
		addrs    []string // Single: one address
		user     string
		password string
		tls      bool
		db       int
		check    func(t *testing.T, c *redisconn.Config)
	}
	good := []struct {
		name, url string
		want      want
	}{
		{"redis", "redis://127.0.0.1:6379/13", want{addrs: []string{"127.0.0.1:6379"}, db: 13}},
		{"redis with password", "redis://u:" + secret + "@h:1/2?dial_timeout=3s", want{addrs: []string{"h:1"}, user: "u", password: secret, db: 2,
			check: func(t *testing.T, c *redisconn.Config) {
				if c.Single.DialTimeout != 3*time.Second {
					t.Errorf("DialTimeout = %v", c.Single.DialTimeout)
				}
			}}},
		{"rediss", "rediss://h:6380", want{addrs: []string{"h:6380"}, tls: true}},
		{"unix", "unix:///run/redis.sock?db=3", want{addrs: []string{"/run/redis.sock"}, db: 3}},
		{"cluster one seed", "redis+cluster://127.0.0.1:7001", want{cluster: true, addrs: []string{"127.0.0.1:7001"}}},
		{"cluster three seeds", "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003",
			want{cluster: true, addrs: []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}}},
		{"cluster password and slash", "redis+cluster://:" + secret + "@h1:1,h2:2/", want{cluster: true, addrs: []string{"h1:1", "h2:2"}, password: secret}},
		{"cluster user, @ in password", "redis+cluster://ops:a%40b@h1:1,h2:2", want{cluster: true, addrs: []string{"h1:1", "h2:2"}, user: "ops", password: "a@b"}},
		{"cluster default port, IPv6", "redis+cluster://node-a,[::1]:7002", want{cluster: true, addrs: []string{"node-a:6379", "[::1]:7002"}}},
		{"cluster db 0 and options", "redis+cluster://h1:1,h2:2/0?read_timeout=2s&max_redirects=5&addr=h3:3",
			want{cluster: true, addrs: []string{"h1:1", "h3:3", "h2:2"}, check: func(t *testing.T, c *redisconn.Config) {
				if c.Cluster.ReadTimeout != 2*time.Second || c.Cluster.MaxRedirects != 5 {
					t.Errorf("ReadTimeout %v MaxRedirects %d", c.Cluster.ReadTimeout, c.Cluster.MaxRedirects)
				}
			}}},
		{"cluster TLS", "rediss+cluster://h1:1,h2:2", want{cluster: true, addrs: []string{"h1:1", "h2:2"}, tls: true}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			c, err := redisconn.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if (c.Cluster != nil) != tc.want.cluster || (c.Single != nil) == tc.want.cluster {
				t.Fatalf("Single %v, Cluster %v; want cluster=%v", c.Single != nil, c.Cluster != nil, tc.want.cluster)
			}
			var addrs []string
			var user, pw string
			var tls bool
			var db int
			if c.Cluster != nil {
				addrs, user, pw, tls = c.Cluster.Addrs, c.Cluster.Username, c.Cluster.Password, c.Cluster.TLSConfig != nil
			} else {
				addrs, user, pw, tls, db = []string{c.Single.Addr}, c.Single.Username, c.Single.Password, c.Single.TLSConfig != nil, c.Single.DB
			}
			if fmt.Sprint(addrs) != fmt.Sprint(tc.want.addrs) || user != tc.want.user || pw != tc.want.password || tls != tc.want.tls || db != tc.want.db {
				t.Errorf("got addrs %v user %q password %q tls %v db %d; want %+v", addrs, user, pw, tls, db, tc.want)
			}
			if tc.want.check != nil {
				tc.want.check(t, c)
			}
		})
	}

	bad := []struct{ name, url, says string }{
		{"empty", "", "want scheme"},
		{"no scheme", "127.0.0.1:6379", "want scheme"},
		{"other scheme", "http://u:" + secret + "@h:1", "unsupported scheme"},
		{"cluster without node", "redis+cluster://", "no node address"},
		{"cluster only userinfo", "redis+cluster://u:" + secret + "@/?dial_timeout=1", "no node address"},
		{"cluster empty seed", "redis+cluster://h1:1,,h2:2", "empty node address"},
		{"cluster trailing comma", "redis+cluster://u:" + secret + "@h1:1,", "empty node address"},
		{"cluster bad port", "redis+cluster://h1:port", "port must be"},
		{"cluster port range", "redis+cluster://h1:70000", "port must be"},
		{"cluster no host", "redis+cluster://:7001", "no host"},
		{"cluster database", "redis+cluster://u:" + secret + "@h1:1/3", "database 0 only"},
		{"cluster unknown option", "redis+cluster://u:" + secret + "@h1:1?bogus=1", "unexpected option"},
		{"cluster fragment", "redis+cluster://h1:1#x", "fragment"},
		{"cluster bad query", "redis+cluster://h1:1?a=%zz", "query"},
		{"redis with addr", "redis://u:" + secret + "@h1:1?addr=h2:2", "redis+cluster://"},
		{"redis bad db", "redis://u:" + secret + "@h:1/abc", "invalid database"},
		{"redis bad port", "redis://u:" + secret + "@h:x/0", "invalid port"},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			_, err := redisconn.Parse(tc.url)
			var ue *redisconn.URLError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) = %v, want a *URLError", tc.url, err)
			}
			msg := err.Error()
			if strings.Contains(msg, secret) || strings.Contains(ue.URL, secret) {
				t.Errorf("password in the error: %s", msg)
			}
			if !strings.Contains(msg, tc.says) {
				t.Errorf("error %q does not say %q", msg, tc.says)
			}
		})
	}
}

func TestOpenRefusesTheWrongKindOfServer(t *testing.T) {
	cc := testenv.Cluster(t)
	node := cc.Options().Addrs[0]
	single := testenv.NewRedis(t) // the single instance of `make services`
	ctx := context.Background()
	for _, tc := range []struct {
		name, url string
		want      error
	}{
		{"cluster node as one server", "redis://" + node, redisconn.ErrClusterNode},
		{"one server as a cluster", strings.Replace(single.URL, "redis://", "redis+cluster://", 1), redisconn.ErrNotCluster},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasSuffix(tc.url, "/13") {
				tc.url = strings.TrimSuffix(tc.url, "/13") // a cluster has database 0 only; nothing is written
			}
			rdb, err := redisconn.Open(ctx, tc.url)
			if rdb != nil {
				rdb.Close()
			}
			var ue *redisconn.URLError
			if !errors.As(err, &ue) || !errors.Is(err, tc.want) {
				t.Fatalf("Open(%s) = %v, want a *URLError wrapping %v", tc.url, err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("password in the error: %v", err)
			}
		})
	}
}

func TestOpenUnreachableIsNotAURLError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, u := range []string{"redis+cluster://u:" + secret + "@127.0.0.1:1,127.0.0.1:2", "redis://u:" + secret + "@127.0.0.1:1/0"} {
		rdb, err := redisconn.Open(ctx, u)
		if err == nil {
			rdb.Close()
			t.Fatalf("Open(%s) succeeded", u)
		}
		var ue *redisconn.URLError
		if errors.As(err, &ue) {
			t.Errorf("Open(%s) = %v: a URLError (exit 2), want a runtime fault", u, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("password in the error: %v", err)
		}
		if !redisconn.IsNetworkError(err) {
			t.Errorf("IsNetworkError(%v) = false", err)
		}
	}
}

func TestIsNetworkError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{refused, true},
		{fmt.Errorf("wrapped: %w", refused), true},
		{io.EOF, true},
		{io.ErrUnexpectedEOF, true},
		{syscall.ECONNRESET, true},
		{&net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, true},
		{timeoutErr{}, true},
		{context.Canceled, false},
		{context.DeadlineExceeded, false},
		{redis.Nil, false},
		{errors.New("CLUSTERDOWN The cluster is down"), false},
		{redis.ErrClosed, false},
	} {
		if got := redisconn.IsNetworkError(tc.err); got != tc.want {
			t.Errorf("IsNetworkError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
