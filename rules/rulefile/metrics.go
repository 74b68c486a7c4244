package rulefile

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// HitsTotal counts the messages each rule fired on, by rule name; the
// engine counts meta rules' hits in it too.
var HitsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Namespace: "mamori", Subsystem: "rules", Name: "hits_total",
	Help: "Messages each rule fired on (meta rules included), by rule name.",
}, []string{"rule"})
