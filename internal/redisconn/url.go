// Package redisconn opens ut360's Redis connections from a URL, one server or
// a Redis Cluster alike, and holds the operations that must visit every node
// of a cluster: SCAN of every master (surviving a failover), CONFIG SET on
// every node, the list of masters and the check for migrating slots.
//
// URLs (docs/cluster.md):
//
//	redis://[user:password@]host:port[/db][?option=value…]     one server (go-redis ParseURL)
//	rediss://…                                                  the same over TLS
//	unix://[user:password@]/path/to/redis.sock[?db=N…]          one server on a Unix socket
//	redis+cluster://[user:password@]h1:p1,h2:p2[,…][/][?option=value…]   a Redis Cluster
//	rediss+cluster://…                                          a Redis Cluster over TLS
//
// A cluster URL lists one or more seed nodes (the client learns the others);
// a port left out is 6379. Its options are those of go-redis ParseClusterURL
// (dial_timeout, read_timeout, pool_size, max_redirects, …); a cluster has
// database 0 only.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/internal/redact"
)

// Cluster URL schemes.
const (
	SchemeCluster    = "redis+cluster"
	SchemeClusterTLS = "rediss+cluster"
)

// defaultPort is the port of a cluster seed address written without one.
const defaultPort = "6379"

var (
	// ErrClusterNode: a single-server URL names a node of a Redis Cluster
	// (use redis+cluster://).
	ErrClusterNode = errors.New("the server is a Redis Cluster node: use a redis+cluster:// URL")
	// ErrNotCluster: a cluster URL names a server without cluster support.
	ErrNotCluster = errors.New("the server is not a Redis Cluster node (cluster support disabled): use a redis:// URL")
)

// URLError is a Redis URL that is malformed, unsupported, or names the wrong
// kind of server (ErrClusterNode, ErrNotCluster): bad input, which the CLI
// reports with exit code 2. Its message never holds the URL's password.
type URLError struct {
	// URL is the URL with its password masked.
	URL string
	// Err is the cause, its text redacted too.
	Err error
}

func (e *URLError) Error() string { return fmt.Sprintf("redis URL %s: %v", e.URL, e.Err) }

// Unwrap returns the cause.
func (e *URLError) Unwrap() error { return e.Err }

// urlError builds a URLError for raw; a *url.Error cause (whose text quotes
// the whole URL) is rebuilt around the masked URL.
func urlError(raw string, err error) *URLError {
	masked := redactURL(raw)
	var ue *url.Error
	if errors.As(err, &ue) {
		err = &url.Error{Op: ue.Op, URL: masked, Err: ue.Err}
	}
	return &URLError{URL: masked, Err: err}
}

// redactURL masks the password of any of the URL forms above.
func redactURL(raw string) string { return redact.String(redact.URL(raw)) }

// Config is a parsed Redis URL: exactly one of Single and Cluster is set.
type Config struct {
	// Single holds the options of one server (redis, rediss, unix).
	Single *redis.Options
	// Cluster holds the options of a Redis Cluster (redis+cluster, rediss+cluster).
	Cluster *redis.ClusterOptions
}

// Parse reads a Redis URL (see the package documentation) without
// connecting. Every error is a *URLError.
func Parse(raw string) (*Config, error) {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok || raw == "" {
		return nil, urlError(raw, errors.New("want scheme://…: redis, rediss, unix, redis+cluster or rediss+cluster"))
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix":
		opt, err := redis.ParseURL(raw)
		if err != nil {
			if u, perr := url.Parse(raw); perr == nil && u.Query().Has("addr") {
				err = fmt.Errorf("%w (for a cluster write redis+cluster://host1:port1,host2:port2)", err)
			}
			return nil, urlError(raw, err)
		}
		return &Config{Single: opt}, nil
	case SchemeCluster, SchemeClusterTLS:
		opt, err := parseCluster(raw)
		if err != nil {
			return nil, urlError(raw, err)
		}
		return &Config{Cluster: opt}, nil
	default:
		return nil, urlError(raw, fmt.Errorf("unsupported scheme %q: want redis, rediss, unix, redis+cluster or rediss+cluster", scheme))
	}
}

// parseCluster converts redis+cluster://[userinfo@]h1:p1,h2:p2[/][?query]
// into go-redis's cluster form redis://[userinfo@]h1:p1?addr=h2:p2&query
// and parses that with redis.ParseClusterURL.
func parseCluster(raw string) (*redis.ClusterOptions, error) {
	scheme, rest, _ := strings.Cut(raw, "://")
	base := "redis"
	if strings.EqualFold(scheme, SchemeClusterTLS) {
		base = "rediss"
	}
	if strings.Contains(rest, "#") {
		return nil, errors.New("a fragment (#…) is not allowed")
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo := ""
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, authority = authority[:i+1], authority[i+1:]
	}
	if authority == "" {
		return nil, errors.New("no node address: want host:port[,host:port…]")
	}
	var addrs []string
	for _, a := range strings.Split(authority, ",") {
		addr, err := seedAddr(a)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	path, rawQuery, _ := strings.Cut(tail, "?")
	if path != "" && path != "/" && path != "/0" {
		return nil, fmt.Errorf("path %q: a Redis Cluster has database 0 only", path)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	for _, a := range addrs[1:] {
		q.Add("addr", a)
	}
	u := base + "://" + userinfo + addrs[0]
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	opt, err := redis.ParseClusterURL(u)
	if err != nil {
		return nil, err
	}
	return opt, nil
}

// seedAddr validates one host[:port] of a cluster URL; the port defaults to 6379.
func seedAddr(a string) (string, error) {
	if a == "" {
		return "", errors.New("empty node address (two commas, or a trailing comma)")
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		if host, port, err = net.SplitHostPort(a + ":" + defaultPort); err != nil {
			return "", fmt.Errorf("node address %q: want host:port", a)
		}
	}
	if host == "" {
		return "", fmt.Errorf("node address %q: no host", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("node address %q: port must be 1-65535", a)
	}
	return net.JoinHostPort(host, port), nil
}

// Option adjusts the client options Open derives from the URL.
type Option func(*Config)

// WithOptions lets fn adjust the options of a single-server client (not
// called for a cluster URL).
func WithOptions(fn func(*redis.Options)) Option {
	return func(c *Config) {
		if c.Single != nil {
			fn(c.Single)
		}
	}
}

// WithClusterOptions lets fn adjust the options of a cluster client (not
// called for a single-server URL).
func WithClusterOptions(fn func(*redis.ClusterOptions)) Option {
	return func(c *Config) {
		if c.Cluster != nil {
			fn(c.Cluster)
		}
	}
}

// Open parses raw, connects and checks the server: a *redis.Client for a
// single-server URL, a *redis.ClusterClient for a cluster URL, with
// WatchFailover installed so that a failover is picked up within seconds.
// It refuses a single-server URL naming a cluster node (ErrClusterNode) and a
// cluster URL naming a server without cluster support (ErrNotCluster), both
// as *URLError, like a malformed URL; any other failure (unreachable,
// authentication) is returned wrapped, its text free of the password.
func Open(ctx context.Context, raw string, opts ...Option) (redis.UniversalClient, error) {
	cfg, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(cfg)
	}
	masked := redactURL(raw)
	if cfg.Cluster != nil {
		cc := redis.NewClusterClient(cfg.Cluster)
		WatchFailover(cc)
		if err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return c.Ping(ctx).Err()
		}); err != nil {
			cc.Close()
			if strings.Contains(err.Error(), "cluster support disabled") {
				return nil, &URLError{URL: masked, Err: ErrNotCluster}
			}
			return nil, fmt.Errorf("redis cluster at %s unreachable: %w", masked, redactedError{err})
		}
		return cc, nil
	}
	c := redis.NewClient(cfg.Single)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis at %s unreachable: %w", masked, redactedError{err})
	}
	// A server that refuses INFO is taken for what the URL says.
	if info, err := c.Info(ctx, "cluster").Result(); err == nil && strings.Contains(info, "cluster_enabled:1") {
		c.Close()
		return nil, &URLError{URL: masked, Err: ErrClusterNode}
	}
	return c, nil
}

// redactedError masks passwords in the text of an error it wraps.
type redactedError struct{ err error }

func (e redactedError) Error() string { return redact.String(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }
