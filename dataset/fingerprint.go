package dataset

import (
	"encoding/binary"
	"fmt"

	"github.com/zeebo/xxh3"
)

// Fingerprint is an order-independent digest of a snapshot: per table, the
// row count and the wrapping sum of row hashes (Recommendation.Hash over the
// canonical strings, Profile.Hash and Monthly.Hash over typed values; the
// latter changed on 2026-11-26, so fingerprints stored before differ). Any
// store (files, PostgreSQL, Redis) can compute it in one streaming pass, in
// any order, so meta:stats can carry it and verify can recompute it.
// Duplicated rows change both the count and the sum, so they cannot cancel
// out.
type Fingerprint struct {
	Recs, Profiles, Monthly        uint64
	RecSum, ProfileSum, MonthlySum uint64
}

// AddRec adds a recommendation row.
func (f *Fingerprint) AddRec(r *Recommendation) { f.Recs++; f.RecSum += r.Hash() }

// AddProfile adds a profile row (without its monthly rows).
func (f *Fingerprint) AddProfile(p *Profile) { f.Profiles++; f.ProfileSum += p.Hash() }

// AddMonthly adds a monthly row.
func (f *Fingerprint) AddMonthly(m *Monthly) { f.Monthly++; f.MonthlySum += m.Hash() }

// Merge adds the rows counted by o (for per-worker fingerprints).
func (f *Fingerprint) Merge(o Fingerprint) {
	f.Recs += o.Recs
	f.Profiles += o.Profiles
	f.Monthly += o.Monthly
	f.RecSum += o.RecSum
	f.ProfileSum += o.ProfileSum
	f.MonthlySum += o.MonthlySum
}

// String is the 16-hex-digit fingerprint stored in meta:stats.
func (f Fingerprint) String() string {
	var b [48]byte
	for i, v := range []uint64{f.Recs, f.Profiles, f.Monthly, f.RecSum, f.ProfileSum, f.MonthlySum} {
		binary.LittleEndian.PutUint64(b[i*8:], v)
	}
	return fmt.Sprintf("%016x", xxh3.Hash(b[:]))
}
