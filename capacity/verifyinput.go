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
		DurationSeconds float64 `json:"duration_seconds"`
		Subscribers     int64   `json:"subscribers"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", reportPath, err)
	}
	if r.DurationSeconds <= 0 || r.Subscribers <= 0 {
		return fmt.Errorf("%s: no duration_seconds/subscribers", reportPath)
	}
	m.VerifySeconds, m.VerifySubscriber, m.VerifySource = r.DurationSeconds, r.Subscribers, reportPath
	return nil
}
