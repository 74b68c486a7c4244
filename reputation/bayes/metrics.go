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
	touches = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "bayes", Name: "touch_total",
		Help: "Writes of the last-seen time of tokens used in scoring, by result: written (a chunk of up to 2,048 tokens), postponed (the store was busy or down; kept for the next round), untrained (no database), deferred (a token not kept because 262,144 were already pending).",
	}, []string{"result"})
)
