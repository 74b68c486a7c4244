package clamav

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Results counted by mamori_clamav_scans_total.
const (
	resultClean     = "clean"
	resultInfected  = "infected"
	resultError     = "error"
	resultUnscanned = "unscanned"
)

var (
	scansTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori",
		Subsystem: "clamav",
		Name:      "scans_total",
		Help:      "Streams (parts, or whole messages) by result: clean, infected, error (clamd unreachable, failing or too slow), unscanned (over max_size or clamd's StreamMaxLength).",
	}, []string{"result"})

	scanSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: "mamori",
		Subsystem: "clamav",
		Name:      "scan_seconds",
		Help:      "Time from connecting to clamd to its answer, per stream, including the upload.",
		Buckets:   []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	})

	upGauge = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: "mamori",
		Subsystem: "clamav",
		Name:      "up",
		Help:      "1 when the last contact with clamd (scan or background PING) succeeded, 0 when it failed or before the first contact.",
	})

	bytesTotal = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "mamori",
		Subsystem: "clamav",
		Name:      "bytes_total",
		Help:      "Bytes streamed to clamd.",
	})
)

func init() {
	// Export every result from the start, so that rate() works at once.
	for _, r := range []string{resultClean, resultInfected, resultError, resultUnscanned} {
		scansTotal.WithLabelValues(r)
	}
}
