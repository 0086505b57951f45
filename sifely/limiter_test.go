package sifely_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
	"github.com/sifely2mqtt/sifely2mqtt/sifely/sifelytest"
)

// newBubbleClient starts an in-process simulated cloud and a client of it
// inside a synctest bubble, where time is fake.
func newBubbleClient(t *testing.T, budget sifely.Budget, apiKey bool) (*sifely.Client, *sifelytest.Server) {
	t.Helper()
	srv := sifelytest.New(t, sifelytest.Options{Account: account, Password: password, Locks: sifelytest.DemoLocks(), InProcess: true})
	opts := sifely.Options{BaseURL: srv.URL(), Account: account, Password: password, Budget: budget,
		HTTPClient: srv.Client(), RetryBackoff: time.Millisecond}
	if apiKey {
		opts.APIKey = sifely.Secret(srv.APIKey())
	}
	c, err := sifely.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// TestBudgetBurst: 100 calls at once with 30 a minute wait for budget, and
// the cloud never sees more than 30 requests, logins included, within any
// 60 s window.
func TestBudgetBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := newBubbleClient(t, sifely.Budget{PerMinute: 30}, false)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, 100)
		for i := range 100 {
			wg.Go(func() {
				if i%10 == 0 {
					errs[i] = c.Lock(t.Context(), 7100001)
					return
				}
				_, errs[i] = c.LockDetail(t.Context(), 7100002)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}
		log := srv.CallLog()
		if len(log) < 100 {
			t.Fatalf("cloud saw %d requests, want at least 100", len(log))
		}
		for i, a := range log {
			n := 0
			for _, b := range log {
				if !b.Start.Before(a.Start) && b.Start.Before(a.Start.Add(time.Minute)) {
					n++
				}
			}
			if n > 30 {
				t.Fatalf("%d requests in the minute from request %d at %v, want at most 30", n, i, a.Start.Sub(start))
			}
		}
		if elapsed := time.Since(start); elapsed < 3*time.Minute {
			t.Errorf("burst took %v, want at least 3m of waiting", elapsed)
		}
		if s := c.Stats(); s.UsedLastMinute > 30 || s.UsedLastDay != len(log) {
			t.Errorf("stats: %d last minute, %d last day; want ≤30 and %d", s.UsedLastMinute, s.UsedLastDay, len(log))
		}
	})
}

// TestBudgetReserveAndDeadline: reads leave the command reserve free, and a
// call whose deadline comes before its budget fails at once.
func TestBudgetReserveAndDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := newBubbleClient(t, sifely.Budget{PerMinute: 4, CommandReserve: 2}, true)
		start := time.Now()
		// Gateway look-up and state: the 2 reads of the minute. Lock is
		// then a single request.
		if _, err := c.OpenState(t.Context(), 7100001); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err := c.LockDetail(ctx, 7100001)
		if !errors.Is(err, sifely.ErrBudgetExhausted) {
			t.Errorf("read over budget: got %v, want ErrBudgetExhausted", err)
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("read over budget waited %v, want an immediate error", waited)
		}
		for range 2 { // the reserve
			if err := c.Lock(ctx, 7100001); err != nil {
				t.Errorf("command within the reserve: %v", err)
			}
		}
		if err := c.Lock(ctx, 7100001); !errors.Is(err, sifely.ErrBudgetExhausted) {
			t.Errorf("command over budget: got %v, want ErrBudgetExhausted", err)
		}
		// Without a deadline the read waits for the budget.
		if _, err := c.LockDetail(t.Context(), 7100001); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < 50*time.Second || waited > time.Minute {
			t.Errorf("read waited %v, want until the first call leaves the minute", waited)
		}
	})
}

func TestBudgetDayUsedUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := newBubbleClient(t, sifely.Budget{PerMinute: 30, PerDay: 3}, true)
		for range 3 {
			if _, err := c.LockDetail(t.Context(), 7100001); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		_, err := c.LockDetail(t.Context(), 7100001)
		if !errors.Is(err, sifely.ErrBudgetExhausted) {
			t.Errorf("got %v, want ErrBudgetExhausted", err)
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("waited %v, want an immediate error", waited)
		}
	})
}

// TestRateLimitPausesAllCalls: after the cloud says the rate limit was hit,
// no call is sent for a minute.
func TestRateLimitPausesAllCalls(t *testing.T) {
	tests := []struct {
		name  string
		fault sifelytest.Fault
	}{
		{"http 429", sifelytest.Fault{HTTPStatus: 429}},
		{"errcode 30006", sifelytest.Fault{Code: 30006, Message: "API call rate limit exceeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, srv := newBubbleClient(t, sifely.Budget{}, true)
				srv.Inject("/v3/lock/detail", tt.fault)
				_, err := c.LockDetail(t.Context(), 7100001)
				if !errors.Is(err, sifely.ErrRateLimited) {
					t.Fatalf("got %v, want ErrRateLimited", err)
				}
				limited := time.Now()
				if _, err := c.Records(t.Context(), 7100001, time.Time{}); err != nil {
					t.Fatal(err)
				}
				if waited := time.Since(limited); waited < time.Minute {
					t.Errorf("next call after %v, want a pause of at least 1m", waited)
				}
				if got := c.Stats().RateLimited; got != 1 {
					t.Errorf("stats rate limited: got %d, want 1", got)
				}
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				srv.Inject("/v3/lock/detail", tt.fault)
				_, _ = c.LockDetail(ctx, 7100001)
				_, err = c.LockDetail(ctx, 7100001)
				if !errors.Is(err, sifely.ErrRateLimited) || !errors.Is(err, sifely.ErrBudgetExhausted) {
					t.Errorf("call during the pause: got %v, want ErrRateLimited and ErrBudgetExhausted", err)
				}
			})
		})
	}
}

// TestBudgetHourReserve: polls that use up their share of the hour leave a
// twentieth of it to commands, which still go through at once.
func TestBudgetHourReserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := newBubbleClient(t, sifely.Budget{PerMinute: 30, PerHour: 40}, true)
		for range 38 { // 40 less the hour's reserve of 2
			if _, err := c.LockDetail(t.Context(), 7100001); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if _, err := c.LockDetail(ctx, 7100001); !errors.Is(err, sifely.ErrBudgetExhausted) {
			t.Errorf("read into the hour's reserve: got %v, want ErrBudgetExhausted", err)
		}
		start := time.Now()
		if err := c.Unlock(ctx, 7100002); err != nil {
			t.Errorf("command with the hour's reads used up: %v", err)
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("command waited %v, want none", waited)
		}
		if n := srv.Calls("/v3/lock/unlock"); n != 1 {
			t.Errorf("unlock requests = %d, want 1", n)
		}
	})
}
