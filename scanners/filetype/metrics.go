package filetype

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	findingsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "filetype", Name: "findings_total",
		Help: "File-type findings, by rule (blocked_extension, executable, encrypted, mime_limit...).",
	}, []string{"rule"})
	membersTotal = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "filetype", Name: "archive_members_total",
		Help: "Archive members looked at, all nesting levels.",
	})
	bytesTotal = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "mamori", Subsystem: "filetype", Name: "archive_bytes_total",
		Help: "Bytes decompressed from archive members.",
	})
	inspectSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: "mamori", Subsystem: "filetype", Name: "inspect_seconds",
		Help:    "Time to judge one message's attachments, archives included.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
)
