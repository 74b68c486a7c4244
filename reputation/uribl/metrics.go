package uribl

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var lookups = promauto.NewCounterVec(prometheus.CounterOpts{
	Namespace: "mamori", Subsystem: "uribl", Name: "lookups_total",
	Help: "Linked domains and addresses looked up, by list zone and result: listed, clean, refused, error.",
}, []string{"list", "result"})
