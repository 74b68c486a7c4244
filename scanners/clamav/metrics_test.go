package clamav

import (
	"testing"

	"github.com/mamori-mail/mamori/internal/metricstest"
	dto "github.com/prometheus/client_model/go"
)

// TestMetricNames lints the family's metrics (STYLE §8): the
// mamori_clamav_ prefix, _total on counters, _seconds on histograms, and
// no label but the bounded result.
func TestMetricNames(t *testing.T) {
	want := map[string]dto.MetricType{
		"mamori_clamav_scans_total":  dto.MetricType_COUNTER,
		"mamori_clamav_scan_seconds": dto.MetricType_HISTOGRAM,
		"mamori_clamav_up":           dto.MetricType_GAUGE,
		"mamori_clamav_bytes_total":  dto.MetricType_COUNTER,
	}
	metricstest.Lint(t, "mamori_clamav_", want, []string{"result"}, "mamori_clamav_scan_seconds")
}
