package bayes

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	results = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "bayes", Name: "results_total",
		Help: "Messages classified, by outcome: band (a symbol was given), unsure (no band), untrained (too few learned messages, or no database yet).",
	}, []string{"result"})
)
