package sifely_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
	"github.com/sifely2mqtt/sifely2mqtt/sifely/sifelytest"
)

const (
	account  = "owner@example.com"
	password = "correct horse battery staple"
)

// syncBuffer is a bytes.Buffer safe for concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newSim starts a simulated cloud with the demo locks and the test account.
func newSim(t *testing.T, mutate func(*sifelytest.Options)) *sifelytest.Server {
	t.Helper()
	opts := sifelytest.Options{Account: account, Password: password, Locks: sifelytest.DemoLocks()}
	if mutate != nil {
		mutate(&opts)
	}
	return sifelytest.New(t, opts)
}

// newClient returns a client of srv with a generous budget and fast
// retries, and the buffer its debug log goes to.
func newClient(t *testing.T, srv *sifelytest.Server, mutate func(*sifely.Options)) (*sifely.Client, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	opts := sifely.Options{
		BaseURL:      srv.URL(),
		Account:      account,
		Password:     password,
		Budget:       sifely.Budget{PerMinute: 10000, PerHour: 100000, PerDay: 1000000},
		RetryBackoff: time.Millisecond,
		HTTPClient:   srv.Client(),
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(&opts)
	}
	c, err := sifely.New(opts)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return c, logs
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		opts sifely.Options
	}{
		{"no base url", sifely.Options{APIKey: "sk-x"}},
		{"bad scheme", sifely.Options{BaseURL: "ftp://x", APIKey: "sk-x"}},
		{"no credentials", sifely.Options{BaseURL: sifely.LegacyBaseURL, Account: "a"}},
		{"negative timeout", sifely.Options{BaseURL: sifely.LegacyBaseURL, APIKey: "sk-x", CallTimeout: -1}},
	}
	for _, tt := range tests {
		if _, err := sifely.New(tt.opts); err == nil {
			t.Errorf("%s: got no error", tt.name)
		}
	}
	if _, err := sifely.New(sifely.Options{BaseURL: sifely.OpenAPIBaseURL, APIKey: "sk-x"}); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

func TestLocksMergesOwnerAndEkeys(t *testing.T) {
	srv := newSim(t, func(o *sifelytest.Options) {
		o.Locks = append(o.Locks, sifelytest.LockSpec{ID: 7100009, Alias: "Neighbour", Battery: 50, Shared: true, RemoteUnlockDisabled: true})
	})
	c, _ := newClient(t, srv, nil)
	locks, err := c.Locks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(locks), 4; got != want {
		t.Fatalf("got %d locks, want %d", got, want)
	}
	byID := map[int64]sifely.Lock{}
	for _, l := range locks {
		byID[l.ID] = l
	}
	front := byID[7100001]
	if front.Alias != "Front Door" || !front.Owner || !front.HasGateway || front.Battery != 87 || front.MAC != "C1:22:33:44:55:01" || front.RemoteEnable != 1 {
		t.Errorf("front door: got %+v", front)
	}
	if dump := fmt.Sprintf("%#v", locks); strings.Contains(dump, "FAKE-") {
		t.Errorf("secret fields kept: %s", dump)
	}
	shared := byID[7100009]
	if shared.Owner || shared.Alias != "Neighbour" || shared.RemoteEnable != 2 || shared.Battery != 50 {
		t.Errorf("shared lock: got %+v", shared)
	}
}

func TestLocksPagesUntilDone(t *testing.T) {
	var specs []sifelytest.LockSpec
	for i := range 250 {
		specs = append(specs, sifelytest.LockSpec{ID: int64(8000000 + i), Battery: 40, GatewayID: 1})
	}
	srv := newSim(t, func(o *sifelytest.Options) { o.Locks = specs })
	c, _ := newClient(t, srv, nil)
	locks, err := c.Locks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(locks), 250; got != want {
		t.Errorf("got %d locks, want %d", got, want)
	}
	if got, want := srv.Calls("/v3/lock/list"), 3; got != want {
		t.Errorf("lock list calls: got %d, want %d", got, want)
	}
	if got, want := srv.Calls("/v3/key/list"), 3; got != want {
		t.Errorf("key list calls: got %d, want %d", got, want)
	}
}

func TestLockDetailBothEnvelopes(t *testing.T) {
	srv := newSim(t, nil) // mixed: even IDs wrapped, odd raw
	c, _ := newClient(t, srv, nil)
	for _, id := range []int64{7100001, 7100002} {
		d, err := c.LockDetail(t.Context(), id)
		if err != nil {
			t.Fatalf("lock %d: %v", id, err)
		}
		if d.ID != id || d.ModelNum != "SS-S2" || d.FirmwareRevision != "6.2.4.240321" || d.HardwareRevision != "1.3" ||
			d.TimezoneRawOffset != 3600000 || d.AutoLockTime != -1 || d.PassageMode != 2 || d.Frozen || !d.HasGateway {
			t.Errorf("lock %d: got %+v", id, d)
		}
		if dump := fmt.Sprintf("%#v", d); strings.Contains(dump, "FAKE-") {
			t.Errorf("lock %d: secret fields kept: %s", id, dump)
		}
	}
	_, err := c.LockDetail(t.Context(), 1)
	if !errors.Is(err, sifely.ErrLockNotFound) {
		t.Errorf("unknown lock: got %v, want ErrLockNotFound", err)
	}
}

func TestOpenState(t *testing.T) {
	srv := newSim(t, func(o *sifelytest.Options) {
		o.Locks = append(o.Locks, sifelytest.LockSpec{ID: 7100004, State: sifelytest.StateLocked}) // no gateway
	})
	c, _ := newClient(t, srv, nil)
	tests := []struct {
		id   int64
		want sifely.OpenState
	}{
		{7100001, sifely.StateLocked},
		{7100002, sifely.StateLocked},
		{7100003, sifely.StateUnlocked},
		{7100004, sifely.StateUnknown},
	}
	for _, tt := range tests {
		got, err := c.OpenState(t.Context(), tt.id)
		if err != nil {
			t.Fatalf("lock %d: %v", tt.id, err)
		}
		if got != tt.want {
			t.Errorf("lock %d: got %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestLockAndUnlock(t *testing.T) {
	srv := newSim(t, func(o *sifelytest.Options) {
		o.Locks = append(o.Locks,
			sifelytest.LockSpec{ID: 7100005, GatewayID: 1, RemoteUnlockDisabled: true},
			sifelytest.LockSpec{ID: 7100006, GatewayID: 1, Frozen: true},
			sifelytest.LockSpec{ID: 7100007})
	})
	c, _ := newClient(t, srv, nil)
	ctx := t.Context()
	if err := c.Unlock(ctx, 7100001); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if got := srv.State(7100001); got != sifelytest.StateUnlocked {
		t.Errorf("after unlock: state %d, want unlocked", got)
	}
	if err := c.Lock(ctx, 7100001); err != nil {
		t.Fatalf("lock: %v", err)
	}
	if got := srv.State(7100001); got != sifelytest.StateLocked {
		t.Errorf("after lock: state %d, want locked", got)
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"remote unlock disabled", c.Unlock(ctx, 7100005), sifely.ErrRemoteUnlockDisabled},
		{"frozen", c.Lock(ctx, 7100006), sifely.ErrFrozen},
		{"no gateway", c.Unlock(ctx, 7100007), sifely.ErrNoGateway},
		{"not found", c.Lock(ctx, 1), sifely.ErrLockNotFound},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.err, tt.want)
		}
		var ae *sifely.APIError
		if !errors.As(tt.err, &ae) || ae.Code == 0 {
			t.Errorf("%s: errors.As *APIError with code failed on %v", tt.name, tt.err)
		}
	}
	srv.SetGatewayOnline(1, false)
	if err := c.Lock(ctx, 7100002); !errors.Is(err, sifely.ErrGatewayOffline) {
		t.Errorf("gateway offline: got %v, want ErrGatewayOffline", err)
	}
}

func TestRecords(t *testing.T) {
	srv := newSim(t, nil)
	c, _ := newClient(t, srv, nil)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 230 {
		srv.AddRecord(sifelytest.RecordSpec{
			LockID: 7100001, RecordType: 4, RecordTypeFromLock: 4, Success: true,
			Username: "alice_3f2a9c1b", KeyboardPwd: "123456",
			LockDate: base.Add(time.Duration(i) * time.Minute), ServerDate: base.Add(time.Duration(i)*time.Minute + time.Second),
			Battery: 80,
		})
	}
	srv.AddRecord(sifelytest.RecordSpec{LockID: 7100002, RecordType: 7, Success: true, Username: "Card A", LockDate: base})

	recs, err := c.Records(t.Context(), 7100001, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(recs), 230; got != want {
		t.Fatalf("got %d records, want %d", got, want)
	}
	if got, want := srv.Calls("/v3/lockRecord/list"), 3; got != want {
		t.Errorf("record list calls: got %d, want %d", got, want)
	}
	newest := recs[0]
	if !newest.LockDate.Equal(base.Add(229*time.Minute)) || newest.Username != "alice" || newest.Type != 4 ||
		!newest.Success || newest.Battery != 80 || newest.LockID != 7100001 || newest.ID == 0 {
		t.Errorf("newest record: got %+v", newest)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].LockDate.After(recs[i-1].LockDate) {
			t.Fatalf("records not newest first at %d", i)
		}
	}

	since := base.Add(200 * time.Minute)
	recs, err = c.Records(t.Context(), 7100001, since)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(recs), 30; got != want {
		t.Errorf("since: got %d records, want %d", got, want)
	}
	recs, err = c.Records(t.Context(), 7100002, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Username != "Card A" {
		t.Errorf("card record: got %+v", recs)
	}
}

func TestGateways(t *testing.T) {
	srv := newSim(t, nil)
	c, _ := newClient(t, srv, nil)
	gws, err := c.Gateways(t.Context(), 7100003)
	if err != nil {
		t.Fatal(err)
	}
	if len(gws) != 1 || gws[0].ID != 2 || gws[0].MAC == "" || gws[0].Name == "" || gws[0].RSSI != -62 || gws[0].Online == nil || !*gws[0].Online {
		t.Errorf("got %+v", gws)
	}
}

func TestStats(t *testing.T) {
	srv := newSim(t, nil)
	c, _ := newClient(t, srv, nil)
	if _, err := c.LockDetail(t.Context(), 7100001); err != nil {
		t.Fatal(err)
	}
	_, _ = c.LockDetail(t.Context(), 1)
	s := c.Stats()
	total := int64(len(srv.CallLog()))
	if s.Calls != total || s.Logins != 1 || s.Errors != 1 || s.UsedLastMinute != int(total) ||
		s.UsedLastDay != int(total) || !strings.Contains(s.LastError, "-1003") || s.LastSuccess.IsZero() {
		t.Errorf("got %+v, want %d calls, 1 login, 1 error", s, total)
	}
}

func TestTokenCache(t *testing.T) {
	srv := newSim(t, nil)
	file := filepath.Join(t.TempDir(), "token.json")
	c1, _ := newClient(t, srv, func(o *sifely.Options) { o.TokenFile = file })
	if _, err := c1.LockDetail(t.Context(), 7100001); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("cache mode: got %o, want 600", got)
	}
	logins := srv.Calls("/system/smart/login")

	c2, _ := newClient(t, srv, func(o *sifely.Options) { o.TokenFile = file })
	if _, err := c2.LockDetail(t.Context(), 7100001); err != nil {
		t.Fatal(err)
	}
	if got := srv.Calls("/system/smart/login"); got != logins {
		t.Errorf("logins after restart: got %d, want %d (cached token reused)", got, logins)
	}

	if err := os.WriteFile(file, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	c3, logs := newClient(t, srv, func(o *sifely.Options) { o.TokenFile = file })
	if _, err := c3.LockDetail(t.Context(), 7100001); err != nil {
		t.Fatalf("corrupt cache: %v", err)
	}
	if !strings.Contains(logs.String(), "token cache corrupt") {
		t.Errorf("no warning about the corrupt cache in %s", logs)
	}
	if got := srv.Calls("/system/smart/login"); got != logins+1 {
		t.Errorf("logins after corrupt cache: got %d, want %d", got, logins+1)
	}
	entries, _ := os.ReadDir(filepath.Dir(file))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestUnknownGatewaysSerialiseAccount(t *testing.T) {
	srv := newSim(t, func(o *sifelytest.Options) { o.CommandLatency = 20 * time.Millisecond })
	srv.Inject("/v3/gateway/listByLock", sifelytest.Fault{HTTPStatus: 400, Times: 100})
	c, _ := newClient(t, srv, nil)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, id := range []int64{7100001, 7100002, 7100003} {
		wg.Go(func() { errs[i] = c.Lock(t.Context(), id) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("lock %d: %v", i, err)
		}
	}
	var inFlight, most int
	type ev struct {
		at    time.Time
		delta int
	}
	var evs []ev
	for _, call := range srv.CallLog() {
		if call.Path == "/v3/lock/lock" {
			evs = append(evs, ev{call.Start, 1}, ev{call.End, -1})
		}
	}
	// Ends sort before starts at the same instant.
	slices.SortFunc(evs, func(a, b ev) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.delta, b.delta)
	})
	for _, e := range evs {
		inFlight += e.delta
		most = max(most, inFlight)
	}
	if most != 1 {
		t.Errorf("lock commands in flight at once: got %d, want 1", most)
	}
}
