package dkim

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var results = promauto.NewCounterVec(prometheus.CounterOpts{
	Namespace: "mamori", Subsystem: "dkim", Name: "results_total",
	Help: "Signatures by result: pass, fail, temperror, permerror; none counts messages without a signature.",
}, []string{"result"})
