package rules

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	stageDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "mamori",
		Subsystem: "check",
		Name:      "duration_seconds",
		Help:      "Time each check took per stage, including time spent waiting for its dependency.",
		Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"check", "stage"})

	checkErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori",
		Subsystem: "check",
		Name:      "errors_total",
		Help:      "Checks that could not decide, by kind (error, timeout, panic).",
	}, []string{"check", "kind"})
)
