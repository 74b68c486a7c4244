package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	messagesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Name: "messages_total",
		Help: "Verdicts by action and by the stage that decided (mail, rcpt: refused commands; eom: messages).",
	}, []string{"action", "stage"})
	messageDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: "mamori", Name: "message_duration_seconds",
		Help:    "Time from MAIL FROM to the end-of-message verdict, including waiting for the client.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	})
	scoreHist = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: "mamori", Name: "message_score",
		Help:    "Total spam score of judged messages.",
		Buckets: []float64{-5, 0, 1, 2, 3, 5, 8, 10, 15, 20, 30},
	})
	reloadsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "config", Name: "reloads_total",
		Help: "Configuration reloads by result (success, failure).",
	}, []string{"result"})
	reloadSuccess = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: "mamori", Subsystem: "config", Name: "last_reload_successful",
		Help: "1 if the last reload succeeded, 0 if the old configuration is still running after a failure.",
	})
	reloadTime = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: "mamori", Subsystem: "config", Name: "last_reload_success_timestamp_seconds",
		Help: "Unix time of the last successful (re)load.",
	})
	configInfo = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "mamori", Subsystem: "config", Name: "info",
		Help: "The running configuration's version (a content hash), as a label on a constant 1.",
	}, []string{"version"})
	rulesInfo = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "mamori", Subsystem: "rules", Name: "info",
		Help: "The running rule set's version (a hash of the rule files), as a label on a constant 1.",
	}, []string{"version"})
	rulesLoaded = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "mamori", Subsystem: "rules", Name: "loaded",
		Help: "Rules of the running rule set, by kind.",
	}, []string{"kind"})
	quarantineTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "quarantine", Name: "writes_total",
		Help: "Messages written to the quarantine store (quarantine.mode: store), by result (stored, error: tempfailed).",
	}, []string{"result"})
	quarantinePurged = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "quarantine", Name: "purged_total",
		Help: "Entries removed from the quarantine store by the retention purge.",
	})
)
