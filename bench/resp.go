package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// leanConn is a bench worker's own Redis connection for operations of one
// command: it writes the command and reads its RESP2 reply with nothing in
// between, the way redis-benchmark and memtier_benchmark do. Measured on
// this machine, go-redis spends about 3 µs of client CPU per command
// (a command object, hooks, a map of fresh strings per HGETALL), which at
// 8 clients on 2 cores capped the bench at 0.87× redis-benchmark's
// throughput: the bench measured its client instead of the server
// (docs/bench.md). go-redis still dials it (Options.Dialer: TCP, TLS) and
// runs everything else: pipelines, cluster redirections, the other commands.
type leanConn struct {
	nc      net.Conn
	br      *bufio.Reader
	buf     []byte        // the command being written
	timeout time.Duration // per-operation read/write timeout (go-redis's ReadTimeout)
	// stop cancels a blocked read when the run's context ends (Ctrl-C).
	ctx  context.Context
	stop func() bool
	// broken: a network or protocol error left the stream out of step.
	broken bool
}

// respError is an error reply; it satisfies redis.Error, so error kinds
// (redis:WRONGTYPE) and redirections (MOVED) read it as go-redis's own.
type respError string

func (e respError) Error() string { return string(e) }

// RedisError marks respError as a Redis reply, as redis.Error asks.
func (respError) RedisError() {}

var _ redis.Error = respError("")

// errProtocol marks a reply that is not RESP2: the connection is dropped.
var errProtocol = errors.New("redis protocol error")

// Limits on what a reply may claim, so that a bad length never allocates
// more than a hash of the data contract can need.
const (
	maxBulk  = 512 << 20
	maxDepth = 16
)

// dialLean opens a connection with opt's dialer, address and credentials,
// names it and selects opt's database, as go-redis would.
func dialLean(ctx context.Context, opt *redis.Options) (*leanConn, error) {
	nc, err := opt.Dialer(ctx, opt.Network, opt.Addr)
	if err != nil {
		return nil, err
	}
	c := &leanConn{nc: nc, br: bufio.NewReaderSize(nc, 32<<10), timeout: opt.ReadTimeout}
	user, pass := opt.Username, opt.Password
	switch {
	case opt.CredentialsProviderContext != nil:
		if user, pass, err = opt.CredentialsProviderContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
	case opt.CredentialsProvider != nil:
		user, pass = opt.CredentialsProvider()
	}
	var hello [][]string
	switch {
	case pass != "" && user != "":
		hello = append(hello, []string{"AUTH", user, pass})
	case pass != "":
		hello = append(hello, []string{"AUTH", pass})
	}
	if opt.ClientName != "" {
		hello = append(hello, []string{"CLIENT", "SETNAME", opt.ClientName})
	}
	if opt.DB != 0 {
		hello = append(hello, []string{"SELECT", strconv.Itoa(opt.DB)})
	}
	for _, cmd := range hello {
		if _, err := c.do(ctx, cmd, nil); err != nil {
			nc.Close()
			return nil, fmt.Errorf("%s: %w", cmd[0], err)
		}
	}
	return c, nil
}

func (c *leanConn) close() {
	if c.stop != nil {
		c.stop()
	}
	_ = c.nc.Close()
}

// do sends one command and reads its reply. With hash non-nil, the reply
// must be a hash (a flat array of field/value pairs), stored into hash.
// empty reports a nil, empty-string or empty-array reply (not found).
func (c *leanConn) do(ctx context.Context, args []string, hash map[string]string) (empty bool, err error) {
	if c.ctx != ctx {
		// Unblock a read when the run ends; registered once per context.
		if c.stop != nil {
			c.stop()
		}
		c.ctx, c.stop = ctx, context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if c.timeout > 0 {
		_ = c.nc.SetDeadline(time.Now().Add(c.timeout))
		if err := ctx.Err(); err != nil { // the run ended before the deadline was set
			return false, err
		}
	}
	c.buf = appendCommand(c.buf[:0], args)
	if _, err := c.nc.Write(c.buf); err != nil {
		return false, c.fail(ctx, err)
	}
	empty, err = readReply(c.br, hash, 0)
	var reply respError
	if err != nil && !errors.As(err, &reply) && !errors.Is(err, errDecode) {
		return false, c.fail(ctx, err)
	}
	return empty, err
}

// fail marks the connection broken; an error caused by the end of the run
// is reported as the context's.
func (c *leanConn) fail(ctx context.Context, err error) error {
	c.broken = true
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// appendCommand writes args as a RESP array of bulk strings.
func appendCommand(b []byte, args []string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// readReply reads one RESP2 reply. An error reply is returned as respError
// after the reply is consumed, as is a hash that does not decode (errDecode),
// so the connection stays in step; any other error leaves it out of step.
func readReply(br *bufio.Reader, hash map[string]string, depth int) (empty bool, err error) {
	if depth > maxDepth {
		return false, fmt.Errorf("%w: replies nested deeper than %d", errProtocol, maxDepth)
	}
	kind, n, line, err := readHeader(br)
	if err != nil {
		return false, err
	}
	if hash != nil && kind != '*' && kind != '-' {
		// Not a hash: only an empty reply (not found) is no decode error.
		empty := (kind == '$' && n <= 0) || (kind == '+' && len(line) == 0)
		if err := skipBody(br, kind, n, depth); err != nil || empty {
			return empty && err == nil, err
		}
		return false, fmt.Errorf("%w: reply of type %q is not a hash", errDecode, kind)
	}
	switch kind {
	case '+':
		return len(line) == 0, nil
	case '-':
		return false, respError(line)
	case ':':
		return false, nil
	case '$':
		if n < 0 {
			return true, nil
		}
		_, err := br.Discard(int(n) + 2)
		return n == 0, err
	}
	// '*': an array.
	if n < 0 {
		return true, nil
	}
	if hash == nil {
		return n == 0, skipBody(br, kind, n, depth)
	}
	if n%2 != 0 {
		if err := skipBody(br, kind, n, depth); err != nil {
			return false, err
		}
		return false, fmt.Errorf("%w: hash reply of odd length", errDecode)
	}
	var bad error
	for i := int64(0); i < n; i += 2 {
		k, err := readBulk(br, depth)
		if err != nil && !errors.Is(err, errDecode) {
			return false, err
		}
		bad = cmpErr(bad, err)
		v, err := readBulk(br, depth)
		if err != nil && !errors.Is(err, errDecode) {
			return false, err
		}
		bad = cmpErr(bad, err)
		if bad == nil {
			hash[k] = v
		}
	}
	return n == 0, bad
}

func cmpErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// readBulk reads one element of a hash reply, which must be a bulk string;
// anything else is consumed and reported as errDecode.
func readBulk(br *bufio.Reader, depth int) (string, error) {
	kind, n, _, err := readHeader(br)
	if err != nil {
		return "", err
	}
	if kind != '$' || n < 0 {
		if err := skipBody(br, kind, n, depth+1); err != nil {
			return "", err
		}
		return "", fmt.Errorf("%w: hash reply holds a non-string", errDecode)
	}
	if p, err := br.Peek(int(n) + 2); err == nil {
		s := string(p[:n])
		_, err = br.Discard(int(n) + 2)
		return s, err
	}
	p := make([]byte, n+2)
	if _, err := io.ReadFull(br, p); err != nil {
		return "", err
	}
	return string(p[:n]), nil
}

// readHeader reads a reply's first line: its type byte, its length (bulk
// strings and arrays) and the rest of the line.
func readHeader(br *bufio.Reader) (kind byte, n int64, line []byte, err error) {
	line, err = br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			err = fmt.Errorf("%w: a reply line longer than %d bytes", errProtocol, br.Size())
		}
		return 0, 0, nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, 0, nil, fmt.Errorf("%w: a reply line without CRLF", errProtocol)
	}
	kind, line = line[0], line[1:len(line)-2]
	switch kind {
	case '+', '-', ':':
		return kind, 0, line, nil
	case '$', '*':
		n, err = strconv.ParseInt(string(line), 10, 64)
		if err != nil || n < -1 || (kind == '$' && n > maxBulk) || (kind == '*' && n > maxBulk/4) {
			return 0, 0, nil, fmt.Errorf("%w: bad length %q", errProtocol, line)
		}
		return kind, n, line, nil
	}
	return 0, 0, nil, fmt.Errorf("%w: unknown reply type %q", errProtocol, kind)
}

// skipBody consumes what follows a header: a bulk string's bytes or an
// array's elements.
func skipBody(br *bufio.Reader, kind byte, n int64, depth int) error {
	switch {
	case n < 0:
		return nil
	case kind == '$':
		_, err := br.Discard(int(n) + 2)
		return err
	case kind == '*':
		for range n {
			if _, err := readReply(br, nil, depth+1); err != nil {
				var reply respError
				if !errors.As(err, &reply) { // an error reply inside an array is data
					return err
				}
			}
		}
	}
	return nil
}
