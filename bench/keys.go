package bench

import (
	"crypto/md5"
	"encoding/base64"
	"math"
	"math/rand/v2"
)

// keyPicker draws keys for one worker; it is not safe for concurrent use.
type keyPicker struct {
	spec    KeySpec
	keys    []string // the loaded ISDNs, shuffled by the seed
	rng     *rand.Rand
	zipf    *zipfian
	hot     int // size of the hot set
	missing int64
	seen    map[string]struct{}
}

// newKeyPicker returns the picker of worker w. keys must already be shuffled
// (see shuffleKeys); pickers of different workers draw independent sequences.
func newKeyPicker(spec KeySpec, keys []string, zipf *zipfian, w int) *keyPicker {
	p := &keyPicker{spec: spec, keys: keys, zipf: zipf,
		rng: rand.New(rand.NewPCG(spec.Seed, uint64(w)*0x9E3779B97F4A7C15+1))}
	if spec.Distribution == "hotset" {
		p.hot = max(1, int(math.Round(float64(spec.HotFraction)*float64(len(keys)))))
	}
	return p
}

// shuffleKeys returns a copy of keys in an order fixed by seed, so that the
// zipfian and hot-set ranks fall on keys scattered over the key space.
func shuffleKeys(keys []string, seed uint64) []string {
	out := append([]string(nil), keys...)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// next fills dst with the keys of one operation. The keys of a batch are
// distinct (as a bulk fetch would ask) unless the distribution makes that
// too costly to draw, when repeats are let through.
func (p *keyPicker) next(dst []string) []string {
	dst = dst[:0]
	if p.spec.Batch == 1 {
		return append(dst, p.one())
	}
	if p.seen == nil {
		p.seen = make(map[string]struct{}, p.spec.Batch)
	}
	clear(p.seen)
	for tries := 0; len(dst) < p.spec.Batch; tries++ {
		k := p.one()
		if _, dup := p.seen[k]; dup && tries < 20*p.spec.Batch {
			continue
		}
		p.seen[k] = struct{}{}
		dst = append(dst, k)
	}
	return dst
}

func (p *keyPicker) one() string {
	if len(p.keys) == 0 || (p.spec.Missing > 0 && p.rng.Float64() < float64(p.spec.Missing)) {
		p.missing++
		return randomISDN(p.rng)
	}
	n := len(p.keys)
	switch p.spec.Distribution {
	case "zipfian":
		return p.keys[p.zipf.next(p.rng)]
	case "hotset":
		if p.hot >= n {
			return p.keys[p.rng.IntN(n)]
		}
		if p.rng.Float64() < float64(p.spec.HotShare) {
			return p.keys[p.rng.IntN(p.hot)]
		}
		return p.keys[p.hot+p.rng.IntN(n-p.hot)]
	}
	return p.keys[p.rng.IntN(n)]
}

// randomISDN returns a valid-looking ISDN (base64 of 16 random bytes, as an
// MD5) that is, with overwhelming probability, not loaded.
func randomISDN(r *rand.Rand) string {
	var b [md5.Size]byte
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// zipfian draws ranks 0..n-1 with P(rank i) ∝ 1/(i+1)^theta, after Gray et
// al., "Quickly generating billion-record synthetic databases" (as YCSB).
// It is read-only after construction and shared by all workers.
type zipfian struct {
	n                   int
	theta, alpha, zetan float64
	eta, half           float64
}

func newZipfian(n int, theta float64) *zipfian {
	if n < 1 {
		return nil
	}
	zeta := func(k int) float64 {
		s := 0.0
		for i := 1; i <= k; i++ {
			s += 1 / math.Pow(float64(i), theta)
		}
		return s
	}
	z := &zipfian{n: n, theta: theta, alpha: 1 / (1 - theta), zetan: zeta(n)}
	zeta2 := zeta(min(2, n))
	z.eta = (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta2/z.zetan)
	z.half = 1 + math.Pow(0.5, theta)
	return z
}

func (z *zipfian) next(r *rand.Rand) int {
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 || z.n == 1 {
		return 0
	}
	if uz < z.half {
		return 1
	}
	i := int(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(max(i, 0), z.n-1)
}
