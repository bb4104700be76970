package verify

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/ut360/ut360/internal/promtext"
)

// WriteMetrics writes the report to path in the Prometheus text format (a
// node_exporter textfile-collector file or a Pushgateway body): rows checked
// per source, mismatches per class (every class, zeros included; sum them
// for the total), the
// duration, and whether the stores agree.
func (r *Report) WriteMetrics(path string) error {
	m := &promtext.Metrics{}
	ns := []string{"namespace", "mode"}
	v := []string{r.Namespace, r.Mode}
	clean := 0.0
	if r.Clean {
		clean = 1
	}
	m.Gauge("ut360_verify_clean", "1 when the stores agree (no mismatch), else 0.", clean, ns, v)
	for _, c := range r.Classes {
		m.Gauge("ut360_verify_mismatches", "Mismatches found, by class.", float64(c.Count), []string{"namespace", "mode", "class"}, append(slices.Clip(v), c.Class))
	}
	raw, err := json.Marshal(r.RowsChecked)
	if err != nil {
		return fmt.Errorf("verify metrics: %w", err)
	}
	var rows map[string]int64
	if err := json.Unmarshal(raw, &rows); err != nil {
		return fmt.Errorf("verify metrics: %w", err)
	}
	for _, k := range slices.Sorted(maps.Keys(rows)) {
		m.Gauge("ut360_verify_rows_checked", "Rows, hashes and index members read, by source.", float64(rows[k]), []string{"namespace", "mode", "source"}, append(slices.Clip(v), k))
	}
	m.Gauge("ut360_verify_duration_seconds", "How long the verify run took.", r.DurationSeconds, ns, v)
	m.Gauge("ut360_verify_differing_buckets", "Checksum buckets that differed and were drilled into.", float64(r.DifferingBuckets), ns, v)
	m.Gauge("ut360_verify_timestamp_seconds", "When the verify run started (Unix time).", float64(r.StartedAt.UnixMilli())/1e3, ns, v)
	if err := promtext.WriteFile(path, m); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}
