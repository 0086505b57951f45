package sifely

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Budget windows.
const (
	minute = time.Minute
	hour   = time.Hour
	day    = 24 * time.Hour
)

// Pauses after the cloud said the rate limit was hit.
const (
	rateLimitPause = time.Minute      // HTTP 429, 30006
	quotaPause     = 30 * time.Minute // 30007: the quota is used up
)

// limiter is a sliding-window counter over the calls sent in the last day.
// Every request of the client, logins included, passes through wait; it
// blocks until the call fits every window. Reads may not use the last
// CommandReserve calls of a minute, nor the last twentieth of the hour's
// and the day's budget, so polls never starve a command.
type limiter struct {
	budget Budget
	now    func() time.Time

	mu         sync.Mutex
	sent       []time.Time // ascending send times within the last day
	pauseUntil time.Time   // the cloud asked us to stop until then
}

func newLimiter(b Budget, now func() time.Time) *limiter {
	return &limiter{budget: b, now: now}
}

// withDefaults fills the zero fields of b with the cloud's documented limits.
func (b Budget) withDefaults() Budget {
	if b.PerMinute <= 0 {
		b.PerMinute = 30
	}
	if b.PerHour <= 0 {
		b.PerHour = 1000
	}
	if b.PerDay <= 0 {
		b.PerDay = 20000
	}
	if b.CommandReserve <= 0 {
		b.CommandReserve = 5
	}
	if b.CommandReserve >= b.PerMinute {
		b.CommandReserve = b.PerMinute - 1
	}
	return b
}

// wait blocks until one more call fits the budget and records it. It
// returns ErrBudgetExhausted at once when the day's budget is used up or
// when the wait would outlast ctx's deadline, and ctx's error when ctx ends
// first.
func (l *limiter) wait(ctx context.Context, command bool) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.mu.Lock()
		now := l.now()
		l.trim(now)
		at, dayFull := l.nextSlot(now, command)
		paused := l.pauseUntil.After(now)
		if !at.After(now) {
			l.sent = append(l.sent, now)
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		if dayFull {
			return fmt.Errorf("%d calls in the last day: %w", l.budget.PerDay, ErrBudgetExhausted)
		}
		wait := at.Sub(now)
		// Deadlines are on the real clock; compare durations, not instants
		// of a possibly fake Now.
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			if paused {
				return fmt.Errorf("cloud asked to pause until %s: %w: %w", at.Format(time.TimeOnly), ErrRateLimited, ErrBudgetExhausted)
			}
			return fmt.Errorf("next call allowed at %s, after the deadline: %w", at.Format(time.TimeOnly), ErrBudgetExhausted)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// nextSlot returns when the next call may be sent and whether the day's
// budget is what stops it. The caller holds l.mu.
func (l *limiter) nextSlot(now time.Time, command bool) (time.Time, bool) {
	perMinute, perHour, perDay := l.budget.PerMinute, l.budget.PerHour, l.budget.PerDay
	if !command {
		// Reads leave room for commands in every window: the minute's
		// CommandReserve, and a twentieth of the hour and of the day, so
		// that polls that use up the hour or the day never lock a door out.
		perMinute -= l.budget.CommandReserve
		perHour -= perHour / 20
		perDay -= perDay / 20
	}
	if l.count(now, day) >= perDay {
		return l.freeAt(perDay, day), true
	}
	at := now
	if l.pauseUntil.After(at) {
		at = l.pauseUntil
	}
	for _, w := range []struct {
		limit  int
		window time.Duration
	}{{perMinute, minute}, {perHour, hour}} {
		if l.count(now, w.window) >= w.limit {
			if t := l.freeAt(w.limit, w.window); t.After(at) {
				at = t
			}
		}
	}
	return at, false
}

// freeAt returns when a window holding limit calls or more gets room for one
// more: when the limit-th newest call leaves the window.
func (l *limiter) freeAt(limit int, window time.Duration) time.Time {
	return l.sent[len(l.sent)-limit].Add(window)
}

// count returns the calls sent within window before now.
func (l *limiter) count(now time.Time, window time.Duration) int {
	from := now.Add(-window)
	i := sort.Search(len(l.sent), func(i int) bool { return l.sent[i].After(from) })
	return len(l.sent) - i
}

// trim drops send times older than a day.
func (l *limiter) trim(now time.Time) {
	from := now.Add(-day)
	i := sort.Search(len(l.sent), func(i int) bool { return l.sent[i].After(from) })
	if i > 0 {
		l.sent = append(l.sent[:0], l.sent[i:]...)
	}
}

// pause stops all calls for d from now (an answer said the rate limit was
// hit). A longer pause already in force stays.
func (l *limiter) pause(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := l.now().Add(d); until.After(l.pauseUntil) {
		l.pauseUntil = until
	}
}

// used returns the calls sent in the last minute, hour and day.
func (l *limiter) used() (m, h, d int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	return l.count(now, minute), l.count(now, hour), l.count(now, day)
}
