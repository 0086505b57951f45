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

// BenchmarkStartToDiscovery measures the time from calling run with -demo
// (three simulated locks, the demo cloud's realistic latencies) until the
// three locks' Home Assistant discovery is received by a subscriber on the
// broker. Each iteration uses its own base topic and discovery prefix so
// that retained messages of earlier iterations do not count; it stops the
// daemon and waits for run to return before the next one. Run it with
// e.g. -benchtime=20x.
func BenchmarkStartToDiscovery(b *testing.B) {
	broker := brokertest.Start(b)
	locks := sifelytest.DemoLocks()
	var total, worst time.Duration
	best := time.Duration(1<<63 - 1)
	for i := range b.N {
		b.StopTimer()
		prefix := fmt.Sprintf("ha-bench-%d-%d", time.Now().UnixNano(), i)
		env := map[string]string{
			"SIFELY2MQTT_MQTT_URL":              broker.URL(),
			"SIFELY2MQTT_MQTT_BASE_TOPIC":       fmt.Sprintf("s2m-bench-%d", i),
			"SIFELY2MQTT_MQTT_DISCOVERY_PREFIX": prefix,
			"SIFELY2MQTT_MQTT_CLIENT_ID":        fmt.Sprintf("sifely2mqtt-bench-%d", i),
			"SIFELY2MQTT_HTTP_LISTEN":           "127.0.0.1:0",
			"SIFELY2MQTT_STATE_DIR":             b.TempDir(),
		}
		getenv := func(k string) string { return env[k] }
		seen := discoveryWatcher(b, broker.URL(), prefix, len(locks))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		args := []string{"-demo", "-config", b.TempDir() + "/absent.yaml"}

		b.StartTimer()
		start := time.Now()
		go func() { done <- run(ctx, args, getenv, io.Discard, io.Discard) }()
		select {
		case <-seen:
		case err := <-done:
			cancel()
			b.Fatalf("run returned before discovery: %v", err)
		case <-time.After(30 * time.Second):
			cancel()
			b.Fatal("discovery of the demo locks not received within 30s")
		}
		d := time.Since(start)
		b.StopTimer()

		total += d
		best, worst = min(best, d), max(worst, d)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.Fatalf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			b.Fatal("run did not return within 10s of cancel")
		}
	}
	b.ReportMetric(float64(total)/float64(b.N)/float64(time.Millisecond), "ms-to-discovery")
	b.ReportMetric(float64(best)/float64(time.Millisecond), "min-ms")
	b.ReportMetric(float64(worst)/float64(time.Millisecond), "max-ms")
}

// discoveryWatcher subscribes to prefix/device/+/config and returns a
// channel closed once n distinct locks' non-empty discovery arrived.
func discoveryWatcher(b *testing.B, url, prefix string, n int) <-chan struct{} {
	b.Helper()
	c, err := bridge.NewMQTTClient(bridge.MQTTOptions{URL: url, ClientID: fmt.Sprintf("bench-watch-%d", time.Now().UnixNano()), InOrder: true})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	topics := map[string]bool{}
	all := make(chan struct{})
	c.Subscribe(prefix+"/device/+/config", 1, func(m bridge.Message) {
		if len(m.Payload) == 0 || !strings.HasPrefix(m.Topic, prefix+"/device/") {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		was := len(topics)
		topics[m.Topic] = true
		if was < n && len(topics) == n {
			close(all)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitConnected(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return all
}
