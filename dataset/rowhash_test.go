package dataset

import (
	"math"
	"reflect"
	"testing"
	"time"
)

// mutateEach changes one field of *p at a time (through reflection, so a
// field added later is covered too) and calls check after each change.
func mutateEach(t *testing.T, p any, check func(field string)) {
	t.Helper()
	v := reflect.ValueOf(p).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		old := reflect.New(f.Type()).Elem()
		old.Set(f)
		switch x := f.Addr().Interface().(type) {
		case *string:
			*x += "x"
		case *int64:
			*x++
		case *int32:
			*x++
		case *float64:
			*x += 0.5
		case *NullFloat:
			x.Valid = !x.Valid
		case *[]string:
			*x = append(append([]string{}, *x...), "")
		case *time.Time:
			*x = x.AddDate(0, 1, 0)
		default:
			t.Fatalf("field %s of type %s not covered", v.Type().Field(i).Name, f.Type())
		}
		check(v.Type().Field(i).Name)
		f.Set(old)
	}
}

func TestTypedRowHashes(t *testing.T) {
	s := GenSubscriber(42, 0, 6)
	p := s.Profile
	base := p.Hash()
	mutateEach(t, &p, func(field string) {
		if p.Hash() == base {
			t.Errorf("Profile.Hash ignores %s", field)
		}
	})
	if p.Hash() != base {
		t.Fatal("Profile.Hash is not deterministic")
	}
	m := s.Monthly[0]
	mbase := m.Hash()
	mutateEach(t, &m, func(field string) {
		if m.Hash() == mbase {
			t.Errorf("Monthly.Hash ignores %s", field)
		}
	})

	// List boundaries count: ["a","b"] and ["ab"] differ, as do [] and [""].
	q := p
	q.RiskFactors, p.RiskFactors = []string{"a", "b"}, []string{"ab"}
	if q.Hash() == p.Hash() {
		t.Error("list element boundaries do not affect Profile.Hash")
	}
	q.RiskFactors, p.RiskFactors = []string{}, []string{""}
	if q.Hash() == p.Hash() {
		t.Error("[] and [\"\"] hash alike")
	}
	// nil and empty lists are the same value (both load as an empty array).
	q.RiskFactors, p.RiskFactors = nil, []string{}
	if q.Hash() != p.Hash() {
		t.Error("nil and empty lists hash differently")
	}
	// -0 and 0 are the same value; NULL differs from 0.
	q.ArpuMin6m, p.ArpuMin6m = 0, math.Copysign(0, -1)
	if q.Hash() != p.Hash() {
		t.Error("0 and -0 hash differently")
	}
	q.ArpuGrowthRate, p.ArpuGrowthRate = NullFloat{}, NullFloat{V: 0, Valid: true}
	if q.Hash() == p.Hash() {
		t.Error("NULL and 0 growth hash alike")
	}
}
