package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/internal/testenv"
)

// TestLeanConnAgreesWithGoRedis sends the same commands through a leanConn
// and through go-redis and checks that both come to the same outcome: empty
// or not, the same hash, the same error kind.
func TestLeanConnAgreesWithGoRedis(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	ns := r.Namespace
	rec := map[string]string{"isdn": "84900000001", "bad_debt_risk": "LOW", "note": strings.Repeat("x", 70000)}
	must(t, r.Client.HSet(ctx, ns+":rec:1", rec).Err())
	must(t, r.Client.Set(ctx, ns+":s", "v", 0).Err())
	must(t, r.Client.Set(ctx, ns+":empty", "", 0).Err())
	must(t, r.Client.SAdd(ctx, ns+":set", "a", "b").Err())
	must(t, r.Client.ZAdd(ctx, ns+":z", redis.Z{Score: 1, Member: "a"}).Err())

	lean, err := dialLean(ctx, r.Client.Options())
	must(t, err)
	defer lean.close()
	cases := [][]string{
		{"HGETALL", ns + ":rec:1"},
		{"HGETALL", ns + ":rec:missing"},
		{"GET", ns + ":s"},
		{"GET", ns + ":empty"},
		{"GET", ns + ":missing"},
		{"GET", ns + ":rec:1"}, // WRONGTYPE
		{"HGET", ns + ":rec:1", "bad_debt_risk"},
		{"SMEMBERS", ns + ":set"},
		{"ZRANGE", ns + ":z", "0", "-1", "WITHSCORES"},
		{"EXISTS", ns + ":s"},
		{"PING"},
		{"SCAN", "0", "MATCH", ns + ":*", "COUNT", "100"}, // a nested array
		{"NOSUCHCOMMAND"},
	}
	for _, decode := range []string{"none", "rec"} {
		tg := &redisTarget{op: &RedisOp{Decode: decode}}
		for _, cmd := range cases {
			name := fmt.Sprintf("%s (decode %s)", cmd[0], decode)
			want, wantErr := tg.reply(r.Client.Do(ctx, toAny(cmd)...))
			var h map[string]string
			if decode == "rec" {
				h = map[string]string{}
			}
			empty, err := lean.do(ctx, cmd, h)
			if lean.broken {
				t.Fatalf("%s: the connection broke: %v", name, err)
			}
			if cmd[0] == "HGETALL" && h != nil && len(h) > 0 && !maps.Equal(h, rec) {
				t.Errorf("%s: hash of %d fields, want the %d written", name, len(h), len(rec))
			}
			got, err := tg.leanResult(empty, h, err)
			if (err == nil) != (wantErr == nil) || (err != nil && errorKind(err) != errorKind(wantErr)) {
				t.Errorf("%s: error %v (kind %s), go-redis gives %v", name, err, kindOf(err), wantErr)
			}
			if err == nil && got.items != want.items {
				t.Errorf("%s: %d items, go-redis gives %d", name, got.items, want.items)
			}
		}
	}
}

func kindOf(err error) string {
	if err == nil {
		return "none"
	}
	return errorKind(err)
}

func toAny(s []string) []any {
	a := make([]any, len(s))
	for i, v := range s {
		a[i] = v
	}
	return a
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestLeanConnAuthAndDB: a password-protected server and a non-zero
// database, as a redis:// URL gives them.
func TestLeanConnAuthAndDB(t *testing.T) {
	addr := testenv.StartRedis(t, "--requirepass", "s3cret")
	ctx := context.Background()
	opt, err := redis.ParseURL("redis://:s3cret@" + addr + "/3")
	must(t, err)
	c := redis.NewClient(opt)
	defer c.Close()
	must(t, c.Set(ctx, "k", "in db 3", 0).Err())

	lean, err := dialLean(ctx, c.Options())
	must(t, err)
	defer lean.close()
	if empty, err := lean.do(ctx, []string{"GET", "k"}, nil); err != nil || empty {
		t.Fatalf("GET k in db 3 through the lean connection: empty=%v err=%v", empty, err)
	}

	opt.Password = "wrong"
	bad := redis.NewClient(opt)
	defer bad.Close()
	if _, err := dialLean(ctx, bad.Options()); err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Fatalf("a wrong password: %v, want an AUTH error", err)
	}
}

// TestLeanConnEndsWithTheRun: a read blocked on the server returns as soon
// as the run's context ends, as the context's error (a cut operation).
func TestLeanConnEndsWithTheRun(t *testing.T) {
	r := testenv.NewRedis(t)
	lean, err := dialLean(context.Background(), r.Client.Options())
	must(t, err)
	defer lean.close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err = lean.do(ctx, []string{"BLPOP", r.Namespace + ":never", "0"}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked read at the end of the run: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("the blocked read returned after %v, want about 300ms", d)
	}
	if !lean.broken {
		t.Fatal("a connection cut mid-reply must be dropped")
	}
}

// FuzzReadReply: no input makes the reply reader panic, and a reply it
// reads whole is never read whole from the same bytes cut one short.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"*4\r\n$4\r\nisdn\r\n$1\r\n1\r\n$1\r\na\r\n$0\r\n\r\n",
		"$-1\r\n", "*-1\r\n", "*0\r\n", "+OK\r\n", "-WRONGTYPE x\r\n", ":1\r\n",
		"*2\r\n*1\r\n:1\r\n$1\r\nx\r\n", "*3\r\n$1\r\na\r\n", "$99999999999\r\n", "*2\r\n-ERR\r\n$1\r\nv\r\n",
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	read := func(b []byte, asHash bool) (consumed int, whole bool) {
		var h map[string]string
		if asHash {
			h = map[string]string{}
		}
		src := bytes.NewReader(b)
		br := bufio.NewReaderSize(src, 16) // small: long replies take the slow paths
		_, err := readReply(br, h, 0)
		var reply respError
		whole = err == nil || errors.As(err, &reply) || errors.Is(err, errDecode)
		return len(b) - src.Len() - br.Buffered(), whole
	}
	f.Fuzz(func(t *testing.T, b []byte, asHash bool) {
		n, whole := read(b, asHash)
		if !whole || n == 0 {
			return
		}
		if _, again := read(b[:n-1], asHash); again {
			t.Fatalf("%q read as a whole reply of %d bytes, and so did its first %d bytes", b, n, n-1)
		}
	})
}

// TestProtocol3KeepsGoRedis: a --redis URL that asks for RESP3 is not
// answered with the lean RESP2 connection.
func TestProtocol3KeepsGoRedis(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	must(t, r.Client.HSet(ctx, r.Namespace+":rec:1", "isdn", "1").Err())
	for _, proto := range []int{2, 3} {
		opt := *r.Client.Options()
		opt.Protocol = proto
		c := redis.NewClient(&opt)
		tg := newRedisTarget(c, &RedisOp{Commands: [][]string{{"HGETALL", "{ns}:rec:{isdn}"}}, Decode: "none"}, r.Namespace, nil)
		w, err := tg.newWorker(ctx, 0)
		must(t, err)
		res, err := w.do(ctx, []string{"1"})
		if err != nil || res.items != 1 {
			t.Errorf("protocol %d: %+v %v, want the hash found", proto, res, err)
		}
		if lean := w.(*redisWorker).leans[0] != nil; lean != (proto == 2) {
			t.Errorf("protocol %d: lean connection used = %v", proto, lean)
		}
		w.close()
		c.Close()
	}
}
