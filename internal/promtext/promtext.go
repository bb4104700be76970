// Package promtext writes metrics in the Prometheus text exposition format,
// as a node_exporter textfile-collector file or a Pushgateway body: the
// metrics are gathered from a prometheus.Registry and encoded by expfmt.
package promtext

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics collects constant metrics for one snapshot (a finished run).
type Metrics struct {
	list  []prometheus.Metric
	descs map[string]*prometheus.Desc
	order []*prometheus.Desc
}

// desc returns the one descriptor of a metric name.
func (m *Metrics) desc(name, help string, labels []string) *prometheus.Desc {
	if d, ok := m.descs[name]; ok {
		return d
	}
	if m.descs == nil {
		m.descs = map[string]*prometheus.Desc{}
	}
	d := prometheus.NewDesc(name, help, labels, nil)
	m.descs[name] = d
	m.order = append(m.order, d)
	return d
}

// Describe sends the descriptors of the collected metrics, each once.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range m.order {
		ch <- d
	}
}

// Collect sends the collected metrics.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, x := range m.list {
		ch <- x
	}
}

// Gauge adds one gauge sample; labels and values pair up in order. Every
// sample of a name must carry the same label names.
func (m *Metrics) Gauge(name, help string, v float64, labels, values []string) {
	m.list = append(m.list, prometheus.MustNewConstMetric(m.desc(name, help, labels), prometheus.GaugeValue, v, values...))
}

// Summary adds one summary sample (count, sum and quantiles 0–1).
func (m *Metrics) Summary(name, help string, count uint64, sum float64, quantiles map[float64]float64, labels, values []string) {
	m.list = append(m.list, prometheus.MustNewConstSummary(m.desc(name, help, labels), count, sum, quantiles, values...))
}

// WriteFile registers m in a fresh registry, gathers it (which checks names,
// labels and consistency) and writes the text format to path through a
// temporary file in the same folder, so that a collector never reads half a
// file.
func WriteFile(path string, m *Metrics) error {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	enc := expfmt.NewEncoder(tmp, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err = enc.Encode(mf); err != nil {
			break
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("metrics: write %s: %w", path, err)
	}
	return nil
}

// ReadFile parses a text-format file with the official parser
// (expfmt.TextParser), as Prometheus and node_exporter would read it.
func ReadFile(path string) (map[string]*dto.MetricFamily, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		return nil, fmt.Errorf("metrics: %s: %w", path, err)
	}
	return mfs, nil
}
