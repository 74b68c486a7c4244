package spf

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var results = promauto.NewCounterVec(prometheus.CounterOpts{
	Namespace: "mamori", Subsystem: "spf", Name: "results_total",
	Help: "SPF results: pass, fail, softfail, neutral, none, temperror, permerror.",
}, []string{"result"})
