package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/internal/brokertest"
	"github.com/sifely2mqtt/sifely2mqtt/sifely"
	"github.com/sifely2mqtt/sifely2mqtt/sifely/sifelytest"
)

const hookSecret = "s3cret-path-token-0123456789"

// withWebhook serves the harness bridge's webhook endpoint over real HTTP
// and returns its URL (with the secret path) and the handler.
func withWebhook(t *testing.T, h *harness) (string, *WebhookHandler) {
	t.Helper()
	wh := NewWebhookHandler(WebhookOptions{Secret: hookSecret, Logger: h.opts.Logger}, func(n sifely.Notification) {
		h.bridge.HandleNotification(n)
	})
	srv := httptest.NewServer(wh)
	t.Cleanup(srv.Close)
	return srv.URL + "/webhook/" + hookSecret, wh
}

func postBody(t *testing.T, url, contentType string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func TestWebhookPushesReachMQTT(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7300001, Alias: "Front", GatewayID: 3, State: sifelytest.StateLocked, Battery: 90}
	var hook atomic.Pointer[WebhookHandler]
	stats := func() WebhookStats {
		if w := hook.Load(); w != nil {
			return w.Stats()
		}
		return WebhookStats{}
	}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}, opts: Options{Webhook: stats}})
	h.waitReady(lock)
	url, wh := withWebhook(t, h)
	hook.Store(wh)
	ctx := t.Context()
	// Records newer than the bridge's last state poll, so that they are
	// the newest observation of the lock.
	base := time.Now().Truncate(time.Millisecond)

	for i, style := range []sifelytest.WebhookStyle{sifelytest.WebhookForm, sifelytest.WebhookJSON} {
		user := fmt.Sprintf("Guest %d", i)
		rec := sifelytest.RecordSpec{RecordType: 4, RecordTypeFromLock: 4, Success: true, Username: user,
			KeyboardPwd: "918273", LockDate: base.Add(time.Duration(i) * time.Second), ServerDate: base, Battery: 77 - i}
		status, body, err := h.sim.PostWebhook(ctx, url, style, lock.ID, rec)
		if err != nil || status != 200 || body != "success" {
			t.Fatalf("style %d: push answered %d %q %v", style, status, body, err)
		}
		ev := h.rec.waitFor(topic(lock.ID, "event"), contains(user))
		var e event
		if err := json.Unmarshal([]byte(ev), &e); err != nil {
			t.Fatal(err)
		}
		if e.EventType != "unlocked" || e.Method != "passcode" || e.Source != "webhook" || !e.Success {
			t.Errorf("event = %s", ev)
		}
		h.rec.waitFor(topic(lock.ID, "last_unlock"), equals(isoTime(rec.LockDate)))
		h.rec.waitFor(topic(lock.ID, "battery"), equals(fmt.Sprint(77-i)))
		h.rec.waitFor(topic(lock.ID, "attributes"), contains(`"last_unlock_user":"`+user+`"`))
	}
	h.rec.waitFor(topic(lock.ID, "state"), equals(StateUnlocked))

	// A failed attempt is an unlock_failed event and changes nothing.
	fail := sifelytest.RecordSpec{RecordType: 4, Success: false, Username: "Stranger", LockDate: base.Add(time.Minute), ServerDate: base, Battery: 76}
	if st, _, _ := h.sim.PostWebhook(ctx, url, sifelytest.WebhookForm, lock.ID, fail); st != 200 {
		t.Fatalf("status %d", st)
	}
	h.rec.waitFor(topic(lock.ID, "event"), func(s string) bool {
		return strings.Contains(s, "Stranger") && strings.Contains(s, `"event_type":"unlock_failed"`)
	})
	if lu := h.rec.on(topic(lock.ID, "last_unlock")); strings.Contains(lu[len(lu)-1], isoTime(fail.LockDate)) {
		t.Errorf("a failed attempt became the last unlock")
	}
	if n := h.rec.count(topic(lock.ID, "state"), equals(StateLocked)); n < 1 {
		t.Errorf("lost the initial state")
	}
	if strings.Contains(h.logs.String(), "918273") {
		t.Error("a passcode reached the logs")
	}
	if s := wh.Stats(); s.Accepted != 3 || s.LastPush.IsZero() {
		t.Errorf("webhook stats = %+v, want 3 accepted", s)
	}
	// bridge/info reports the webhook's status.
	info := h.rec.waitFor(testBase+"/bridge/info", contains(`"accepted":3`))
	if !strings.Contains(info, `"enabled":true`) || !strings.Contains(info, `"last_push":"`) {
		t.Errorf("bridge/info = %s", info)
	}
	// A webhook never causes a command.
	if n := h.sim.Calls("/v3/lock/unlock") + h.sim.Calls("/v3/lock/lock"); n != 0 {
		t.Errorf("pushes caused %d commands", n)
	}
}

func TestWebhookRejectsWrongSecretAndBigBodies(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7300002, Alias: "Back", GatewayID: 3, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}})
	h.waitReady(lock)
	url, _ := withWebhook(t, h)
	ctx := t.Context()
	now := time.Now().Truncate(time.Millisecond)
	wrong := strings.TrimSuffix(url, hookSecret) + "not-the-secret-0123456789"
	st, _, err := h.sim.PostWebhook(ctx, wrong, sifelytest.WebhookForm, lock.ID,
		sifelytest.RecordSpec{RecordType: 12, Success: true, Username: "Intruder", LockDate: now, ServerDate: now})
	if err != nil || st != http.StatusNotFound {
		t.Errorf("wrong secret: status %d %v, want 404", st, err)
	}
	big := bytes.Repeat([]byte("a"), 70<<10)
	if st, _ := postBody(t, url, "application/json", big); st != http.StatusRequestEntityTooLarge {
		t.Errorf("70 KiB body: status %d, want 413", st)
	}
	// A push for a lock of another account is ignored.
	st, _, _ = h.sim.PostWebhook(ctx, url, sifelytest.WebhookJSON, 999999,
		sifelytest.RecordSpec{LockID: 999999, RecordType: 12, Success: true, Username: "Foreign", LockDate: now, ServerDate: now})
	if st != 200 {
		t.Errorf("foreign push: status %d", st)
	}
	// A good push after them is delivered; nothing before it was.
	st, _, _ = h.sim.PostWebhook(ctx, url, sifelytest.WebhookJSON, lock.ID,
		sifelytest.RecordSpec{RecordType: 45, Success: true, LockDate: now.Add(time.Second), ServerDate: now})
	if st != 200 {
		t.Fatalf("good push: status %d", st)
	}
	h.rec.waitFor(topic(lock.ID, "event"), contains("auto_lock"))
	if n := h.rec.count(topic(lock.ID, "event"), nil); n != 1 {
		t.Errorf("events = %q, want only the good push's", h.rec.on(topic(lock.ID, "event")))
	}
	if n := h.rec.count(topic(999999, "event"), nil); n != 0 {
		t.Errorf("a foreign lock got events")
	}
}

func TestWebhookSurvivesRandomBodies(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7300003, Alias: "Shed", GatewayID: 3, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}})
	h.waitReady(lock)
	url, _ := withWebhook(t, h)
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"application/json", "application/x-www-form-urlencoded", "text/plain", ""}
	seeds := []string{`{"notifyType":1,"lockId":7300003,"records":[`, "notifyType=1&lockId=7300003&records=", `{"data":{"records":"[{`, "notifyType=2&gatewayId="}
	for i := 0; i < 1000; i++ {
		body := []byte(seeds[rng.IntN(len(seeds))])
		n := rng.IntN(200)
		for j := 0; j < n; j++ {
			body = append(body, byte(rng.IntN(256)))
		}
		st, _ := postBody(t, url, types[rng.IntN(len(types))], body)
		if st != 200 && st != 400 {
			t.Fatalf("random body %d: status %d", i, st)
		}
	}
	now := time.Now().Truncate(time.Millisecond)
	st, _, _ := h.sim.PostWebhook(t.Context(), url, sifelytest.WebhookForm, lock.ID,
		sifelytest.RecordSpec{RecordType: 7, Success: true, Username: "Card A", LockDate: now, ServerDate: now})
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	h.rec.waitFor(topic(lock.ID, "event"), contains("Card A"))
}

func TestPushThenPollPublishesOnce(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7300004, Alias: "Garage", GatewayID: 3, State: sifelytest.StateLocked}
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}, opts: Options{PushFollowUp: 200 * time.Millisecond}})
	h.waitReady(lock)
	url, _ := withWebhook(t, h)
	h.bridge.pollRecords(h.bridge.ctx) // primed: history is not news
	rec := h.sim.AddRecord(sifelytest.RecordSpec{LockID: lock.ID, RecordType: 8, Success: true, Username: "Alex"})
	if st, _, _ := h.sim.PostWebhook(t.Context(), url, sifelytest.WebhookJSON, lock.ID, rec); st != 200 {
		t.Fatalf("status %d", st)
	}
	h.rec.waitFor(topic(lock.ID, "event"), contains("Alex"))
	// The follow-up poll runs after PushFollowUp; add a record only the
	// poll can find, and wait for it.
	h.sim.AddRecord(sifelytest.RecordSpec{LockID: lock.ID, RecordType: 45, Success: true})
	h.rec.waitFor(topic(lock.ID, "event"), contains("auto_lock"))
	h.bridge.pollRecords(h.bridge.ctx)
	h.rec.waitFor(testBase+"/bridge/info", nil)
	if n := h.rec.count(topic(lock.ID, "event"), contains("Alex")); n != 1 {
		t.Errorf("record seen by push and poll published %d times, want 1", n)
	}
}

func TestBurstOfPushesKeepsPerLockOrder(t *testing.T) {
	var locks []sifelytest.LockSpec
	for i := range 5 {
		locks = append(locks, sifelytest.LockSpec{ID: int64(7400001 + i), Alias: fmt.Sprintf("Unit %d", i+1), GatewayID: 4, State: sifelytest.StateLocked})
	}
	h := newHarness(t, harnessConfig{locks: locks})
	h.waitReady(locks...)
	url, _ := withWebhook(t, h)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range 200 {
		l := locks[i%5]
		rec := sifelytest.RecordSpec{RecordType: 4, Success: true, Username: fmt.Sprintf("seq-%03d", i),
			LockDate: base.Add(time.Duration(i) * time.Second), ServerDate: base}
		if st, _, err := h.sim.PostWebhook(t.Context(), url, sifelytest.WebhookForm, l.ID, rec); st != 200 || err != nil {
			t.Fatalf("push %d: %d %v", i, st, err)
		}
	}
	total := 0
	for li, l := range locks {
		h.rec.waitCount(topic(l.ID, "event"), 40, nil)
		evs := h.rec.on(topic(l.ID, "event"))
		total += len(evs)
		for k, ev := range evs {
			want := fmt.Sprintf("seq-%03d", li+5*k)
			if !strings.Contains(ev, want) {
				t.Fatalf("lock %d event %d = %s, want %s", l.ID, k, ev, want)
			}
		}
	}
	if total != 200 {
		t.Errorf("events = %d, want 200", total)
	}
}

func TestPushesDuringBrokerOutageArePublishedAfter(t *testing.T) {
	lock := sifelytest.LockSpec{ID: 7300005, Alias: "Lobby", GatewayID: 3, State: sifelytest.StateLocked}
	broker := brokertest.Start(t)
	gate := newGate(t, broker.Addr())
	// The bridge reaches the broker through a gate the test can shut; the
	// recorder stays connected directly and sees what comes after.
	h := newHarness(t, harnessConfig{locks: []sifelytest.LockSpec{lock}, broker: broker, bridgeURL: gate.URL()})
	h.waitReady(lock)
	url, _ := withWebhook(t, h)
	gate.Down()
	waitDisconnected(t, h.bridge.broker)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range 20 {
		rec := sifelytest.RecordSpec{RecordType: 4, Success: true, Username: fmt.Sprintf("out-%02d", i),
			LockDate: base.Add(time.Duration(i) * time.Second), ServerDate: base}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		st, _, err := h.sim.PostWebhook(ctx, url, sifelytest.WebhookJSON, lock.ID, rec)
		cancel()
		if st != 200 || err != nil {
			t.Fatalf("push %d during outage: %d %v", i, st, err)
		}
	}
	gate.Up()
	h.rec.waitCount(topic(lock.ID, "event"), 20, contains("out-"))
	evs := h.rec.on(topic(lock.ID, "event"))
	for i, ev := range evs {
		if want := fmt.Sprintf("out-%02d", i); !strings.Contains(ev, want) {
			t.Errorf("event %d = %s, want %s", i, ev, want)
		}
	}
	if len(evs) != 20 {
		t.Errorf("events = %d, want exactly 20", len(evs))
	}
}

func waitDisconnected(t *testing.T, b Broker) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for b.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("bridge still connected after the broker stopped")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
