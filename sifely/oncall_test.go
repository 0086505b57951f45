package sifely_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
	"github.com/sifely2mqtt/sifely2mqtt/sifely/sifelytest"
)

// OnCall sees every request that reached the cloud, with its outcome.
func TestOnCallSeesEveryRequest(t *testing.T) {
	srv := newSim(t, nil)
	var mu sync.Mutex
	seen := map[string][]error{}
	c, _ := newClient(t, srv, func(o *sifely.Options) {
		o.OnCall = func(path string, err error) {
			mu.Lock()
			defer mu.Unlock()
			seen[path] = append(seen[path], err)
		}
	})
	id := sifelytest.DemoLocks()[0].ID
	if _, err := c.OpenState(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	srv.Inject("/v3/lock/unlock", sifelytest.Fault{Code: -4043, Message: "remote unlock off"})
	if err := c.Unlock(t.Context(), id); !errors.Is(err, sifely.ErrRemoteUnlockDisabled) {
		t.Fatalf("unlock err = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := seen["/v3/lock/queryOpenState"]; len(got) != 1 || got[0] != nil {
		t.Errorf("open state calls seen = %v, want one success", got)
	}
	if got := seen["/v3/lock/unlock"]; len(got) != 1 || !errors.Is(got[0], sifely.ErrRemoteUnlockDisabled) {
		t.Errorf("unlock calls seen = %v, want one remote-unlock-disabled error", got)
	}
	total := 0
	for _, errs := range seen {
		total += len(errs)
	}
	if want := srv.Calls("/system/smart/login") + srv.Calls("/system/smart/loginByGuest") + srv.Calls("/v3/lock/queryOpenState") + srv.Calls("/v3/lock/unlock") + srv.Calls("/v3/gateway/listByLock"); total != want {
		t.Errorf("OnCall saw %d requests, the cloud %d (%v)", total, want, seen)
	}
}
