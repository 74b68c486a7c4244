package ratelimit

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	decisions = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "ratelimit", Name: "decisions_total",
		Help: "Limits decided, by limit name and result: allowed or limited. A message counts once per limit that applies to it.",
	}, []string{"limit", "result"})

	exempted = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "ratelimit", Name: "exempt_total",
		Help: "Transactions no limit applied to, by the exemption that matched: client_ip, user or sender_domain.",
	}, []string{"reason"})

	storeSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "mamori", Subsystem: "ratelimit", Name: "store_seconds",
		Help:    "Time of one store call (all limits of a message), by backend.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"backend"})

	backendUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "mamori", Subsystem: "ratelimit", Name: "backend_up",
		Help: "1 when the last call to the store succeeded, 0 while it fails (Redis down or too slow).",
	}, []string{"backend"})

	refunds = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "ratelimit", Name: "refunds_total",
		Help: "Quota given back for refused or abandoned transactions, by result: ok or error.",
	}, []string{"result"})

	memoryEvictions = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "ratelimit", Name: "memory_evictions_total",
		Help: "Buckets of the in-process store dropped before they drained, because memory_max_keys was reached.",
	})

	_ = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "mamori", Subsystem: "ratelimit", Name: "memory_keys",
		Help: "Keys held by the in-process store.",
	}, func() float64 { return float64(processMemory.Len()) })
)

func init() {
	for _, r := range []string{"ok", "error"} {
		refunds.WithLabelValues(r)
	}
}
