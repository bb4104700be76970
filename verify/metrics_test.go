package verify

import (
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ut360/ut360/internal/promtext"
)

func TestWriteMetrics(t *testing.T) {
	r := &Report{FormatVersion: FormatVersion, Mode: "full", Namespace: "ut360", StartedAt: time.Unix(1700000000, 0),
		DurationSeconds: 2.5, RowsChecked: RowsChecked{PGRecommendations: 10, RedisRecKeys: 9}, Mismatches: 3}
	for _, c := range Classes {
		r.Classes = append(r.Classes, &ClassReport{Class: c})
	}
	r.Class(MissingInRedis).Count = 1
	r.Class(FieldMismatch).Count = 2
	path := filepath.Join(t.TempDir(), "verify.prom")
	if err := r.WriteMetrics(path); err != nil {
		t.Fatal(err)
	}
	mfs, err := promtext.ReadFile(path) // the official parser, expfmt.TextParser
	if err != nil {
		t.Fatal(err)
	}
	get := func(name, label, value string) float64 {
		t.Helper()
		for _, m := range mfs[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if label == "" || l.GetName() == label && l.GetValue() == value {
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Errorf("no %s{%s=%q}", name, label, value)
		return -1
	}
	if mfs["ut360_verify_clean"].GetType() != dto.MetricType_GAUGE || get("ut360_verify_clean", "", "") != 0 {
		t.Errorf("clean: %v", mfs["ut360_verify_clean"])
	}
	for class, want := range map[string]float64{MissingInRedis: 1, FieldMismatch: 2, TTL: 0} {
		if got := get("ut360_verify_mismatches", "class", class); got != want {
			t.Errorf("mismatches{class=%s} = %g, want %g", class, got, want)
		}
	}
	if n := len(mfs["ut360_verify_mismatches"].GetMetric()); n != len(Classes) {
		t.Errorf("%d classes, want every class (%d)", n, len(Classes))
	}
	if got := get("ut360_verify_rows_checked", "source", "redis_rec_keys"); got != 9 {
		t.Errorf("rows checked redis_rec_keys = %g", got)
	}
	if got := get("ut360_verify_duration_seconds", "", ""); got != 2.5 {
		t.Errorf("duration = %g", got)
	}
}
