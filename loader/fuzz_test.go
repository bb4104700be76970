package loader

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/ut360/ut360/dataset"
)

// FuzzRowValidation feeds arbitrary CSV rows through the validation path of
// a load (dataset parser + the loader's store checks + the COPY row and the
// Redis hash encodings): nothing panics, and every accepted row satisfies
// what the PostgreSQL schema demands.
func FuzzRowValidation(f *testing.F) {
	for _, s := range subs(1, 0, 3) {
		f.Add(strings.Join(s.Rec.Values(), ","), strings.Join(s.Profile.Values(), "\t"))
	}
	f.Add("++/hZFPrCDRre55vsZqqxQ==,PREPAID,EasyCredit,999999999999,0,-1,LOW,1e308,,NEW,100,0,0", "")
	f.Add("a,b", "x\ty")
	f.Fuzz(func(t *testing.T, recLine, profLine string) {
		rec, err := csv.NewReader(strings.NewReader(recLine)).Read()
		if err == nil {
			if r, fe := dataset.ParseRecommendation(rec); fe == nil {
				if fe := checkRec(&r); fe == nil {
					if r.AdvanceAmount > maxNumeric12 || r.AdvanceAmount < 0 || !dataset.ValidISDN(r.ISDN) {
						t.Fatalf("accepted an invalid row %q", rec)
					}
					_ = recRow(&r)
					_ = r.RecFields()
					s := newSubscribers(1)
					if _, ok := s.add(r.ISDN); !ok {
						t.Fatalf("valid ISDN %q not added", r.ISDN)
					}
					if _, ok := s.add(r.ISDN); ok {
						t.Fatal("duplicate ISDN added")
					}
				}
			}
		}
		if p, fe := dataset.ParseProfile(strings.Split(profLine, "\t")); fe == nil {
			if fe := checkProfile(&p); fe == nil {
				for _, v := range p.Values() {
					if strings.IndexByte(v, 0) >= 0 {
						t.Fatalf("accepted a NUL byte in %q", profLine)
					}
				}
				_ = profileRow(&p)
				_ = profileFields(&p, nil)
			}
		}
	})
}
