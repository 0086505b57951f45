package bridge

import (
	"time"

	"github.com/robfig/cron/v3"
)

// runsPerDay counts how often a schedule fires in the day after from.
func runsPerDay(s cron.Schedule, from time.Time) int {
	end := from.Add(24 * time.Hour)
	n := 0
	for t := s.Next(from); !t.After(end) && n < 24*60*60; t = s.Next(t) {
		n++
	}
	return n
}

// pollCostPerDay estimates the cloud calls the polls make in a day for
// locks locks, withGateway of them with a gateway: the lock list (owner and
// ekey lists), an open-state read per gateway lock, a records read per
// lock, and the client's gateway look-ups (cached 30 minutes). Commands,
// logins and push follow-ups come on top.
func pollCostPerDay(s schedules, from time.Time, locks, withGateway int) int {
	return runsPerDay(s.locks, from)*2 + runsPerDay(s.state, from)*withGateway +
		runsPerDay(s.records, from)*locks + 48*withGateway
}

// checkBudget warns when the schedule needs more calls a day than the
// budget allows: polls will then lag behind their schedule (commands keep
// their reserve).
func (b *Bridge) checkBudget() {
	if b.opts.DailyBudget <= 0 {
		return
	}
	b.mu.Lock()
	locks, withGateway := len(b.locks), 0
	for _, m := range b.locks {
		if m.info.HasGateway {
			withGateway++
		}
	}
	b.mu.Unlock()
	need := pollCostPerDay(b.sched, b.opts.Now(), locks, withGateway)
	// Reads may use 95 % of the day (the rest is kept for commands).
	if avail := b.opts.DailyBudget * 19 / 20; need > avail {
		b.log.Warn("poll schedule needs more cloud calls than the daily budget; polls will lag, commands keep priority (slow down poll.state or poll.records)",
			"calls_per_day_needed", need, "calls_per_day_for_polls", avail, "locks", locks)
	} else {
		b.log.Info("cloud budget", "calls_per_day_needed", need, "calls_per_day_for_polls", avail, "locks", locks)
	}
}
