package dnsbl

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	lookups = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "dnsbl", Name: "lookups_total",
		Help: "Client lookups by list zone and result: listed, clean, refused (the list answered with a refusal code), error (timeout, server failure, answer outside 127/8).",
	}, []string{"list", "result"})

	skipped = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "dnsbl", Name: "skipped_total",
		Help: "Messages whose client was not looked up, by reason: loopback, private address, no client address, authenticated.",
	}, []string{"reason"})
)
