package check

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestOutcomeYAML(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Outcome
		err  bool
	}{
		{"reject", Reject, false},
		{"quarantine", Quarantine, false},
		{"tempfail", Tempfail, false},
		{"discard", Discard, false},
		{"none", Outcome{}, false},
		{"3.5", Score(3.5), false},
		{"-2", Score(-2), false},
		{"accept", Outcome{}, true},
		{"[1]", Outcome{}, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var o Outcome
			err := yaml.Unmarshal([]byte(tc.in), &o)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if err == nil && o != tc.want {
				t.Fatalf("got %+v, want %+v", o, tc.want)
			}
			if err == nil {
				out, _ := yaml.Marshal(o)
				var back Outcome
				if err := yaml.Unmarshal(out, &back); err != nil || back != o {
					t.Fatalf("round trip %q -> %+v, %v", out, back, err)
				}
			}
		})
	}
}

func TestOutcomeApplyKeepsStrongest(t *testing.T) {
	var res Result
	Quarantine.Apply(&res, "A", "a", Reply{}, "qa")
	Reject.Apply(&res, "B", "b", Reply{Code: 554, Status: "5.7.1", Text: "no"}, "rb")
	Quarantine.Apply(&res, "C", "c", Reply{}, "qc")
	Score(2).Apply(&res, "D", "d", Reply{}, "")
	if res.Decision == nil || res.Decision.Action != ActReject || res.Decision.Reason != "rb" || res.Decision.Reply.Code != 554 {
		t.Fatalf("decision = %+v, want the reject", res.Decision)
	}
	if len(res.Symbols) != 4 || res.Symbols[3].Score != 2 {
		t.Fatalf("symbols = %+v", res.Symbols)
	}
}
