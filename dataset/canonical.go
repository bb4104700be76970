package dataset

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zeebo/xxh3"
)

// The canonical encoding gives every value exactly one text form, so that two
// stores holding the same data produce the same bytes and the same hash:
//
//	integer   decimal digits, no leading zeros or '+' (strconv.FormatInt)
//	float     shortest round-trip digits, plain decimal in [1e-6, 1e21), else exponent; -0 becomes 0
//	NULL      the empty string
//	text      the UTF-8 bytes as given (invalid UTF-8 is rejected on input)
//	list      a compact JSON array of strings, no HTML escaping; empty is []
//	date      YYYY-MM-DD
//
// A row's canonical form is its columns' canonical strings, each prefixed by
// its length as a uvarint; the row hash is xxh3-64 of that.

// CanonInt is the canonical form of an integer.
func CanonInt(v int64) string { return strconv.FormatInt(v, 10) }

// CanonFloat is the canonical form of a float: the shortest digits that
// round-trip, in plain decimal notation for magnitudes in [1e-6, 1e21) (so
// 1500000 is "1500000", not "1.5e+06") and in exponent form outside it.
func CanonFloat(v float64) string {
	if v == 0 {
		return "0" // fold -0 into 0
	}
	if a := math.Abs(v); a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// CanonNullFloat is the canonical form of a nullable float ("" for NULL).
func CanonNullFloat(v NullFloat) string {
	if !v.Valid {
		return ""
	}
	return CanonFloat(v.V)
}

// CanonDate is the canonical form of a date.
func CanonDate(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// CanonList is the canonical form of a list of strings.
func CanonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(l) // []string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// HashValues is the xxh3-64 hash of a row's canonical column strings.
func HashValues(vals []string) uint64 {
	var buf [256]byte
	b := buf[:0]
	for _, v := range vals {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return xxh3.Hash(b)
}

// HashISDN is the 64-bit hash of an ISDN, used to partition subscribers into buckets.
func HashISDN(isdn string) uint64 { return xxh3.HashString(isdn) }

// FieldError says which column of a row is wrong and why.
type FieldError struct {
	Column string
	Value  string
	Reason string
}

func (e *FieldError) Error() string {
	v := e.Value
	if len(v) > 60 {
		v = v[:60] + "…"
	}
	return fmt.Sprintf("column %s: %s (value %q)", e.Column, e.Reason, v)
}

func ferr(col, val, format string, args ...any) *FieldError {
	return &FieldError{Column: col, Value: val, Reason: fmt.Sprintf(format, args...)}
}

// ValidISDN reports whether s is standard base64 of 16 bytes (an MD5 digest).
func ValidISDN(s string) bool {
	if len(s) != 24 || !strings.HasSuffix(s, "==") {
		return false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 16
}

// parser reads canonical (or merely valid) column strings and records the first fault.
type parser struct {
	cols []string
	vals []string
	err  *FieldError
}

func (p *parser) fail(i int, format string, args ...any) {
	if p.err == nil {
		p.err = ferr(p.cols[i], p.vals[i], format, args...)
	}
}

func (p *parser) text(i int) string {
	v := p.vals[i]
	if !utf8.ValidString(v) {
		p.fail(i, "invalid UTF-8")
	}
	return v
}

func (p *parser) isdn(i int) string {
	v := p.vals[i]
	if v == "" {
		p.fail(i, "empty ISDN")
	} else if !ValidISDN(v) {
		p.fail(i, "invalid ISDN: not base64 of 16 bytes")
	}
	return v
}

func (p *parser) enum(i int, allowed []string) string {
	v := p.text(i)
	if p.err == nil && !ValidEnum(allowed, v) {
		p.fail(i, "unknown value, want one of %s", strings.Join(allowed, ", "))
	}
	return v
}

func (p *parser) int(i int, bits int) int64 {
	v, err := strconv.ParseInt(strings.TrimSpace(p.vals[i]), 10, bits)
	if err != nil {
		p.fail(i, "not an integer")
	}
	return v
}

func (p *parser) amount(i int) int64 {
	v := p.int(i, 64)
	if v < 0 {
		p.fail(i, "negative amount")
	}
	return v
}

func (p *parser) float(i int) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(p.vals[i]), 64)
	if err != nil {
		p.fail(i, "not a number")
	} else if math.IsNaN(v) || math.IsInf(v, 0) {
		p.fail(i, "non-finite number")
	}
	return v
}

func (p *parser) nullFloat(i int) NullFloat {
	if strings.TrimSpace(p.vals[i]) == "" {
		return NullFloat{}
	}
	return NullFloat{V: p.float(i), Valid: true}
}

func (p *parser) score(i int) float64 {
	v := p.float(i)
	checkScore(p, i, v)
	return v
}

func checkScore(p *parser, i int, v float64) {
	if v < 0 || v > 100 {
		p.fail(i, "score outside 0-100")
	}
}

func (p *parser) share(i int) float64 {
	v := p.float(i)
	if v < 0 || v > 1 {
		p.fail(i, "share outside 0-1")
	}
	return v
}

func (p *parser) list(i int) []string {
	var l []string
	if err := json.Unmarshal([]byte(p.vals[i]), &l); err != nil {
		p.fail(i, "not a JSON list of strings")
		return nil
	}
	for _, s := range l {
		if !utf8.ValidString(s) {
			p.fail(i, "invalid UTF-8")
		}
	}
	return l
}

func (p *parser) date(i int) time.Time {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(p.vals[i]))
	if err != nil {
		p.fail(i, "not a date (YYYY-MM-DD)")
	} else if t.Day() != 1 {
		p.fail(i, "not the first of a month")
	}
	return t
}

func newParser(cols, vals []string) (*parser, *FieldError) {
	if len(vals) != len(cols) {
		return nil, &FieldError{Column: "*", Value: strconv.Itoa(len(vals)),
			Reason: fmt.Sprintf("wrong column count: got %d, want %d", len(vals), len(cols))}
	}
	return &parser{cols: cols, vals: vals}, nil
}

// Values returns the canonical strings of r in RecommendationColumns order.
func (r *Recommendation) Values() []string {
	return []string{
		r.ISDN, r.SubscriberType, r.ServiceType, CanonInt(r.AdvanceAmount), CanonInt(r.RevenuePerAdvance),
		CanonInt(int64(r.ClusterGroup)), r.BadDebtRisk, CanonFloat(r.ArpuAvg6m), CanonNullFloat(r.ArpuGrowthRate),
		r.ArpuTrend, CanonFloat(r.CustomerValueScore), CanonFloat(r.AdvanceReadinessScore), CanonFloat(r.PriorityScore),
	}
}

// Hash is the canonical row hash of r.
func (r *Recommendation) Hash() uint64 { return HashValues(r.Values()) }

// ParseRecommendation parses and validates column strings in RecommendationColumns order.
func ParseRecommendation(vals []string) (Recommendation, *FieldError) {
	p, fe := newParser(RecommendationColumns, vals)
	if fe != nil {
		return Recommendation{}, fe
	}
	r := Recommendation{
		ISDN: p.isdn(0), SubscriberType: p.enum(1, SubscriberTypes), ServiceType: p.enum(2, ServiceTypes),
		AdvanceAmount: p.amount(3), RevenuePerAdvance: p.amount(4), ClusterGroup: int32(p.int(5, 32)),
		BadDebtRisk: p.enum(6, RiskLevels), ArpuAvg6m: p.float(7), ArpuGrowthRate: p.nullFloat(8),
		ArpuTrend: p.enum(9, ArpuTrends), CustomerValueScore: p.score(10),
		AdvanceReadinessScore: p.score(11), PriorityScore: p.score(12),
	}
	return r, p.err
}

// Validate checks a record that did not come through ParseRecommendation (e.g. from Parquet).
func (r *Recommendation) Validate() *FieldError {
	_, fe := ParseRecommendation(r.Values())
	return fe
}

// Values returns the canonical strings of p in ProfileColumns order.
func (pr *Profile) Values() []string {
	return []string{
		pr.ISDN, pr.SubscriberType, pr.ServiceType, CanonInt(pr.AdvanceAmount),
		CanonFloat(pr.ArpuAvg6m), CanonFloat(pr.ArpuMin6m), CanonFloat(pr.ArpuMax6m), CanonFloat(pr.ArpuStd6m),
		CanonFloat(pr.ArpuLastMonth), CanonNullFloat(pr.ArpuGrowthRate), pr.ArpuTrend,
		CanonFloat(pr.RevenueCallShare), CanonFloat(pr.RevenueSmsShare), CanonFloat(pr.RevenueDataShare),
		CanonInt(int64(pr.TopupCount6m)), CanonFloat(pr.TopupAvgAmount), CanonInt(int64(pr.DaysSinceLastTopup)),
		pr.RiskLevel, CanonFloat(pr.RiskScore), CanonList(pr.RiskFactors),
		CanonFloat(pr.CustomerValueScore), CanonFloat(pr.AdvanceReadinessScore), CanonFloat(pr.EngagementScore),
		CanonFloat(pr.PriorityScore), CanonInt(int64(pr.ClusterGroup)), pr.ClusterLabel, CanonInt(int64(pr.MonthsActive)),
		CanonList(pr.InsightStrengths), CanonList(pr.InsightRecommendations),
	}
}

// ParseProfile parses and validates column strings in ProfileColumns order.
func ParseProfile(vals []string) (Profile, *FieldError) {
	p, fe := newParser(ProfileColumns, vals)
	if fe != nil {
		return Profile{}, fe
	}
	pr := Profile{
		ISDN: p.isdn(0), SubscriberType: p.enum(1, SubscriberTypes), ServiceType: p.enum(2, ServiceTypes),
		AdvanceAmount: p.amount(3), ArpuAvg6m: p.float(4), ArpuMin6m: p.float(5), ArpuMax6m: p.float(6),
		ArpuStd6m: p.float(7), ArpuLastMonth: p.float(8), ArpuGrowthRate: p.nullFloat(9), ArpuTrend: p.enum(10, ArpuTrends),
		RevenueCallShare: p.share(11), RevenueSmsShare: p.share(12), RevenueDataShare: p.share(13),
		TopupCount6m: int32(p.int(14, 32)), TopupAvgAmount: p.float(15), DaysSinceLastTopup: int32(p.int(16, 32)),
		RiskLevel: p.enum(17, RiskLevels), RiskScore: p.score(18), RiskFactors: p.list(19),
		CustomerValueScore: p.score(20), AdvanceReadinessScore: p.score(21), EngagementScore: p.score(22),
		PriorityScore: p.score(23), ClusterGroup: int32(p.int(24, 32)), ClusterLabel: p.text(25),
		MonthsActive: int32(p.int(26, 32)), InsightStrengths: p.list(27), InsightRecommendations: p.list(28),
	}
	return pr, p.err
}

// Validate checks a profile that did not come through ParseProfile.
func (pr *Profile) Validate() *FieldError {
	_, fe := ParseProfile(pr.Values())
	return fe
}

// Values returns the canonical strings of m in MonthlyColumns order.
func (m *Monthly) Values() []string {
	return []string{m.ISDN, CanonDate(m.DataMonth), CanonFloat(m.ArpuCall), CanonFloat(m.ArpuSms),
		CanonFloat(m.ArpuData), CanonFloat(m.ArpuTotal)}
}

// ParseMonthly parses and validates column strings in MonthlyColumns order.
func ParseMonthly(vals []string) (Monthly, *FieldError) {
	p, fe := newParser(MonthlyColumns, vals)
	if fe != nil {
		return Monthly{}, fe
	}
	m := Monthly{ISDN: p.isdn(0), DataMonth: p.date(1), ArpuCall: p.float(2), ArpuSms: p.float(3),
		ArpuData: p.float(4), ArpuTotal: p.float(5)}
	return m, p.err
}

// Validate checks a monthly row that did not come through ParseMonthly.
func (m *Monthly) Validate() *FieldError {
	_, fe := ParseMonthly(m.Values())
	return fe
}
