package bridge

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/sifely/sifelytest"
)

// Rule 2: one command in flight per lock; a duplicate coalesces into it
// (one cloud call, a result for each request) and a different action is
// refused, never queued.
func TestDuplicateCommandsCoalesce(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7500001, Alias: "Dup", GatewayID: 9, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}, latency: 800 * time.Millisecond})
	h.waitReady(lock)
	h.publish(topic(lock.ID, "set"), `{"action":"unlock","id":"first"}`, false)
	h.rec.waitFor(topic(lock.ID, "state"), equals(StateUnlocking))
	h.publish(topic(lock.ID, "set"), `{"action":"unlock","id":"second"}`, false)
	h.publish(topic(lock.ID, "set"), `{"action":"lock","id":"third"}`, false)
	third := h.rec.waitFor(topic(lock.ID, "result"), contains(`"third"`))
	if !strings.Contains(third, `"error":"busy"`) {
		t.Errorf("a different action while one is in flight: %s, want busy", third)
	}
	first := h.rec.waitFor(topic(lock.ID, "result"), contains(`"first"`))
	second := h.rec.waitFor(topic(lock.ID, "result"), contains(`"second"`))
	for _, r := range []string{first, second} {
		if !strings.Contains(r, `"ok":true`) {
			t.Errorf("result = %s, want ok", r)
		}
	}
	if !strings.Contains(second, `"coalesced":true`) {
		t.Errorf("second result = %s, want coalesced", second)
	}
	if got := h.sim.Calls("/v3/lock/unlock"); got != 1 {
		t.Errorf("unlock calls = %d, want 1", got)
	}
	if got := h.sim.Calls("/v3/lock/lock"); got != 0 {
		t.Errorf("lock calls = %d, want 0 (refused, not queued)", got)
	}
}

// Rules 3 and 4: a command that cannot reach the cloud before its deadline
// fails with a result and is dropped — nothing is sent once the cloud is
// back — and the lock shows JAMMED (outcome unknown) rather than a guess,
// until the cloud reports a state newer than the failure.
func TestCommandDeadlineDropsTheCommand(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7500002, Alias: "Outage", GatewayID: 9, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{
		locks: []sifelytest.LockSpec{lock},
		opts:  Options{CommandTimeout: 1500 * time.Millisecond, VerifyDelay: time.Hour},
	})
	h.waitReady(lock)
	h.sim.Inject("/v3/lock/lock", sifelytest.Fault{Times: 1000, HTTPStatus: 503})
	h.publish(topic(lock.ID, "set"), `{"action":"lock","id":"late"}`, false)
	res := h.rec.waitFor(topic(lock.ID, "result"), contains(`"late"`))
	if !strings.Contains(res, `"ok":false`) {
		t.Fatalf("result = %s, want a failure", res)
	}
	h.rec.waitFor(topic(lock.ID, "state"), equals(StateJammed))
	calls := h.sim.Calls("/v3/lock/lock")
	if calls == 0 {
		t.Fatal("the command never reached the cloud")
	}
	// The cloud comes back: the dropped command is not sent again.
	h.sim.Inject("/v3/lock/lock", sifelytest.Fault{Times: 1, Delay: time.Millisecond})
	h.bridge.pollStates(h.bridge.ctx)
	h.rec.waitFor(topic(lock.ID, "state"), func(string) bool {
		all := h.rec.on(topic(lock.ID, "state"))
		return all[len(all)-1] == StateLocked
	})
	if got := h.sim.Calls("/v3/lock/lock"); got != calls {
		t.Errorf("lock calls went from %d to %d after the deadline", calls, got)
	}
}

// Rule 6: no secret reaches MQTT or the logs: not the account password
// (nor its MD5), not the lock's secret fields, not an unlock code.
func TestSecretsNeverReachMQTTOrLogs(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7500003, Alias: "Vault", GatewayID: 9, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{
		locks: []sifelytest.LockSpec{lock},
		opts:  Options{Locks: map[int64]LockSettings{lock.ID: {Code: "97531"}}},
	})
	h.waitReady(lock)
	h.publish(topic(lock.ID, "set"), `{"action":"unlock","code":"97531","id":"x"}`, false)
	h.publish(topic(lock.ID, "set"), `{"action":"unlock","code":"13579","id":"y"}`, false)
	h.rec.waitFor(topic(lock.ID, "result"), contains(`"y"`))
	h.rec.waitFor(topic(lock.ID, "result"), contains(`"x"`))
	h.sim.AddRecord(sifelytest.RecordSpec{LockID: lock.ID, RecordType: 4, Success: true, Username: "Guest", KeyboardPwd: "24680"})
	h.bridge.pollRecords(h.bridge.ctx)
	h.bridge.pollRecords(h.bridge.ctx)

	sum := md5.Sum([]byte("correct horse"))
	canaries := []string{"correct horse", hex.EncodeToString(sum[:]), "FAKE-", "97531", "24680"}
	h.rec.mu.Lock()
	var published strings.Builder
	for _, m := range h.rec.msgs {
		if strings.HasSuffix(m.Topic, "/set") {
			continue // the test's own commands
		}
		published.WriteString(m.Topic + " " + string(m.Payload) + "\n")
	}
	h.rec.mu.Unlock()
	logs := h.logs.String()
	for _, c := range canaries {
		if strings.Contains(published.String(), c) {
			t.Errorf("secret %q published on MQTT", c)
		}
		if strings.Contains(logs, c) {
			t.Errorf("secret %q in the logs", c)
		}
	}
	if !strings.Contains(published.String(), "Vault") {
		t.Fatal("the test saw nothing published")
	}
}

// A lock that leaves the account has its retained discovery and states
// cleared, so it disappears from Home Assistant.
func TestDepartedLockIsCleared(t *testing.T) {
	keep := sifelytest.LockSpec{ID: 7500010, Alias: "Stays", GatewayID: 9, State: sifelytest.StateLocked}
	gone := sifelytest.LockSpec{ID: 7500011, Alias: "Leaves", GatewayID: 9, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{keep, gone}})
	h.waitReady(keep, gone)
	h.sim.RemoveLock(gone.ID)
	// One lock list without it is not enough: it could be a glitch.
	h.bridge.pollLocks(h.bridge.ctx)
	if !h.bridge.hasLock(gone.ID) {
		t.Fatal("a lock was removed after a single lock list without it")
	}
	h.bridge.pollLocks(h.bridge.ctx)
	h.rec.waitFor("homeassistant/device/sifely_7500011/config", equals(""))
	for _, leaf := range []string{"state", "availability", "attributes"} {
		h.rec.waitFor(topic(gone.ID, leaf), equals(""))
	}
	if n := h.rec.count("homeassistant/device/sifely_7500010/config", equals("")); n != 0 {
		t.Errorf("the remaining lock's discovery was cleared")
	}
	// Commands for the departed lock are refused.
	h.publish(topic(gone.ID, "set"), "UNLOCK", false)
	h.rec.waitFor(topic(gone.ID, "result"), contains(`"error":"unknown_lock"`))
	if got := h.sim.Calls("/v3/lock/unlock"); got != 0 {
		t.Errorf("unlock calls = %d, want 0", got)
	}
}

// Gateway offline/online pushes drive the lock's availability and the
// gateway connectivity sensor.
func TestGatewayPushDrivesAvailability(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7500020, Alias: "Annex", GatewayID: 77, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}})
	h.waitReady(lock)
	url, _ := withWebhook(t, h)
	st, _, err := h.sim.PostGatewayWebhook(t.Context(), url, sifelytest.WebhookForm, lock.GatewayID, false)
	if err != nil || st != 200 {
		t.Fatalf("gateway push: %d %v", st, err)
	}
	h.rec.waitFor(topic(lock.ID, "availability"), equals("offline"))
	h.rec.waitFor(topic(lock.ID, "attributes"), contains(`"gateway_online":false`))
	st, _, err = h.sim.PostGatewayWebhook(t.Context(), url, sifelytest.WebhookJSON, lock.GatewayID, true)
	if err != nil || st != 200 {
		t.Fatalf("gateway push: %d %v", st, err)
	}
	h.rec.waitCount(topic(lock.ID, "availability"), 2, equals("online"))
	if n := h.sim.Calls("/v3/lock/unlock") + h.sim.Calls("/v3/lock/lock"); n != 0 {
		t.Errorf("a push caused %d commands", n)
	}
}

// A push that arrives before the bridge knows the account's locks (the
// cloud is slow to list them at start) waits, and is published once the
// locks are known: nothing is lost to start-up order.
func TestPushBeforeLockListIsKept(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7500030, Alias: "Early", GatewayID: 9, State: sifelytest.StateLocked}
	sim := sifelytest.New(t, sifelytest.Options{Account: "owner@example.com", Password: "correct horse",
		Locks: []sifelytest.LockSpec{lock}})
	// Every attempt of the first lock-list poll fails.
	sim.Inject("/v3/lock/list", sifelytest.Fault{Times: 3, HTTPStatus: 503})
	h := newHarness(t, harnessConfig{sim: sim})
	url, _ := withWebhook(t, h)
	now := time.Now().Truncate(time.Millisecond)
	st, _, err := sim.PostWebhook(t.Context(), url, sifelytest.WebhookJSON, lock.ID,
		sifelytest.RecordSpec{RecordType: 4, Success: true, Username: "Early bird", LockDate: now, ServerDate: now})
	if err != nil || st != 200 {
		t.Fatalf("push: %d %v", st, err)
	}
	if h.bridge.hasLock(lock.ID) {
		t.Fatal("the lock list was loaded before the push; the test proves nothing")
	}
	h.rec.waitFor(topic(lock.ID, "event"), contains("Early bird"))
}

// When the cloud cannot be reached every lock goes unavailable, and each
// comes back once the cloud answers again — also a lock without a gateway,
// which has no state poll to prove it.
func TestCloudOutageAndRecovery(t *testing.T) {
	gw := sifelytest.LockSpec{ID: 7500040, Alias: "With gateway", GatewayID: 9, State: sifelytest.StateLocked}
	ble := sifelytest.LockSpec{ID: 7500041, Alias: "Bluetooth only", State: sifelytest.StateUnknown}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{gw, ble}})
	h.waitReady(gw)
	h.rec.waitFor(topic(ble.ID, "availability"), equals("online"))

	h.sim.Inject("/v3/lock/list", sifelytest.Fault{Times: 3, HTTPStatus: 503})
	if h.bridge.pollLocks(h.bridge.ctx) {
		t.Fatal("lock list poll succeeded against a failing cloud")
	}
	for _, id := range []int64{gw.ID, ble.ID} {
		h.rec.waitFor(topic(id, "availability"), equals("offline"))
	}
	h.rec.waitFor(testBase+"/bridge/info", contains(`"status":"error"`))

	// The cloud is back.
	h.bridge.pollLocks(h.bridge.ctx)
	h.bridge.pollStates(h.bridge.ctx)
	for _, id := range []int64{gw.ID, ble.ID} {
		h.rec.waitCount(topic(id, "availability"), 2, equals("online"))
	}
	h.rec.waitFor(testBase+"/bridge/info", func(string) bool {
		all := h.rec.on(testBase + "/bridge/info")
		return strings.Contains(all[len(all)-1], `"status":"ok"`)
	})
}
