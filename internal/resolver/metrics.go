package resolver

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	queries = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "dns", Name: "queries_total",
		Help: "Queries sent to nameservers, by result: ok, nodata, nxdomain, servfail (or refused), timeout, error; budget counts queries not sent because the message's lookup budget was spent.",
	}, []string{"result"})

	querySeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: "mamori", Subsystem: "dns", Name: "query_seconds",
		Help:    "Time of one query to one nameserver.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})

	cacheLookups = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "dns", Name: "cache_lookups_total",
		Help: "Lookups by whether the cache answered: hit or miss.",
	}, []string{"result"})

	cacheEntries = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: "mamori", Subsystem: "dns", Name: "cache_entries",
		Help: "Answers held in the cache (negative ones included).",
	})
)

func init() {
	for _, r := range []string{"ok", "nodata", "nxdomain", "servfail", "timeout", "error", "budget"} {
		queries.WithLabelValues(r)
	}
	for _, r := range []string{"hit", "miss"} {
		cacheLookups.WithLabelValues(r)
	}
}
