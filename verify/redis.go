package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/redisconn"
)

// scanCount is the SCAN COUNT hint (SCAN walks the whole keyspace, not just
// the namespace); a variable so that tests can page a small keyspace.
var scanCount int64 = 10000

// scanPage, when set (tests), is called after each page a master returned.
var scanPage func(node string, keys []string)

// Redis scan tuning.
const (
	fetchKeys  = 500   // keys per HGETALL+PTTL pipeline
	zrangeStep = 10000 // sorted-set members per ZRANGE
)

// Index kinds, the second segment of an index key (ns:idx:{kind}:{value}).
const (
	idxService = "service"
	idxRisk    = "risk"
	idxCluster = "cluster"
)

// isServerError reports whether err is a reply error of one command (e.g.
// WRONGTYPE), as opposed to a connection fault or a cluster in failover
// (CLUSTERDOWN, TRYAGAIN, …: transient).
func isServerError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.Nil) && !transient(err)
}

// poison is the digest contribution of a hash that cannot be decoded: it
// differs from every valid row hash, so the bucket is drilled into.
func poison(key string) uint64 { return dataset.HashValues([]string{"\x00corrupt", key}) }

// expiredKey is a key that expired (or vanished) between SCAN and its read.
type expiredKey struct{ ISDN, Key string }

// ttlIssue is a per-subscriber key whose TTL is missing or too long.
type ttlIssue struct {
	ISDN, Key string
	TTL       time.Duration // -1: none
}

// redisScan holds the direct observations of a full Redis scan (pass 1).
type redisScan struct {
	mu          sync.Mutex
	recKeys     int64
	profileKeys int64
	members     map[string]int64 // per index kind
	indexKeys   []string
	// foreign counts the keys under the namespace prefix outside its key
	// scheme (another namespace extending the prefix, or not ut360's).
	foreign         int64
	foreignExamples []string
	badIndex        []Finding
	expired         []expiredKey
	ttl             []ttlIssue
	stats           map[string]string // meta:stats, nil when absent
	swap            map[string]string // the loader's swap journal, nil when absent
}

// scanRedis reads every key of the namespace: rec and profile hashes with
// pipelined HGETALL + PTTL on several workers, then the index sets.
func scanRedis(ctx context.Context, rdb redis.UniversalClient, o *Options, mk func() *tally) ([]*tally, *redisScan, error) {
	k := o.Keys
	sc := &redisScan{members: map[string]int64{}}
	batches := make(chan []string, o.Workers)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		// Every master of a cluster (or the one server), concurrently; a
		// failover restarts that master's scan without passing a key twice.
		var mu sync.Mutex
		batch := make([]string, 0, fetchKeys)
		err := redisconn.ForEachMasterScan(gctx, rdb, k.Pattern(), scanCount, func(ctx context.Context, node string, keys []string) error {
			if scanPage != nil {
				scanPage(node, keys)
			}
			mu.Lock()
			for _, key := range keys {
				switch f, _ := classify(k, key); f {
				case famRec, famProfile:
					batch = append(batch, key)
				case famIndex:
					sc.indexKeys = append(sc.indexKeys, key)
				case famMeta, famStage:
					// bookkeeping and the staging area of a load in progress
				default:
					sc.foreign++
					if len(sc.foreignExamples) < maxForeignExamples {
						sc.foreignExamples = append(sc.foreignExamples, key)
					}
				}
			}
			var full []string
			if len(batch) >= fetchKeys {
				full, batch = batch, make([]string, 0, fetchKeys)
			}
			mu.Unlock()
			if full == nil {
				return nil
			}
			return send(ctx, batches, full)
		})
		if err != nil {
			return fmt.Errorf("redis: scan %s: %w", k.Pattern(), err)
		}
		if len(batch) > 0 {
			return send(gctx, batches, batch) // every worker may have stopped on an error
		}
		return nil
	})
	tallies := make([]*tally, o.Workers)
	for w := range o.Workers {
		t := mk()
		tallies[w] = t
		g.Go(func() error {
			for batch := range batches {
				if err := digestHashes(gctx, rdb, o, batch, t, sc); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	it := mk()
	tallies = append(tallies, it)
	for _, key := range sc.indexKeys {
		if err := digestIndex(ctx, rdb, k, key, it, sc); err != nil {
			return nil, nil, err
		}
	}
	var stats map[string]string
	err := retry(ctx, rdb, func() (err error) { stats, err = rdb.HGetAll(ctx, k.Stats()).Result(); return err })
	if err != nil && !isServerError(err) {
		return nil, nil, fmt.Errorf("redis: read %s: %w", k.Stats(), err)
	}
	if len(stats) > 0 {
		sc.stats = stats
	}
	if sc.swap, err = readSwapJournal(ctx, rdb, k); err != nil {
		return nil, nil, err
	}
	return tallies, sc, nil
}

// hashRead is one key read with HGETALL + PTTL.
type hashRead struct {
	fields map[string]string
	ttl    time.Duration
	err    error // a reply error of this key (e.g. WRONGTYPE)
}

// readHashes reads keys with one pipeline of HGETALL + PTTL.
// On a cluster the pipeline is split by node, and run again as a whole
// after a failover (retry).
func readHashes(ctx context.Context, rdb redis.UniversalClient, keys []string) ([]hashRead, error) {
	hg := make([]*redis.MapStringStringCmd, len(keys))
	pt := make([]*redis.DurationCmd, len(keys))
	err := retry(ctx, rdb, func() error {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, key := range keys {
				hg[i] = p.HGetAll(ctx, key)
				pt[i] = p.PTTL(ctx, key)
			}
			return nil
		})
		if err != nil && !isServerError(err) {
			return err
		}
		for i := range keys {
			if err := firstFault(hg[i], pt[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis: read hashes: %w", err)
	}
	out := make([]hashRead, len(keys))
	for i := range keys {
		out[i] = hashRead{fields: hg[i].Val(), ttl: pt[i].Val(), err: hg[i].Err()}
	}
	return out, nil
}

// decodedProfile is a profile hash decoded through the canonical encoding.
type decodedProfile struct {
	profile dataset.Profile
	months  []dataset.Monthly
	fault   *dataset.FieldError
}

func decodeProfile(h map[string]string) decodedProfile {
	p, months, fe := dataset.ProfileFromHash(h)
	if fe == nil && !monthsSorted(months) {
		fe = &dataset.FieldError{Column: dataset.PFMonthly, Value: h[dataset.PFMonthly], Reason: "months not in ascending order"}
	}
	return decodedProfile{profile: p, months: months, fault: fe}
}

// digestHashes reads a batch of rec/profile keys and adds what they hold.
func digestHashes(ctx context.Context, rdb redis.UniversalClient, o *Options, keys []string, t *tally, sc *redisScan) error {
	reads, err := readHashes(ctx, rdb, keys)
	if err != nil {
		return err
	}
	k := o.Keys
	var recs, profiles int64
	var expired []expiredKey
	var ttls []ttlIssue
	for i, key := range keys {
		rd := reads[i]
		isProfile := strings.HasPrefix(key, k.ProfilePrefix())
		isdn := strings.TrimPrefix(strings.TrimPrefix(key, k.RecPrefix()), k.ProfilePrefix())
		if rd.err == nil && len(rd.fields) == 0 || rd.ttl == -2 {
			// gone between SCAN and read: expired, not corrupt
			if t.keep == nil {
				expired = append(expired, expiredKey{ISDN: isdn, Key: key})
			}
			if len(rd.fields) == 0 {
				continue
			}
		} else if t.keep == nil && (rd.ttl == -1 || rd.ttl > o.TTL) {
			ttls = append(ttls, ttlIssue{ISDN: isdn, Key: key, TTL: rd.ttl})
		}
		// Fast path: hash the stored strings. PostgreSQL's side hashes the
		// canonical encoding of its rows, so equal data in canonical form gives
		// equal digests; anything else (including equal data written in another
		// JSON layout) is drilled into and decoded through the canonical encoding.
		if !isProfile {
			recs++
			t.add(cRec, isdn, rawHash(rd.fields, dataset.RecommendationColumns, key))
			continue
		}
		profiles++
		t.add(cProfileRaw, isdn, rawHash(rd.fields, dataset.ProfileFieldNames, key))
	}
	if t.keep == nil {
		sc.mu.Lock()
		sc.recKeys += recs
		sc.profileKeys += profiles
		sc.expired = append(sc.expired, expired...)
		sc.ttl = append(sc.ttl, ttls...)
		sc.mu.Unlock()
	}
	return nil
}

// digestIndex adds the members of one index key.
func digestIndex(ctx context.Context, rdb redis.UniversalClient, k dataset.Keys, key string, t *tally, sc *redisScan) error {
	kind, value, _ := strings.Cut(strings.TrimPrefix(key, k.IndexPrefix()), ":")
	var n int64
	switch kind {
	case idxService:
		for start := int64(0); ; start += zrangeStep {
			var zs []redis.Z
			err := retry(ctx, rdb, func() (err error) {
				zs, err = rdb.ZRangeWithScores(ctx, key, start, start+zrangeStep-1).Result()
				return err
			})
			if err != nil {
				return sc.indexFault(t, key, err)
			}
			for _, z := range zs {
				isdn, _ := z.Member.(string)
				t.add(cIndex, isdn, indexHash(kind, value, isdn, dataset.CanonFloat(z.Score)))
			}
			n += int64(len(zs))
			if len(zs) < zrangeStep {
				break
			}
		}
	default:
		var ms []string
		err := retry(ctx, rdb, func() (err error) { ms, err = rdb.SMembers(ctx, key).Result(); return err })
		if err != nil {
			return sc.indexFault(t, key, err)
		}
		for _, isdn := range ms {
			t.add(cIndex, isdn, indexHash(kind, value, isdn, ""))
		}
		n = int64(len(ms))
	}
	if t.keep == nil {
		sc.members[kind] += n
	}
	return nil
}

// indexFault records an index key of the wrong type; other errors are faults.
func (sc *redisScan) indexFault(t *tally, key string, err error) error {
	if !isServerError(err) {
		return fmt.Errorf("redis: read %s: %w", key, err)
	}
	if t.keep == nil {
		sc.badIndex = append(sc.badIndex, Finding{Class: IndexMismatch, Key: key, Detail: "unreadable index key: " + err.Error()})
	}
	return nil
}

// lookupMembers finds, for each ISDN, its memberships in every index key.
func lookupMembers(ctx context.Context, rdb redis.UniversalClient, k dataset.Keys, indexKeys []string, isdns []string) (map[string][]member, error) {
	out := map[string][]member{}
	for start := 0; start < len(isdns); start += fetchBatch / 4 {
		batch := isdns[start:min(start+fetchBatch/4, len(isdns))]
		type probe struct {
			isdn, key string
			z         *redis.FloatCmd
			s         *redis.BoolCmd
		}
		var probes []probe
		err := retry(ctx, rdb, func() error {
			probes = make([]probe, 0, len(batch)*len(indexKeys))
			_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, isdn := range batch {
					for _, key := range indexKeys {
						pr := probe{isdn: isdn, key: key}
						if strings.HasPrefix(key, k.IndexPrefix()+idxService+":") {
							pr.z = p.ZScore(ctx, key, isdn)
						} else {
							pr.s = p.SIsMember(ctx, key, isdn)
						}
						probes = append(probes, pr)
					}
				}
				return nil
			})
			if err != nil && !isServerError(err) && !errors.Is(err, redis.Nil) {
				return err
			}
			for _, pr := range probes {
				if pr.z != nil {
					err = firstFault(pr.z)
				} else {
					err = firstFault(pr.s)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("redis: index lookup: %w", err)
		}
		for _, pr := range probes {
			if pr.z != nil {
				if sc, err := pr.z.Result(); err == nil {
					out[pr.isdn] = append(out[pr.isdn], member{Key: pr.key, Score: sc, ZSet: true})
				}
			} else if pr.s.Val() {
				out[pr.isdn] = append(out[pr.isdn], member{Key: pr.key})
			}
		}
	}
	return out, nil
}

// readSwapJournal reads the loader's swap journal (nil when there is none).
// A journal key of another type is returned as a journal too: something is
// there that the loader did not finish with.
func readSwapJournal(ctx context.Context, rdb redis.UniversalClient, k dataset.Keys) (map[string]string, error) {
	key := k.SwapJournal()
	var j map[string]string
	err := retry(ctx, rdb, func() (err error) { j, err = rdb.HGetAll(ctx, key).Result(); return err })
	switch {
	case isServerError(err):
		return map[string]string{"state": "(unreadable: " + err.Error() + ")"}, nil
	case err != nil:
		return nil, fmt.Errorf("redis: read %s: %w", key, err)
	case len(j) == 0:
		return nil, nil
	}
	return j, nil
}
