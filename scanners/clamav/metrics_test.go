package clamav

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestMetricNames lints the family's metrics (STYLE §8): the
// mamori_clamav_ prefix, _total on counters, _seconds on histograms, and
// no label but the bounded result.
func TestMetricNames(t *testing.T) {
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]dto.MetricType{
		"mamori_clamav_scans_total":  dto.MetricType_COUNTER,
		"mamori_clamav_scan_seconds": dto.MetricType_HISTOGRAM,
		"mamori_clamav_up":           dto.MetricType_GAUGE,
		"mamori_clamav_bytes_total":  dto.MetricType_COUNTER,
	}
	for _, f := range families {
		name := f.GetName()
		if !strings.HasPrefix(name, "mamori_clamav_") {
			continue
		}
		typ, ok := want[name]
		if !ok {
			t.Errorf("unexpected metric %s", name)
			continue
		}
		delete(want, name)
		if f.GetType() != typ {
			t.Errorf("%s is a %s, want %s", name, f.GetType(), typ)
		}
		switch typ {
		case dto.MetricType_COUNTER:
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s does not end in _total", name)
			}
		case dto.MetricType_HISTOGRAM:
			if !strings.HasSuffix(name, "_seconds") {
				t.Errorf("histogram %s does not end in _seconds", name)
			}
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "result" {
					t.Errorf("%s has label %s", name, l.GetName())
				}
			}
		}
	}
	for name := range want {
		if name != "mamori_clamav_scan_seconds" { // empty until a scan ran
			t.Errorf("metric %s not registered", name)
		}
	}
}
