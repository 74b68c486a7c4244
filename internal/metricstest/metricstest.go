// Package metricstest lints a check family's Prometheus metrics the same way
// in every family's tests (STYLE §8): the family prefix, _total on counters,
// _seconds on histograms, and only the labels the family declares (never an
// address, a domain or a file name).
package metricstest

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Lint checks the registered metrics whose names start with prefix against
// want (name → type). A vector with no child yet does not show when
// gathered: name it in lazy to let it be missing.
func Lint(t testing.TB, prefix string, want map[string]dto.MetricType, labels []string, lazy ...string) {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	missing := map[string]dto.MetricType{}
	for k, v := range want {
		missing[k] = v
	}
	allowed := map[string]bool{}
	for _, l := range labels {
		allowed[l] = true
	}
	for _, f := range families {
		name := f.GetName()
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		typ, ok := want[name]
		if !ok {
			t.Errorf("unexpected metric %s", name)
			continue
		}
		delete(missing, name)
		if f.GetType() != typ {
			t.Errorf("%s is a %s, want %s", name, f.GetType(), typ)
		}
		switch typ {
		case dto.MetricType_COUNTER:
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s does not end in _total", name)
			}
		case dto.MetricType_HISTOGRAM:
			if !strings.HasSuffix(name, "_seconds") {
				t.Errorf("histogram %s does not end in _seconds", name)
			}
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !allowed[l.GetName()] {
					t.Errorf("%s has label %s", name, l.GetName())
				}
			}
		}
	}
	for _, name := range lazy {
		delete(missing, name)
	}
	for name := range missing {
		t.Errorf("metric %s not registered", name)
	}
}
