package bridge

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/discovery"
	"github.com/sifely2mqtt/sifely2mqtt/sifely"
	"github.com/sifely2mqtt/sifely2mqtt/sifely/sifelytest"
)

func TestDiscoveryForThreeLocks(t *testing.T) {
	locks := sifelytest.DemoLocks()
	h := newHarness(t, harnessConfig{locks: locks})
	h.waitReady(locks...)
	for _, l := range locks {
		got := h.rec.waitFor(discovery.Topic("homeassistant", l.ID), nil)
		want, err := discovery.Payload(discovery.Options{
			DiscoveryPrefix: "homeassistant", BaseTopic: testBase,
			Version: h.bridge.opts.Version, SupportURL: h.bridge.opts.SupportURL,
		}, discovery.Lock{
			ID: l.ID, Alias: l.Alias, Model: l.Model, MAC: l.MAC, Firmware: l.Firmware,
			Hardware: l.Hardware, HasGateway: l.GatewayID != 0, EventTypes: sifely.EventTypes,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("lock %d discovery:\n got %s\nwant %s", l.ID, got, want)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(got), &doc); err != nil {
			t.Fatalf("discovery is not JSON: %v", err)
		}
		if bat := h.rec.waitFor(topic(l.ID, "battery"), nil); bat != fmt.Sprint(l.Battery) {
			t.Errorf("lock %d battery = %q, want %d", l.ID, bat, l.Battery)
		}
		wantState := map[int]string{0: StateLocked, 1: StateUnlocked}[l.State]
		if st := h.rec.waitFor(topic(l.ID, "state"), func(s string) bool { return s != StateUnknown }); st != wantState {
			t.Errorf("lock %d state = %q, want %q", l.ID, st, wantState)
		}
		h.rec.waitFor(topic(l.ID, "availability"), equals("online"))
		attrs := h.rec.waitFor(topic(l.ID, "attributes"), nil)
		if !strings.Contains(attrs, `"alias":"`+l.Alias+`"`) {
			t.Errorf("attributes lack the alias: %s", attrs)
		}
	}
	h.rec.waitFor(testBase+"/bridge/state", equals("online"))
	info := h.rec.waitFor(testBase+"/bridge/info", contains(`"lock_count":3`))
	if !strings.Contains(info, `"version"`) {
		t.Errorf("bridge info lacks version: %s", info)
	}
}

// stateSequence returns the states published from index from on, without
// the repeats of the confirmed state a poll may publish before the
// command's first message.
func stateSequence(all []string, from int) []string {
	if from > len(all) {
		return nil
	}
	seq := all[from:]
	for len(seq) > 0 && (seq[0] == StateLocked || seq[0] == StateUnlocked) && len(seq) > 2 {
		seq = seq[1:]
	}
	return seq
}

func TestUnlockAndLockCallTheCloudOnce(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7200001, Alias: "Front", GatewayID: 9, State: sifelytest.StateLocked, Battery: 80}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}, latency: 300 * time.Millisecond})
	h.waitReady(lock)
	stateTopic := topic(lock.ID, "state")

	before := len(h.rec.on(stateTopic))
	h.publish(topic(lock.ID, "set"), "UNLOCK", false)
	h.rec.waitFor(topic(lock.ID, "result"), contains(`"action":"unlock"`))
	h.rec.waitFor(stateTopic, equals(StateUnlocked))
	if got := h.sim.Calls("/v3/lock/unlock"); got != 1 {
		t.Errorf("unlock calls = %d, want 1", got)
	}
	seq := stateSequence(h.rec.on(stateTopic), before)
	if len(seq) < 2 || seq[0] != StateUnlocking || seq[1] != StateUnlocked {
		t.Errorf("state sequence after UNLOCK = %q, want UNLOCKING then UNLOCKED", seq)
	}
	if h.sim.State(lock.ID) != sifelytest.StateUnlocked {
		t.Errorf("simulated lock not unlocked")
	}

	before = len(h.rec.on(stateTopic))
	h.publish(topic(lock.ID, "set"), "lock", false)
	h.rec.waitFor(topic(lock.ID, "result"), contains(`"action":"lock"`))
	h.rec.waitFor(stateTopic, func(s string) bool { return len(stateSequence(h.rec.on(stateTopic), before)) >= 2 })
	seq = stateSequence(h.rec.on(stateTopic), before)
	if len(seq) < 2 || seq[0] != StateLocking || seq[1] != StateLocked {
		t.Errorf("state sequence after LOCK = %q, want LOCKING then LOCKED", seq)
	}
	if got := h.sim.Calls("/v3/lock/lock"); got != 1 {
		t.Errorf("lock calls = %d, want 1", got)
	}
	if got := h.sim.Calls("/v3/lock/unlock"); got != 1 {
		t.Errorf("unlock calls after LOCK = %d, want still 1", got)
	}
}

func TestJSONCommandResult(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7200002, Alias: "Side", GatewayID: 9, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}, latency: 100 * time.Millisecond})
	h.waitReady(lock)
	h.publish(topic(lock.ID, "set"), `{"action":"unlock","id":"req-42"}`, false)
	raw := h.rec.waitFor(topic(lock.ID, "result"), contains(`"req-42"`))
	var res struct {
		ID        string `json:"id"`
		Action    string `json:"action"`
		OK        bool   `json:"ok"`
		Error     string `json:"error"`
		LatencyMS *int64 `json:"latency_ms"`
	}
	if err := json.Unmarshal([]byte(raw), &res); err != nil {
		t.Fatal(err)
	}
	if res.ID != "req-42" || res.Action != "unlock" || !res.OK || res.Error != "" || res.LatencyMS == nil || *res.LatencyMS < 100 {
		t.Errorf("result = %s", raw)
	}
	// A bad payload gets a result naming the problem and calls nothing.
	h.publish(topic(lock.ID, "set"), `{"action":"open-sesame","id":"req-43"}`, false)
	raw = h.rec.waitFor(topic(lock.ID, "result"), contains(`"req-43"`))
	if !strings.Contains(raw, `"error":"bad_payload"`) || !strings.Contains(raw, `"ok":false`) {
		t.Errorf("bad payload result = %s", raw)
	}
	if got := h.sim.Calls("/v3/lock/unlock") + h.sim.Calls("/v3/lock/lock"); got != 1 {
		t.Errorf("commands sent = %d, want 1", got)
	}
}

func TestRetainedUnlockIsNeverExecuted(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7200003, Alias: "Porch", GatewayID: 9, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{}})
	// A retained UNLOCK sits on the broker before the bridge knows the lock.
	h.publish(topic(lock.ID, "set"), "UNLOCK", true)
	h.stop()
	h.sim.AddLock(lock)
	h.start()
	h.waitReady(lock)
	h.rec.waitFor(topic(lock.ID, "result"), contains(`"error":"retained_ignored"`))
	if got := h.sim.Calls("/v3/lock/unlock"); got != 0 {
		t.Fatalf("unlock calls after start = %d, want 0", got)
	}
	// The bridge cleared the retained command from the broker.
	h.rec.waitFor(topic(lock.ID, "set"), equals(""))
	h.broker.RequireRestart(t)
	// Again while the bridge is away, then the broker restarts (its
	// persistence keeps the retained command) and the bridge connects to
	// the restarted broker: the replay is ignored again. (The bridge's log
	// is the witness: the recorder may resubscribe after the result.)
	h.stop()
	h.publish(topic(lock.ID, "set"), "UNLOCK", true)
	h.broker.Stop(t)
	h.start()
	h.broker.Restart(t)
	deadline := time.Now().Add(waitLong)
	for strings.Count(h.logs.String(), "retained command ignored") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the retained command was not seen again after the broker restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := h.sim.Calls("/v3/lock/unlock"); got != 0 {
		t.Errorf("unlock calls after broker restart = %d, want 0", got)
	}
	if st := h.sim.State(lock.ID); st != sifelytest.StateLocked {
		t.Errorf("lock state = %d, want locked", st)
	}
}

func TestReadOnlyLockRefusesUnlock(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7200004, Alias: "Office", GatewayID: 9, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{
		locks: []sifelytest.LockSpec{lock},
		opts:  Options{Locks: map[int64]LockSettings{lock.ID: {DenyUnlock: true}}},
	})
	h.waitReady(lock)
	h.publish(topic(lock.ID, "set"), "UNLOCK", false)
	h.rec.waitFor(topic(lock.ID, "result"), contains(`"error":"unlock_disabled"`))
	if got := h.sim.Calls("/v3/lock/unlock"); got != 0 {
		t.Errorf("unlock calls = %d, want 0", got)
	}
	// LOCK still works on a read-only lock.
	h.publish(topic(lock.ID, "set"), "LOCK", false)
	h.rec.waitFor(topic(lock.ID, "result"), contains(`"ok":true`))
	if got := h.sim.Calls("/v3/lock/lock"); got != 1 {
		t.Errorf("lock calls = %d, want 1", got)
	}
}

func TestUnlockCodeRequired(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7200005, Alias: "Gate", GatewayID: 9, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{
		locks: []sifelytest.LockSpec{lock},
		opts:  Options{Locks: map[int64]LockSettings{lock.ID: {Code: "4711"}}},
	})
	h.waitReady(lock)
	cfg := h.rec.waitFor(discovery.Topic("homeassistant", lock.ID), nil)
	if !strings.Contains(cfg, `"code_format"`) {
		t.Errorf("discovery of a lock with a code lacks code_format: %s", cfg)
	}
	h.publish(topic(lock.ID, "set"), `{"action":"UNLOCK","code":"0000","id":"a"}`, false)
	h.rec.waitFor(topic(lock.ID, "result"), contains(`"error":"bad_code"`))
	h.publish(topic(lock.ID, "set"), `{"action":"UNLOCK","code":"4711","id":"b"}`, false)
	h.rec.waitFor(topic(lock.ID, "result"), func(s string) bool { return strings.Contains(s, `"b"`) && strings.Contains(s, `"ok":true`) })
	if got := h.sim.Calls("/v3/lock/unlock"); got != 1 {
		t.Errorf("unlock calls = %d, want 1", got)
	}
	if strings.Contains(h.logs.String(), "4711") {
		t.Errorf("the unlock code reached the logs")
	}
}

func TestGatewayBusyAndOffline(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7200006, Alias: "Shed", GatewayID: 5, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}})
	h.waitReady(lock)

	// Busy on every attempt the client makes: the command fails with
	// gateway_busy and the state goes back to the confirmed LOCKED.
	h.sim.Inject("/v3/lock/unlock", sifelytest.Fault{Times: 20, Code: -3003, Message: "gateway busy"})
	h.publish(topic(lock.ID, "set"), `{"action":"unlock","id":"busy"}`, false)
	res := h.rec.waitFor(topic(lock.ID, "result"), contains(`"busy"`))
	if !strings.Contains(res, `"error":"gateway_busy"`) {
		t.Errorf("result = %s, want gateway_busy", res)
	}
	// The state topic (a stream of its own) shows UNLOCKING, then LOCKED
	// again; never UNLOCKED or JAMMED.
	h.rec.waitFor(topic(lock.ID, "state"), func(string) bool {
		all := h.rec.on(topic(lock.ID, "state"))
		return all[len(all)-1] == StateLocked && slices.Contains(all, StateUnlocking)
	})
	if states := h.rec.on(topic(lock.ID, "state")); slices.Contains(states, StateUnlocked) || slices.Contains(states, StateJammed) {
		t.Errorf("states after busy = %q, want no UNLOCKED or JAMMED", states)
	}
	if h.sim.State(lock.ID) != sifelytest.StateLocked {
		t.Errorf("simulated lock moved")
	}
	h.sim.ResetCounters()

	// Gateway offline: a clear result, and the lock becomes unavailable.
	h.sim.SetGatewayOnline(lock.GatewayID, false)
	h.publish(topic(lock.ID, "set"), `{"action":"lock","id":"off"}`, false)
	res = h.rec.waitFor(topic(lock.ID, "result"), contains(`"off"`))
	if !strings.Contains(res, `"error":"gateway_offline"`) {
		t.Errorf("result = %s, want gateway_offline", res)
	}
	h.rec.waitFor(topic(lock.ID, "availability"), equals("offline"))
	h.rec.waitFor(topic(lock.ID, "attributes"), contains(`"gateway_online":false`))
	// Back online: the next state poll restores availability.
	h.sim.SetGatewayOnline(lock.GatewayID, true)
	h.bridge.pollStates(h.bridge.ctx)
	h.rec.waitCount(topic(lock.ID, "availability"), 2, equals("online"))
}

func TestHomeAssistantBirthReannounces(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7200007, Alias: "Loft", GatewayID: 9, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}})
	h.waitReady(lock)
	cfgTopic := discovery.Topic("homeassistant", lock.ID)
	n := len(h.rec.on(cfgTopic))
	states := len(h.rec.on(topic(lock.ID, "state")))
	h.publish("homeassistant/status", "offline", false)
	h.publish("homeassistant/status", "online", false)
	h.rec.waitCount(cfgTopic, n+1, nil)
	h.rec.waitCount(topic(lock.ID, "state"), states+1, nil)
}

func TestCommandsWorkAfterBrokerRestart(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7200008, Alias: "Cellar", GatewayID: 9, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}})
	h.broker.RequireRestart(t)
	h.waitReady(lock)
	online := len(h.rec.on(testBase + "/bridge/state"))
	h.broker.Stop(t)
	h.broker.Restart(t)
	back := time.Now()
	// The recorder reconnects too; wait for the bridge to announce itself.
	h.rec.waitCount(testBase+"/bridge/state", online+1, equals("online"))
	h.publish(topic(lock.ID, "set"), `{"action":"unlock","id":"after"}`, false)
	h.rec.waitFor(topic(lock.ID, "result"), func(s string) bool {
		return strings.Contains(s, `"after"`) && strings.Contains(s, `"ok":true`)
	})
	if d := time.Since(back); d > 15*time.Second {
		t.Errorf("command worked %s after the broker's return, want < 15s", d)
	}
	if got := h.sim.Calls("/v3/lock/unlock"); got != 1 {
		t.Errorf("unlock calls = %d, want 1", got)
	}
}

func TestRestartReemitsNoOldEvent(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7200009, Alias: "Studio", GatewayID: 9, State: sifelytest.StateLocked}
	dir := t.TempDir()
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}, stateDir: dir})
	h.waitReady(lock)
	h.sim.AddRecord(sifelytest.RecordSpec{LockID: lock.ID, RecordType: 4, Success: true, Username: "Cleaner"})
	h.bridge.pollRecords(h.bridge.ctx)
	ev := h.rec.waitFor(topic(lock.ID, "event"), contains(`"Cleaner"`))
	if !strings.Contains(ev, `"event_type":"unlocked"`) || !strings.Contains(ev, `"method":"passcode"`) {
		t.Errorf("event = %s", ev)
	}
	h.rec.waitFor(topic(lock.ID, "last_unlock"), nil)
	h.stop()

	h.start()
	h.rec.waitCount(testBase+"/bridge/state", 2, equals("online"))
	h.bridge.pollRecords(h.bridge.ctx)
	h.sim.AddRecord(sifelytest.RecordSpec{LockID: lock.ID, RecordType: 45, Success: true})
	h.bridge.pollRecords(h.bridge.ctx)
	h.rec.waitFor(topic(lock.ID, "event"), contains(`"auto_lock"`))
	if n := h.rec.count(topic(lock.ID, "event"), contains(`"Cleaner"`)); n != 1 {
		t.Errorf("the old event was published %d times, want once", n)
	}
}

func TestShutdownPublishesOffline(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7200010, Alias: "Attic", GatewayID: 9, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}})
	h.waitReady(lock)
	start := time.Now()
	h.stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %s, want < 5s", d)
	}
	h.rec.waitFor(testBase+"/bridge/state", equals("offline"))
}
