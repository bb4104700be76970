package loader

import (
	"encoding/base64"
	"strings"

	"github.com/ut360/ut360/dataset"
)

// maxNumeric12 is the largest value of the numeric(12,0) amount columns.
const maxNumeric12 = 999_999_999_999

// subscribers is the compact set of loaded recommendation ISDNs: the 16
// decoded MD5 bytes and the order they were loaded in (the "rec order" that
// profile and monthly inputs are expected to follow).
type subscribers struct {
	idx        map[[16]byte]int32
	isdns      [][16]byte
	hasProfile bitset
}

func newSubscribers(hint int) *subscribers {
	return &subscribers{idx: make(map[[16]byte]int32, hint), isdns: make([][16]byte, 0, hint)}
}

// decodeISDN returns the 16 bytes of a valid ISDN (validated by the parser).
func decodeISDN(s string) (k [16]byte, ok bool) {
	n, err := base64.StdEncoding.Strict().Decode(k[:], []byte(s))
	return k, err == nil && n == 16 && len(s) == 24
}

func encodeISDN(k [16]byte) string { return base64.StdEncoding.EncodeToString(k[:]) }

// add records a recommendation; false when the ISDN was loaded already.
func (s *subscribers) add(isdn string) (int32, bool) {
	k, ok := decodeISDN(isdn)
	if !ok {
		return 0, false
	}
	if _, dup := s.idx[k]; dup {
		return 0, false
	}
	i := int32(len(s.isdns))
	s.idx[k] = i
	s.isdns = append(s.isdns, k)
	return i, true
}

// lookup returns the rec-order index of an ISDN.
func (s *subscribers) lookup(isdn string) (int32, bool) {
	k, ok := decodeISDN(isdn)
	if !ok {
		return 0, false
	}
	i, ok := s.idx[k]
	return i, ok
}

func (s *subscribers) isdn(i int32) string { return encodeISDN(s.isdns[i]) }
func (s *subscribers) len() int            { return len(s.isdns) }

// bitset is a growable set of small non-negative integers.
type bitset []uint64

func (b *bitset) set(i int32) {
	w := int(i >> 6)
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (uint(i) & 63)
}

func (b bitset) has(i int32) bool {
	w := int(i >> 6)
	return w < len(b) && b[w]&(1<<(uint(i)&63)) != 0
}

// Reasons of rejects found by the loader itself (the dataset parser finds the rest).
const (
	ReasonDuplicateISDN    = "duplicate ISDN"
	ReasonNoRecommendation = "ISDN has no recommendation"
	ReasonDuplicateMonth   = "duplicate (isdn, data_month)"
	ReasonNUL              = "NUL character (PostgreSQL text cannot hold it)"
	ReasonAmountTooLarge   = "amount too large for numeric(12,0)"
)

func fieldErr(col, val, reason string) *dataset.FieldError {
	return &dataset.FieldError{Column: col, Value: val, Reason: reason}
}

// noNUL checks text values of a row: PostgreSQL text and jsonb cannot hold
// U+0000, so such a row would fail the whole COPY instead of one reject.
func noNUL(col string, vals ...string) *dataset.FieldError {
	for _, v := range vals {
		if strings.IndexByte(v, 0) >= 0 {
			return fieldErr(col, v, ReasonNUL)
		}
	}
	return nil
}

func amountFits(col string, v int64) *dataset.FieldError {
	if v > maxNumeric12 {
		return fieldErr(col, dataset.CanonInt(v), ReasonAmountTooLarge)
	}
	return nil
}

// checkRec adds the store-level checks the dataset parser does not make
// (enumerations and the ISDN cannot hold NUL: the parser checked them).
func checkRec(r *dataset.Recommendation) *dataset.FieldError {
	if fe := amountFits("advance_amount", r.AdvanceAmount); fe != nil {
		return fe
	}
	return amountFits("revenue_per_advance", r.RevenuePerAdvance)
}

func checkProfile(p *dataset.Profile) *dataset.FieldError {
	for _, fe := range []*dataset.FieldError{
		amountFits("advance_amount", p.AdvanceAmount),
		noNUL("cluster_label", p.ClusterLabel),
		noNUL("risk_factors", p.RiskFactors...),
		noNUL("insight_strengths", p.InsightStrengths...),
		noNUL("insight_recommendations", p.InsightRecommendations...),
	} {
		if fe != nil {
			return fe
		}
	}
	return nil
}
