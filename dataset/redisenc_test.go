package dataset

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func pairsToMap(t *testing.T, pairs []string) map[string]string {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatalf("odd number of field/value items: %d", len(pairs))
	}
	m := make(map[string]string, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		if _, dup := m[pairs[i]]; dup {
			t.Fatalf("field %s twice", pairs[i])
		}
		m[pairs[i]] = pairs[i+1]
	}
	return m
}

func TestRecHashRoundTrip(t *testing.T) {
	recs := edgeRecommendations()
	for i := range 200 {
		recs = append(recs, GenSubscriber(2, i, 7).Rec)
	}
	for i := range recs {
		h := pairsToMap(t, recs[i].RecFields())
		if !slices.Equal(slices.Sorted(mapKeys(h)), slices.Sorted(slices.Values(RecommendationColumns))) {
			t.Fatalf("rec hash fields %v, want the CSV columns", slices.Sorted(mapKeys(h)))
		}
		got, fe := RecommendationFromHash(h)
		if fe != nil {
			t.Fatalf("record %d: %v", i, fe)
		}
		if !slices.Equal(got.Values(), recs[i].Values()) {
			t.Fatalf("record %d:\n got %q\nwant %q", i, got.Values(), recs[i].Values())
		}
	}
	// NULL growth is an empty field, present in the hash.
	if h := pairsToMap(t, recs[1].RecFields()); h["arpu_growth_rate"] != "" {
		t.Errorf("NULL growth stored as %q", h["arpu_growth_rate"])
	}
}

func TestRecHashFaults(t *testing.T) {
	s := GenSubscriber(1, 0, 7)
	base := func() map[string]string { return pairsToMap(t, s.Rec.RecFields()) }
	h := base()
	delete(h, "priority_score")
	if _, fe := RecommendationFromHash(h); fe == nil || fe.Column != "priority_score" || !strings.Contains(fe.Reason, "missing") {
		t.Errorf("missing field: %v", fe)
	}
	h = base()
	h["extra"] = "1"
	if _, fe := RecommendationFromHash(h); fe == nil || fe.Column != "extra" {
		t.Errorf("extra field: %v", fe)
	}
	h = base()
	h["bad_debt_risk"] = "low"
	if _, fe := RecommendationFromHash(h); fe == nil || fe.Column != "bad_debt_risk" {
		t.Errorf("bad value: %v", fe)
	}
	if _, fe := RecommendationFromHash(nil); fe == nil {
		t.Error("empty hash accepted")
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func profileCases() []Subscriber {
	var subs []Subscriber
	for i := range 200 {
		subs = append(subs, GenSubscriber(3, i, 7))
	}
	for i, p := range edgeProfiles() {
		subs = append(subs, Subscriber{Profile: p, Monthly: edgeMonthlies()[:i%3]})
	}
	for i := range subs {
		for j := range subs[i].Monthly {
			subs[i].Monthly[j].ISDN = subs[i].Profile.ISDN
		}
	}
	return subs
}

func TestProfileHashRoundTrip(t *testing.T) {
	for i, s := range profileCases() {
		fields := s.Profile.ProfileFields(s.Monthly)
		h := pairsToMap(t, fields)
		if !slices.Equal(slices.Sorted(mapKeys(h)), slices.Sorted(slices.Values(ProfileFieldNames))) {
			t.Fatalf("profile hash fields %v", slices.Sorted(mapKeys(h)))
		}
		for _, f := range []string{PFBasic, PFMonthly, PFKPI} { // SPEC §3 names them
			if !json.Valid([]byte(h[f])) {
				t.Fatalf("field %s is not JSON: %s", f, h[f])
			}
		}
		checkProfileHash(t, i, s, h)
		// The decoder must not depend on key order, spacing or how numbers are spelt.
		for f, v := range h {
			h[f] = respell(t, v)
		}
		checkProfileHash(t, i, s, h)
	}
}

func checkProfileHash(t *testing.T, i int, s Subscriber, h map[string]string) {
	t.Helper()
	p, months, fe := ProfileFromHash(h)
	if fe != nil {
		t.Fatalf("profile %d: %v\nhash: %v", i, fe, h)
	}
	if !slices.Equal(p.Values(), s.Profile.Values()) {
		t.Fatalf("profile %d:\n got %q\nwant %q", i, p.Values(), s.Profile.Values())
	}
	if len(months) != len(s.Monthly) {
		t.Fatalf("profile %d: %d months, want %d", i, len(months), len(s.Monthly))
	}
	for j := range months {
		if !slices.Equal(months[j].Values(), s.Monthly[j].Values()) {
			t.Fatalf("profile %d month %d:\n got %q\nwant %q", i, j, months[j].Values(), s.Monthly[j].Values())
		}
	}
	if ProfileDigest(&p, months) != ProfileDigest(&s.Profile, s.Monthly) {
		t.Fatalf("profile %d: digest differs after the round trip", i)
	}
}

// respell rewrites a JSON document with object keys in reverse order, spaces
// around every token and non-integer numbers in exponent form.
func respell(t *testing.T, doc string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", doc, err)
	}
	var b bytes.Buffer
	writeRespelled(t, &b, v)
	return b.String()
}

func writeRespelled(t *testing.T, b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Sort(sort.Reverse(sort.StringSlice(keys)))
		b.WriteString("{ ")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(" , ")
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteString(" : ")
			writeRespelled(t, b, x[k])
		}
		b.WriteString(" }")
	case []any:
		b.WriteString("[ ")
		for i, e := range x {
			if i > 0 {
				b.WriteString(" , ")
			}
			writeRespelled(t, b, e)
		}
		b.WriteString(" ]")
	case json.Number:
		s := x.String()
		if strings.ContainsAny(s, ".eE") {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			s = strconv.FormatFloat(f, 'E', -1, 64)
		}
		b.WriteString(s)
	default:
		vb, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(vb)
	}
}

func TestProfileHashFaults(t *testing.T) {
	s := GenSubscriber(1, 0, 7)
	base := func() map[string]string { return pairsToMap(t, s.Profile.ProfileFields(s.Monthly)) }
	for _, tc := range []struct {
		field, value, wantCol string
	}{
		{PFKPI, "{", PFKPI},
		{PFMonthly, `{"month":["2026-10"],"call":[],"sms":[],"data":[],"total":[]}`, PFMonthly},
		{PFMonthly, `{"month":["2026-13"],"call":[1],"sms":[1],"data":[1],"total":[3]}`, PFMonthly},
		{PFKPI, `{"customer_value":101,"advance_readiness":1,"engagement":1,"priority":1}`, "customer_value_score"},
		{PFBasic, `{"isdn":"x","subscriber_type":"PREPAID","service":"EasyCredit","advance":1}`, "isdn"},
	} {
		h := base()
		h[tc.field] = tc.value
		if _, _, fe := ProfileFromHash(h); fe == nil || fe.Column != tc.wantCol {
			t.Errorf("%s=%s: got %v, want a fault in %s", tc.field, tc.value, fe, tc.wantCol)
		}
	}
	h := base()
	delete(h, PFRisk)
	if _, _, fe := ProfileFromHash(h); fe == nil || fe.Column != PFRisk {
		t.Errorf("missing risk field: %v", fe)
	}
}
