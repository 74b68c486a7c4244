package dmarc

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var results = promauto.NewCounterVec(prometheus.CounterOpts{
	Namespace: "mamori", Subsystem: "dmarc", Name: "results_total",
	Help: "Messages by DMARC result (pass, fail, none, temperror, permerror) and the policy applied to failures (reject, quarantine, none; empty otherwise).",
}, []string{"result", "policy"})
