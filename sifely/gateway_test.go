package sifely_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
	"github.com/sifely2mqtt/sifely2mqtt/sifely/sifelytest"
)

// TestGatewayOperationsSerialised: unlocks, locks and state queries of two
// locks on one gateway never overlap at the cloud.
func TestGatewayOperationsSerialised(t *testing.T) {
	srv := newSim(t, func(o *sifelytest.Options) {
		o.CommandLatency = 30 * time.Millisecond
		o.StateLatency = 10 * time.Millisecond
	})
	c, _ := newClient(t, srv, nil)
	ctx := t.Context()
	ops := []func() error{
		func() error { return c.Unlock(ctx, 7100001) },
		func() error { return c.Unlock(ctx, 7100002) },
		func() error { return c.Lock(ctx, 7100001) },
		func() error { return c.Lock(ctx, 7100002) },
		func() error { _, err := c.OpenState(ctx, 7100001); return err },
		func() error { _, err := c.OpenState(ctx, 7100002); return err },
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ops))
	for i, op := range ops {
		wg.Go(func() { errs[i] = op() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("op %d: %v", i, err)
		}
	}
	if got := srv.MaxGatewayConcurrency(); got != 1 {
		t.Errorf("max gateway concurrency: got %d, want 1", got)
	}
	if got := srv.Calls("/v3/gateway/listByLock"); got != 2 {
		t.Errorf("gateway look-ups: got %d, want 2 (one per lock, cached)", got)
	}
	if got := srv.Calls("/v3/lock/unlock"); got != 2 {
		t.Errorf("unlock calls: got %d, want 2 (no busy answers, no repeats)", got)
	}
}

func TestUnlockNeverRetried(t *testing.T) {
	tests := []struct {
		name  string
		fault sifelytest.Fault
		check func(error) bool
	}{
		{"timeout", sifelytest.Fault{Delay: 2 * time.Second}, func(err error) bool { return err != nil }},
		{"bad gateway", sifelytest.Fault{HTTPStatus: 502}, isStatus(502)},
		{"server error", sifelytest.Fault{HTTPStatus: 500, Message: "NullPointerException"}, isStatus(500)},
		{"internal error code", sifelytest.Fault{Code: 90000, Message: "internal server error"}, func(err error) bool { return err != nil }},
		{"malformed", sifelytest.Fault{Malformed: true}, func(err error) bool { return errors.Is(err, sifely.ErrMalformedResponse) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSim(t, nil)
			c, _ := newClient(t, srv, func(o *sifely.Options) { o.CommandTimeout = 100 * time.Millisecond })
			if _, err := c.OpenState(t.Context(), 7100001); err != nil { // learn the gateway
				t.Fatal(err)
			}
			srv.Inject("/v3/lock/unlock", tt.fault)
			err := c.Unlock(t.Context(), 7100001)
			if !tt.check(err) {
				t.Errorf("got error %v", err)
			}
			if got := srv.Calls("/v3/lock/unlock"); got != 1 {
				t.Errorf("unlock requests: got %d, want exactly 1", got)
			}
		})
	}
}

func isStatus(status int) func(error) bool {
	return func(err error) bool {
		var ae *sifely.APIError
		return errors.As(err, &ae) && ae.HTTPStatus == status
	}
}

// TestUnlockNotRetriedAfterLostConnection: the connection drops after the
// unlock reached the cloud; it must not be sent again.
func TestUnlockNotRetriedAfterLostConnection(t *testing.T) {
	var unlocks atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v3/gateway/listByLock", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"list":[{"gatewayId":1}]}`))
	})
	mux.HandleFunc("POST /v3/lock/unlock", func(w http.ResponseWriter, r *http.Request) {
		unlocks.Add(1)
		panic(http.ErrAbortHandler) // drop the connection without an answer
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	c, err := sifely.New(sifely.Options{BaseURL: hs.URL, APIKey: "sk-test", RetryBackoff: time.Millisecond,
		Budget: sifely.Budget{PerMinute: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unlock(t.Context(), 1); err == nil {
		t.Fatal("got no error")
	}
	if got := unlocks.Load(); got != 1 {
		t.Errorf("unlock requests: got %d, want 1", got)
	}
}

func TestUnlockRetriedWhenGatewayBusy(t *testing.T) {
	srv := newSim(t, nil)
	c, _ := newClient(t, srv, nil)
	srv.Inject("/v3/lock/unlock", sifelytest.Fault{Code: -3003, Message: "gateway busy"})
	if err := c.Unlock(t.Context(), 7100001); err != nil {
		t.Fatal(err)
	}
	if got := srv.Calls("/v3/lock/unlock"); got != 2 {
		t.Errorf("unlock requests: got %d, want 2", got)
	}
	srv.Inject("/v3/lock/unlock", sifelytest.Fault{Code: -3003, Message: "gateway busy", Times: 10})
	err := c.Unlock(t.Context(), 7100001)
	if !errors.Is(err, sifely.ErrGatewayBusy) {
		t.Errorf("busy for good: got %v, want ErrGatewayBusy", err)
	}
	if got := srv.Calls("/v3/lock/unlock"); got != 5 {
		t.Errorf("unlock requests: got %d, want 5 (3 attempts)", got)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		fault     sifelytest.Fault
		call      func(*sifely.Client, *testing.T) error
		wantCalls int
		wantErr   bool
	}{
		{"lock after bad gateway", "/v3/lock/lock", sifelytest.Fault{HTTPStatus: 502},
			func(c *sifely.Client, t *testing.T) error { return c.Lock(t.Context(), 7100001) }, 2, false},
		{"lock after busy", "/v3/lock/lock", sifelytest.Fault{Code: -3003, Wrapped: true},
			func(c *sifely.Client, t *testing.T) error { return c.Lock(t.Context(), 7100001) }, 2, false},
		{"detail after timeout", "/v3/lock/detail", sifelytest.Fault{Delay: 2 * time.Second},
			func(c *sifely.Client, t *testing.T) error { _, err := c.LockDetail(t.Context(), 7100001); return err }, 2, false},
		{"detail after 503 twice", "/v3/lock/detail", sifelytest.Fault{HTTPStatus: 503, Times: 2},
			func(c *sifely.Client, t *testing.T) error { _, err := c.LockDetail(t.Context(), 7100001); return err }, 3, false},
		{"detail gives up after 3", "/v3/lock/detail", sifelytest.Fault{HTTPStatus: 503, Times: 3},
			func(c *sifely.Client, t *testing.T) error { _, err := c.LockDetail(t.Context(), 7100001); return err }, 3, true},
		{"state after busy", "/v3/lock/queryOpenState", sifelytest.Fault{Code: -3003},
			func(c *sifely.Client, t *testing.T) error { _, err := c.OpenState(t.Context(), 7100001); return err }, 2, false},
		{"records after 500", "/v3/lockRecord/list", sifelytest.Fault{HTTPStatus: 500},
			func(c *sifely.Client, t *testing.T) error {
				_, err := c.Records(t.Context(), 7100001, time.Time{})
				return err
			}, 2, false},
		{"lock list after 504", "/v3/lock/list", sifelytest.Fault{HTTPStatus: 504},
			func(c *sifely.Client, t *testing.T) error { _, err := c.Locks(t.Context()); return err }, 2, false},
		{"no retry on not found", "/v3/lock/detail", sifelytest.Fault{Code: -1003},
			func(c *sifely.Client, t *testing.T) error { _, err := c.LockDetail(t.Context(), 7100001); return err }, 1, true},
		{"no retry on 400", "/v3/lock/detail", sifelytest.Fault{HTTPStatus: 400},
			func(c *sifely.Client, t *testing.T) error { _, err := c.LockDetail(t.Context(), 7100001); return err }, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSim(t, nil)
			c, _ := newClient(t, srv, func(o *sifely.Options) { o.CallTimeout = 100 * time.Millisecond })
			if _, err := c.OpenState(t.Context(), 7100001); err != nil { // log in, learn the gateway
				t.Fatal(err)
			}
			before := srv.Calls(tt.path)
			srv.Inject(tt.path, tt.fault)
			err := tt.call(c, t)
			if (err != nil) != tt.wantErr {
				t.Errorf("got error %v, want error %v", err, tt.wantErr)
			}
			if got := srv.Calls(tt.path) - before; got != tt.wantCalls {
				t.Errorf("requests: got %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestGatewaysFallbackPath(t *testing.T) {
	var listByLock, lockGateways atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/v3/gateway/listByLock", func(w http.ResponseWriter, r *http.Request) {
		listByLock.Add(1)
		http.NotFound(w, r)
	})
	mux.HandleFunc("GET /v3/lock/gateways", func(w http.ResponseWriter, r *http.Request) {
		lockGateways.Add(1)
		w.Write([]byte(`{"code":200,"data":{"list":[{"gatewayId":"77","gatewayMac":"AA:BB","gatewayName":"G","rssi":"-80","isOnline":"1"}]}}`))
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	c, err := sifely.New(sifely.Options{BaseURL: hs.URL, APIKey: "sk-test", Budget: sifely.Budget{PerMinute: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		gws, err := c.Gateways(t.Context(), 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(gws) != 1 || gws[0].ID != 77 || gws[0].RSSI != -80 || gws[0].Online == nil || !*gws[0].Online {
			t.Errorf("got %+v", gws)
		}
	}
	if got := listByLock.Load(); got != 1 {
		t.Errorf("listByLock requests: got %d, want 1 (fallback remembered)", got)
	}
	if got := lockGateways.Load(); got != 2 {
		t.Errorf("lock/gateways requests: got %d, want 2", got)
	}
}
