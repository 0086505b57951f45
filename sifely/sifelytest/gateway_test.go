package sifelytest

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// newInProcess starts an in-process server for synctest bubbles.
func newInProcess(t *testing.T, opts Options) *Server {
	t.Helper()
	opts.InProcess = true
	return New(t, opts)
}

func TestGatewayBusyOnOverlap(t *testing.T) {
	tests := []struct {
		name         string
		a, b         string // lock ids; 7100001 and 7100002 share gateway 1
		wantBusy     int
		wantMaxGW    int
		wantFinished []int64
	}{
		{"same gateway", "7100001", "7100002", 1, 2, []int64{7100001}},
		{"other gateway", "7100001", "7100003", 0, 1, []int64{7100001, 7100003}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := baseOptions()
				opts.CommandLatency = 2 * time.Second
				s := newInProcess(t, opts)
				s.SetState(7100003, StateLocked)
				codes := make([]int64, 2)
				var wg sync.WaitGroup
				for i, id := range []string{tt.a, tt.b} {
					wg.Go(func() {
						codes[i] = do(t, s, request{method: http.MethodPost, path: "/v3/lock/unlock", query: q("lockId", id), auth: "sk-test-key"}).num("errcode")
					})
					synctest.Wait() // the first is in flight before the second starts
				}
				wg.Wait()
				busy := 0
				for _, c := range codes {
					if c == -3003 {
						busy++
					} else if c != 0 {
						t.Errorf("unexpected errcode %d", c)
					}
				}
				if codes[0] != 0 {
					t.Errorf("the first command got %d, want success", codes[0])
				}
				if busy != tt.wantBusy {
					t.Errorf("busy answers = %d, want %d", busy, tt.wantBusy)
				}
				if got := s.MaxGatewayConcurrency(); got != tt.wantMaxGW {
					t.Errorf("MaxGatewayConcurrency = %d, want %d", got, tt.wantMaxGW)
				}
				for _, id := range tt.wantFinished {
					if got := s.State(id); got != StateUnlocked {
						t.Errorf("lock %d state = %d, want unlocked", id, got)
					}
				}
			})
		})
	}
}

func TestStateQueryHoldsGateway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := baseOptions()
		opts.StateLatency = time.Second
		s := newInProcess(t, opts)
		var state int64
		var wg sync.WaitGroup
		wg.Go(func() {
			state = do(t, s, request{method: http.MethodGet, path: "/v3/lock/queryOpenState", query: q("lockId", "7100001"), auth: "sk-test-key"}).num("state")
		})
		synctest.Wait()
		got := do(t, s, request{method: http.MethodPost, path: "/v3/lock/lock", query: q("lockId", "7100002"), auth: "sk-test-key"}).num("errcode")
		if got != -3003 {
			t.Errorf("lock during a state query: errcode %d, want -3003", got)
		}
		wg.Wait()
		if state != StateLocked {
			t.Errorf("state = %d, want %d", state, StateLocked)
		}
		// Once the query is done the gateway is free again.
		if got := do(t, s, request{method: http.MethodPost, path: "/v3/lock/lock", query: q("lockId", "7100002"), auth: "sk-test-key"}).num("errcode"); got != 0 {
			t.Errorf("lock after the query: errcode %d, want 0", got)
		}
	})
}

func TestCommandLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := baseOptions()
		opts.CommandLatency = 1500 * time.Millisecond
		s := newInProcess(t, opts)
		start := time.Now()
		var wg sync.WaitGroup
		var code int64
		wg.Go(func() {
			code = do(t, s, request{method: http.MethodPost, path: "/v3/lock/unlock", query: q("lockId", "7100001"), auth: "sk-test-key"}).num("errcode")
		})
		time.Sleep(time.Second)
		synctest.Wait()
		if got := s.State(7100001); got != StateLocked {
			t.Errorf("state mid-command = %d, want still locked", got)
		}
		if got := len(s.Records(7100001)); got != 0 {
			t.Errorf("%d records mid-command, want 0", got)
		}
		wg.Wait()
		if got, want := time.Since(start), 1500*time.Millisecond; got != want {
			t.Errorf("command took %v, want %v", got, want)
		}
		if code != 0 {
			t.Fatalf("errcode = %d", code)
		}
		recs := s.Records(7100001)
		if len(recs) != 1 {
			t.Fatalf("%d records, want 1", len(recs))
		}
		r := recs[0]
		if r.RecordType != 12 || !r.Success || r.Username != "owner_"+md5Hex(testAccount)[:8] || r.Battery != 87 {
			t.Errorf("record = %+v", r)
		}
		if got := s.State(7100001); got != StateUnlocked {
			t.Errorf("state after = %d, want unlocked", got)
		}
	})
}

func TestCommandCompletesAfterCallerGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := baseOptions()
		opts.CommandLatency = 5 * time.Second
		s := newInProcess(t, opts)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		a := send(ctx, t, s, request{method: http.MethodPost, path: "/v3/lock/unlock", query: q("lockId", "7100001"), auth: "sk-test-key"})
		if !errors.Is(a.err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", a.err)
		}
		// The gateway is still busy with it...
		if got := do(t, s, request{method: http.MethodGet, path: "/v3/lock/queryOpenState", query: q("lockId", "7100002"), auth: "sk-test-key"}).num("errcode"); got != -3003 {
			t.Errorf("state query during abandoned command: errcode %d, want -3003", got)
		}
		// ...and the door opens anyway.
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := s.State(7100001); got != StateUnlocked {
			t.Errorf("state = %d, want unlocked", got)
		}
	})
}

func TestGatewayWebhookOnOnlineChange(t *testing.T) {
	rx := newReceiver(t)
	opts := baseOptions()
	opts.WebhookURL = rx.url
	s := New(t, opts)
	s.SetGatewayOnline(1, false)
	s.SetGatewayOnline(1, false) // no change, no push
	s.SetGatewayOnline(1, true)
	got := rx.wait(t, 2)
	for i, want := range []string{"0", "1"} {
		if got[i].form.Get("notifyType") != "2" || got[i].form.Get("gatewayId") != "1" || got[i].form.Get("isOnline") != want {
			t.Errorf("push %d = %v, want notifyType 2, gatewayId 1, isOnline %s", i, got[i].form, want)
		}
	}
}
