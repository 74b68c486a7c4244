package milter

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	sessionsInFlight = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: "mamori", Subsystem: "milter", Name: "sessions_in_flight",
		Help: "Milter connections open now (Postfix keeps one per SMTP session).",
	})
	sessionsRefused = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "milter", Name: "sessions_refused_total",
		Help: "Milter connections closed at once because limits.max_sessions was reached.",
	})
	limitHits = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "milter", Name: "limit_hits_total",
		Help: "Messages or commands refused by a resource limit, by limit.",
	}, []string{"limit"})
)
