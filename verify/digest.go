package verify

import (
	"sync"

	"github.com/ut360/ut360/dataset"
)

// class is a kind of per-subscriber fact that is digested.
type class int

const (
	cRec        class = iota // a recommendations row / rec hash
	cProfile                 // a profile row / profile hash (without months)
	cMonthly                 // a monthly row / one month of a profile hash
	cIndex                   // an index membership (service zset with score, risk set, cluster set)
	cProfileRaw              // the profile hash as stored: its field values, raw (PostgreSQL re-encodes, Redis reads)
	nClass
)

// side is where a fact was observed.
type side int

const (
	sPG side = iota
	sRedis
	sFiles
	nSide
)

// cell is a count and a wrapping sum of hashes.
type cell struct {
	n   uint64
	sum uint64
}

func (c *cell) add(h uint64) { c.n++; c.sum += h }

// digest holds one cell per bucket and class.
type digest []cell

func newDigest(buckets int) digest { return make(digest, buckets*int(nClass)) }

func (d digest) merge(o digest) {
	for i := range o {
		d[i].n += o[i].n
		d[i].sum += o[i].sum
	}
}

// total sums every bucket of class c.
func (d digest) total(c class) cell {
	var t cell
	for i := int(c); i < len(d); i += int(nClass) {
		t.n += d[i].n
		t.sum += d[i].sum
	}
	return t
}

// fingerprint is the dataset.Fingerprint of what the digest counted.
func (d digest) fingerprint() dataset.Fingerprint {
	r, p, m := d.total(cRec), d.total(cProfile), d.total(cMonthly)
	return dataset.Fingerprint{Recs: r.n, Profiles: p.n, Monthly: m.n, RecSum: r.sum, ProfileSum: p.sum, MonthlySum: m.sum}
}

// diffBuckets marks with bit every bucket where a and b differ in one of classes.
func diffBuckets(a, b digest, keep []uint8, bit uint8, classes ...class) int {
	n := 0
	for bk := range keep {
		for _, c := range classes {
			i := bk*int(nClass) + int(c)
			if a[i] != b[i] {
				if keep[bk]&bit == 0 {
					n++
				}
				keep[bk] |= bit
			}
		}
	}
	return n
}

// Bits of the keep mask of pass 2.
const (
	keepRedis  uint8 = 1 // PostgreSQL and Redis differ in this bucket
	keepSource uint8 = 2 // files and PostgreSQL differ in this bucket
)

// tally is what one producer goroutine accumulates. In pass 1 it adds to its
// own digest; in pass 2 it records, for kept buckets only, per-subscriber facts
// into the shared recorder.
type tally struct {
	side side
	mask uint64
	d    digest
	keep []uint8
	rec  *recorder
}

func (t *tally) bucket(isdn string) uint64 { return dataset.HashISDN(isdn) & t.mask }

func (t *tally) add(c class, isdn string, h uint64) {
	b := t.bucket(isdn)
	if t.keep != nil {
		if t.keep[b] != 0 {
			t.rec.add(t.side, c, isdn, h)
		}
		return
	}
	t.d[b*uint64(nClass)+uint64(c)].add(h)
}

// member is one index membership: the index key and, for sorted sets, the score.
type member struct {
	Key   string
	Score float64
	ZSet  bool
}

// subject is everything observed about one subscriber of a kept bucket.
type subject struct {
	c [nSide][nClass]cell
}

// recorder is the shared per-subscriber store of pass 2.
type recorder struct {
	mu   sync.Mutex
	subs map[string]*subject
}

func newRecorder() *recorder { return &recorder{subs: map[string]*subject{}} }

func (r *recorder) get(isdn string) *subject {
	s := r.subs[isdn]
	if s == nil {
		s = &subject{}
		r.subs[isdn] = s
	}
	return s
}

func (r *recorder) add(sd side, c class, isdn string, h uint64) {
	r.mu.Lock()
	r.get(isdn).c[sd][c].add(h)
	r.mu.Unlock()
}

// indexHash is the digest of one index membership; PostgreSQL derives the
// expected ones from a recommendations row, Redis reads the actual ones.
func indexHash(kind, value, isdn, score string) uint64 {
	return dataset.HashValues([]string{kind, value, isdn, score})
}

// expectedMembers are the index memberships a recommendation implies.
func expectedMembers(k dataset.Keys, r *dataset.Recommendation) []member {
	return []member{
		{Key: k.ServiceIndex(r.ServiceType), Score: r.PriorityScore, ZSet: true},
		{Key: k.RiskIndex(r.BadDebtRisk)},
		{Key: k.ClusterIndex(r.ClusterGroup)},
	}
}

// rawHash is the digest of a hash's values taken in the order of fields; a
// missing or an extra field gives a value no valid hash can have.
func rawHash(h map[string]string, fields []string, key string) uint64 {
	if len(h) != len(fields) {
		return poison(key)
	}
	vals := make([]string, len(fields))
	for i, f := range fields {
		v, ok := h[f]
		if !ok {
			return poison(key)
		}
		vals[i] = v
	}
	return dataset.HashValues(vals)
}

// profileRawHash is the rawHash PostgreSQL's rows imply for a profile hash.
func profileRawHash(p *dataset.Profile, months []dataset.Monthly) uint64 {
	fv := p.ProfileFields(months)
	vals := make([]string, 0, len(fv)/2)
	for i := 1; i < len(fv); i += 2 {
		vals = append(vals, fv[i])
	}
	return dataset.HashValues(vals)
}

// addRecFacts adds a recommendation row and the index memberships it implies.
func addRecFacts(t *tally, r *dataset.Recommendation) {
	t.add(cRec, r.ISDN, r.Hash())
	t.add(cIndex, r.ISDN, indexHash("service", r.ServiceType, r.ISDN, dataset.CanonFloat(r.PriorityScore)))
	t.add(cIndex, r.ISDN, indexHash("risk", r.BadDebtRisk, r.ISDN, ""))
	t.add(cIndex, r.ISDN, indexHash("cluster", dataset.CanonInt(int64(r.ClusterGroup)), r.ISDN, ""))
}
