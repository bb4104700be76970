package bench

import (
	"math/big"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// pgxNumeric is pgx's own decoding of a binary numeric, the reference.
func pgxNumeric(b []byte) (pgtype.Numeric, error) {
	var n pgtype.Numeric
	err := pgtype.NewMap().Scan(pgtype.NumericOID, pgx.BinaryFormatCode, b, &n)
	return n, err
}

// encodeNumeric is pgx's binary encoding of the numeric written s.
func encodeNumeric(t testing.TB, s string) []byte {
	t.Helper()
	var n pgtype.Numeric
	if err := n.Scan(s); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	b, err := pgtype.NewMap().Encode(pgtype.NumericOID, pgx.BinaryFormatCode, n, nil)
	if err != nil {
		t.Fatalf("encode %s: %v", s, err)
	}
	return b
}

func TestNumericInt64(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"-1", -1, true}, {"9999", 9999, true}, {"10000", 10000, true},
		{"50000", 50000, true}, {"123456789012", 123456789012, true}, {"-999999999999", -999999999999, true},
		{"9999999999999999", 9999999999999999, true}, {"-9999999999999999", -9999999999999999, true},
		{"10000000000000000", 0, false}, // 10^16: weight 4
		{"1.5", 0, false}, {"0.0001", 0, false}, {"12345.6789", 0, false},
		{"NaN", 0, false}, {"Infinity", 0, false}, {"-Infinity", 0, false},
	} {
		b := encodeNumeric(t, tc.in)
		got, ok := numericInt64(b)
		if ok != tc.ok || got != tc.want {
			t.Errorf("numericInt64(%s) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzNumericInt64: whatever the bytes, a value the fast path accepts is the
// value pgx decodes, and nothing panics.
func FuzzNumericInt64(f *testing.F) {
	for _, s := range []string{"0", "-42", "123456789012", "1.5", "NaN", "10000000000000000"} {
		f.Add(encodeNumeric(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := numericInt64(b)
		if !ok {
			return
		}
		n, err := pgxNumeric(b)
		if err != nil {
			t.Fatalf("fast path accepted %x (%d), pgx rejects it: %v", b, v, err)
		}
		// pgx's value is Int × 10^Exp (a display scale makes Exp negative).
		scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(n.Exp, -n.Exp))), nil)
		want := new(big.Rat).SetInt(n.Int)
		if n.Exp >= 0 {
			want.Mul(want, new(big.Rat).SetInt(scale))
		} else {
			want.Quo(want, new(big.Rat).SetInt(scale))
		}
		if want.Cmp(new(big.Rat).SetInt64(v)) != 0 {
			t.Fatalf("%x: fast path %d, pgx %v×10^%d", b, v, n.Int, n.Exp)
		}
	})
}
