package bridge

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// parsed parses the specs of s.
func parsed(t *testing.T, s Schedule) schedules {
	t.Helper()
	var out schedules
	for _, f := range []struct {
		spec string
		dst  *cron.Schedule
	}{{s.State, &out.state}, {s.Locks, &out.locks}, {s.Records, &out.records}} {
		p, err := parseSpec(cronParser(), f.spec)
		if err != nil {
			t.Fatal(err)
		}
		*f.dst = p
	}
	return out
}

func TestPollCostPerDay(t *testing.T) {
	from := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	def := Schedule{State: "@every 5m", Locks: "@every 1h", Records: "@every 10m"}
	tests := []struct {
		name               string
		sched              Schedule
		locks, withGateway int
		want               int
	}{
		// 24×2 lists + 288 state reads + 144 records reads + 48 look-ups per gateway lock.
		{"default, 3 locks with gateway", def, 3, 3, 48 + 3*288 + 3*144 + 3*48},
		{"default, no gateway", def, 2, 0, 48 + 2*144},
		{"no locks", def, 0, 0, 48},
		{"hourly state", Schedule{State: "@hourly", Locks: "@every 1h", Records: "@every 1h"}, 1, 1, 48 + 24 + 24 + 48},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pollCostPerDay(parsed(t, tt.sched), from, tt.locks, tt.withGateway); got != tt.want {
				t.Errorf("pollCostPerDay = %d, want %d", got, tt.want)
			}
		})
	}
	// The default schedule fits 39 gateway locks in the polls' 95 % of
	// 20,000 calls a day, not 40: the figure BENCHMARKS.md gives.
	if got := pollCostPerDay(parsed(t, def), from, 39, 39); got > 19000 {
		t.Errorf("39 locks need %d calls a day, over the polls' share", got)
	}
	if got := pollCostPerDay(parsed(t, def), from, 40, 40); got <= 19000 {
		t.Errorf("40 locks need only %d calls a day", got)
	}
}

func TestRunsPerDay(t *testing.T) {
	parser := cronParser()
	from := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for spec, want := range map[string]int{"@every 5m": 288, "@hourly": 24, "*/10 * * * *": 144, "0 3 * * *": 1} {
		s, err := parser.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := runsPerDay(s, from); got != want {
			t.Errorf("runsPerDay(%q) = %d, want %d", spec, got, want)
		}
	}
}
