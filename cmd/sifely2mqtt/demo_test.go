package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/bridge"
	"github.com/sifely2mqtt/sifely2mqtt/internal/brokertest"
	"github.com/sifely2mqtt/sifely2mqtt/sifely/sifelytest"
)

// observer records what the daemon publishes, through a real MQTT client.
type observer struct {
	mu   sync.Mutex
	last map[string][]string
}

// newObserver connects a recording client to the broker at url,
// subscribed to filter.
func newObserver(t *testing.T, url, name, filter string) (*observer, *bridge.MQTTClient) {
	t.Helper()
	obs := &observer{last: map[string][]string{}}
	sub, err := bridge.NewMQTTClient(bridge.MQTTOptions{URL: url, ClientID: name + "-observer", InOrder: true})
	if err != nil {
		t.Fatal(err)
	}
	sub.Subscribe(filter, 1, obs.add)
	if err := sub.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := sub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close(context.Background()) })
	return obs, sub
}

func (o *observer) add(m bridge.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last[m.Topic] = append(o.last[m.Topic], string(m.Payload))
}

func (o *observer) waitFor(t *testing.T, topic string, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		o.mu.Lock()
		for _, p := range o.last[topic] {
			if ok(p) {
				o.mu.Unlock()
				return
			}
		}
		o.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	t.Fatalf("no matching message on %s; got %q", topic, o.last[topic])
}

// TestDemoEndToEnd runs the daemon as a user would with -demo against a
// real Mosquitto: discovery, states and battery for the demo locks appear,
// an UNLOCK changes the state, and SIGTERM-style cancellation publishes
// offline and returns quickly.
func TestDemoEndToEnd(t *testing.T) {
	broker := brokertest.Start(t)
	base := fmt.Sprintf("demo%d", time.Now().UnixNano()%100000)
	env := map[string]string{
		"SIFELY2MQTT_MQTT_URL":        broker.URL(),
		"SIFELY2MQTT_MQTT_BASE_TOPIC": base,
		"SIFELY2MQTT_MQTT_CLIENT_ID":  base,
		"SIFELY2MQTT_HTTP_LISTEN":     "127.0.0.1:0",
		"SIFELY2MQTT_STATE_DIR":       t.TempDir(),
		"SIFELY2MQTT_CONFIG":          "/nonexistent/config.yaml",
	}
	getenv := func(k string) string { return env[k] }

	obs, sub := newObserver(t, broker.URL(), base, "#")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var logs strings.Builder
	go func() { done <- run(ctx, []string{"-demo"}, getenv, io.Discard, &lockedWriter{w: &logs}) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})

	select {
	case err := <-done:
		t.Fatalf("run returned early: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	for _, l := range sifelytest.DemoLocks() {
		obs.waitFor(t, fmt.Sprintf("homeassistant/device/sifely_%d/config", l.ID), func(s string) bool {
			return strings.Contains(s, `"name":"`+l.Alias+`"`)
		})
		want := map[int]string{0: "LOCKED", 1: "UNLOCKED"}[l.State]
		obs.waitFor(t, fmt.Sprintf("%s/%d/state", base, l.ID), func(s string) bool { return s == want })
		obs.waitFor(t, fmt.Sprintf("%s/%d/battery", base, l.ID), func(s string) bool { return s == fmt.Sprint(l.Battery) })
	}
	obs.waitFor(t, base+"/bridge/state", func(s string) bool { return s == "online" })

	front := sifelytest.DemoLocks()[0]
	if err := sub.Publish(t.Context(), fmt.Sprintf("%s/%d/set", base, front.ID), 1, false, []byte("UNLOCK")); err != nil {
		t.Fatal(err)
	}
	obs.waitFor(t, fmt.Sprintf("%s/%d/state", base, front.ID), func(s string) bool { return s == "UNLOCKING" })
	obs.waitFor(t, fmt.Sprintf("%s/%d/state", base, front.ID), func(s string) bool { return s == "UNLOCKED" })
	obs.waitFor(t, fmt.Sprintf("%s/%d/result", base, front.ID), func(s string) bool { return strings.Contains(s, `"ok":true`) })

	stopped := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop")
	}
	if d := time.Since(stopped); d > 5*time.Second {
		t.Errorf("shutdown took %s, want under 5s", d)
	}
	obs.waitFor(t, base+"/bridge/state", func(s string) bool { return s == "offline" })
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// In -demo the simulated cloud pushes scripted activity to the daemon's
// own webhook endpoint: events arrive by push, as with the real cloud.
func TestDemoActivityArrivesByWebhook(t *testing.T) {
	broker := brokertest.Start(t)
	base := fmt.Sprintf("demoact%d", time.Now().UnixNano()%100000)
	cfg := DefaultConfig()
	cfg.MQTT.URL = broker.URL()
	cfg.MQTT.BaseTopic = base
	cfg.MQTT.ClientID = base
	cfg.HTTP.Listen = ""
	cfg.StateDir = t.TempDir()

	obs, _ := newObserver(t, broker.URL(), base, base+"/#")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &lockedWriter{w: &strings.Builder{}}
	go func() {
		done <- runDaemon(ctx, cfg, runOptions{Demo: true, Version: "test", Stdout: io.Discard, DemoActivity: 300 * time.Millisecond},
			newLogger(LogConfig{Level: "debug", Format: "text"}, logs))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runDaemon: %v", err)
		}
	}()
	front := sifelytest.DemoLocks()[0]
	obs.waitFor(t, fmt.Sprintf("%s/%d/event", base, front.ID), func(s string) bool {
		return strings.Contains(s, `"user":"Cleaner"`) && strings.Contains(s, `"source":"webhook"`)
	})
	obs.waitFor(t, fmt.Sprintf("%s/%d/last_unlock", base, front.ID), func(s string) bool { return s != "" })
	obs.waitFor(t, base+"/bridge/info", func(s string) bool { return strings.Contains(s, `"accepted":`) && !strings.Contains(s, `"accepted":0`) })
}
