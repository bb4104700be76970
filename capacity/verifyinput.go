package capacity

import (
	"encoding/json"
	"fmt"
	"os"
)

// AttachVerify records verify throughput in m: seconds if given (for m's
// subscriber count), else the duration in a verify JSON report.
func AttachVerify(m *Measurement, reportPath string, seconds float64) error {
	if seconds > 0 {
		m.VerifySeconds, m.VerifySubscriber, m.VerifySource = seconds, m.Subscribers, "given on the command line"
		return nil
	}
	if reportPath == "" {
		return nil
	}
	b, err := os.ReadFile(reportPath)
	if err != nil {
		return err
	}
	// The verify report's fields that matter here (see package verify).
	var r struct {
		Mode            string  `json:"mode"`
		DurationSeconds float64 `json:"duration_seconds"`
		RowsChecked     struct {
			PGRecommendations int64 `json:"pg_recommendations"`
		} `json:"rows_checked"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", reportPath, err)
	}
	if r.Mode != "full" || r.DurationSeconds <= 0 || r.RowsChecked.PGRecommendations <= 0 {
		return fmt.Errorf("%s: not a full verify report with duration_seconds and rows_checked", reportPath)
	}
	m.VerifySeconds, m.VerifySubscriber, m.VerifySource = r.DurationSeconds, r.RowsChecked.PGRecommendations, reportPath
	return nil
}
