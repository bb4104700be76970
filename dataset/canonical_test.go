package dataset

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/xxh3"
)

func TestCanonFloat(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{1, "1"},
		{-2.5, "-2.5"},
		{12345.67, "12345.67"},
		{100000, "100000"},
		{1e6, "1000000"},
		{123456789, "123456789"},
		{1234567.89, "1234567.89"},
		{0.0001, "0.0001"},
		{0.00001, "0.00001"},
		{1e-6, "0.000001"},
		{9.9e-7, "9.9e-07"},
		{1e20, "100000000000000000000"},
		{1e21, "1e+21"},
		{math.Nextafter(0.3, 1), "0.30000000000000004"},
		{1e300, "1e+300"},
		{-1e300, "-1e+300"},
		{5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{math.SmallestNonzeroFloat64, "5e-324"},
	} {
		if got := CanonFloat(tc.in); got != tc.want {
			t.Errorf("CanonFloat(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCanonScalars(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{CanonInt(0), "0"},
		{CanonInt(-7), "-7"},
		{CanonInt(math.MaxInt64), "9223372036854775807"},
		{CanonInt(math.MinInt64), "-9223372036854775808"},
		{CanonNullFloat(NullFloat{}), ""},
		{CanonNullFloat(NullFloat{V: 3, Valid: false}), ""},
		{CanonNullFloat(NullFloat{V: 0, Valid: true}), "0"},
		{CanonNullFloat(NullFloat{V: -0.05, Valid: true}), "-0.05"},
		{CanonDate(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)), "2026-10-01"},
		{CanonDate(time.Date(2026, 10, 1, 5, 0, 0, 0, time.FixedZone("ICT", 7*3600))), "2026-09-30"},
		{CanonDate(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)), "0001-01-01"},
		{CanonList(nil), "[]"},
		{CanonList([]string{}), "[]"},
		{CanonList([]string{""}), `[""]`},
		{CanonList([]string{"a", "b"}), `["a","b"]`},
		{CanonList([]string{"Nợ quá hạn", "<b>&</b>"}), `["Nợ quá hạn","<b>&</b>"]`},
		{CanonList([]string{`say "hi"`, `back\slash`, "tab\tnl\n"}), `["say \"hi\"","back\\slash","tab\tnl\n"]`},
		{CanonList([]string{"\x01", "\u2028"}), `["\u0001","\u2028"]`},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestHashValues(t *testing.T) {
	// The row hash is xxh3-64 over uvarint(len) ‖ bytes per column, built here
	// independently of HashValues.
	vals := []string{"ab", "", strings.Repeat("x", 300), "Việt"}
	var b []byte
	for _, v := range vals {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	if got, want := HashValues(vals), xxh3.Hash(b); got != want {
		t.Errorf("HashValues = %x, want %x", got, want)
	}
	// Length prefixes keep column boundaries: moving a byte across changes the hash.
	if HashValues([]string{"ab", "c"}) == HashValues([]string{"a", "bc"}) {
		t.Error("column boundaries do not affect the hash")
	}
	if HashValues([]string{"", ""}) == HashValues([]string{""}) {
		t.Error("an extra empty column does not affect the hash")
	}
	// -0 and 0 are the same value, so the same hash.
	a, z := GenSubscriber(1, 0, 7).Rec, GenSubscriber(1, 0, 7).Rec
	a.ArpuAvg6m, z.ArpuAvg6m = 0, math.Copysign(0, -1)
	if a.Hash() != z.Hash() {
		t.Error("0 and -0 hash differently")
	}
	if HashISDN("a") == HashISDN("b") {
		t.Error("HashISDN collides on trivial input")
	}
}

func TestValidISDN(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"++/hZFPrCDRre55vsZqqxQ==", true},
		{ISDNFor(1, 0), true},
		{"++/hZFPrCDRre55vsZqqxQ=", false},  // 23 characters
		{"++/hZFPrCDRre55vsZqqxQA=", false}, // 17 bytes would need no padding; not base64 of 16
		{"++/hZFPrCDRre55vsZqqxR==", false}, // non-canonical trailing bits
		{"--_hZFPrCDRre55vsZqqxQ==", false}, // URL alphabet
		{"++/hZFPrCDRre55vsZqq Q==", false}, // space
		{"", false},
	} {
		if got := ValidISDN(tc.s); got != tc.ok {
			t.Errorf("ValidISDN(%q) = %v, want %v", tc.s, got, tc.ok)
		}
	}
}

type faultCase struct {
	col, val, reason string
}

// checkFaults sets each case's column of a valid row to its value and
// expects a FieldError naming that column and reason.
func checkFaults[T any](t *testing.T, cols, good []string, parse func([]string) (T, *FieldError), cases []faultCase) {
	t.Helper()
	for _, c := range cases {
		vals := slices.Clone(good)
		vals[slices.Index(cols, c.col)] = c.val
		_, fe := parse(vals)
		if fe == nil || fe.Column != c.col || !strings.Contains(fe.Reason, c.reason) {
			t.Errorf("%s=%q: got %v, want column %s: %s", c.col, c.val, fe, c.col, c.reason)
		}
	}
}

// TestParseFaults: each bad value names its column.
func TestParseFaults(t *testing.T) {
	good := GenSubscriber(1, 0, 7)
	recCases := []faultCase{
		{"isdn", "", "empty ISDN"},
		{"isdn", "abc", "invalid ISDN"},
		{"subscriber_type", "prepaid", "unknown value"},
		{"service_type", "EasyCredit ", "unknown value"},
		{"advance_amount", "-1", "negative amount"},
		{"advance_amount", "1e4", "not an integer"},
		{"advance_amount", "9223372036854775808", "not an integer"},
		{"cluster_group", "2147483648", "not an integer"},
		{"arpu_avg_6m", "", "not a number"},
		{"arpu_avg_6m", "Inf", "non-finite number"},
		{"arpu_growth_rate", "abc", "not a number"},
		{"customer_value_score", "-0.01", "score outside 0-100"},
		{"priority_score", "NaN", "non-finite number"},
	}
	checkFaults(t, RecommendationColumns, good.Rec.Values(), ParseRecommendation, recCases)
	checkFaults(t, ProfileColumns, good.Profile.Values(), ParseProfile, []faultCase{
		{"revenue_sms_share", "1.5", "share outside 0-1"},
		{"risk_factors", "not json", "not a JSON list"},
		{"risk_factors", `[1,2]`, "not a JSON list"},
		{"insight_strengths", `{"a":"b"}`, "not a JSON list"},
		{"cluster_label", "\xc3", "invalid UTF-8"},
		{"topup_count_6m", "x", "not an integer"},
	})
	checkFaults(t, MonthlyColumns, good.Monthly[0].Values(), ParseMonthly, []faultCase{
		{"data_month", "2026-10-02", "not the first of a month"},
		{"data_month", "2026/10/01", "not a date"},
		{"arpu_total", "1,5", "not a number"},
	})
	if _, fe := ParseMonthly([]string{"a"}); fe == nil || !strings.Contains(fe.Reason, "wrong column count") {
		t.Errorf("short row: %v", fe)
	}
	// The first fault wins, and a long value is shortened in the message.
	vals := good.Rec.Values()
	vals[0] = strings.Repeat("z", 200)
	vals[1] = "bad"
	_, fe := ParseRecommendation(vals)
	if fe == nil || fe.Column != "isdn" || len(fe.Error()) > 160 {
		t.Errorf("first fault: %v", fe)
	}
}

// TestParseLenient: non-canonical but valid input parses to the canonical value.
func TestParseLenient(t *testing.T) {
	sub := GenSubscriber(1, 0, 7)
	vals := sub.Rec.Values()
	vals[3] = " 020000 "
	vals[7] = "1.50E+01"
	vals[8] = "-0"
	r, fe := ParseRecommendation(vals)
	if fe != nil {
		t.Fatal(fe)
	}
	got := r.Values()
	if got[3] != "20000" || got[7] != "15" || got[8] != "0" {
		t.Errorf("canonical forms %q %q %q", got[3], got[7], got[8])
	}
}

func TestKeys(t *testing.T) {
	k := NewKeys("")
	isdn := "++/hZFPrCDRre55vsZqqxQ=="
	for _, tc := range []struct{ got, want string }{
		{k.Rec(isdn), "ut360:rec:++/hZFPrCDRre55vsZqqxQ=="},
		{k.Profile(isdn), "ut360:profile:++/hZFPrCDRre55vsZqqxQ=="},
		{k.ServiceIndex("EasyCredit"), "ut360:idx:service:EasyCredit"},
		{k.RiskIndex("LOW"), "ut360:idx:risk:LOW"},
		{k.ClusterIndex(3), "ut360:idx:cluster:3"},
		{k.Stats(), "ut360:meta:stats"},
		{NewKeys("t[1]*").Pattern(), `t\[1\]\*:*`},
		{NewKeys("tenant").RecPrefix(), "tenant:rec:"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
