package bridge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/internal/brokertest"
	"github.com/sifely2mqtt/sifely2mqtt/sifely"
	"github.com/sifely2mqtt/sifely2mqtt/sifely/sifelytest"
)

// waitLong bounds every wait of the integration tests; generous so that a
// slow CI machine does not flake.
const waitLong = 20 * time.Second

// recorder is a real MQTT client subscribed to everything; tests read
// what the bridge published from it.
type recorder struct {
	t      testing.TB
	client *MQTTClient
	mu     sync.Mutex
	msgs   []Message
	notify chan struct{}
}

func newRecorder(t testing.TB, url string, filters ...string) *recorder {
	t.Helper()
	c, err := NewMQTTClient(MQTTOptions{URL: url, ClientID: fmt.Sprintf("recorder-%d", time.Now().UnixNano()), InOrder: true})
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{t: t, client: c, notify: make(chan struct{}, 1)}
	if len(filters) == 0 {
		filters = []string{"#"}
	}
	for _, f := range filters {
		c.Subscribe(f, 1, r.add)
	}
	startClient(t, c)
	return r
}

// startClient connects c, waiting for the session, and closes it when the
// test ends.
func startClient(tb testing.TB, c *MQTTClient) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := c.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if err := c.WaitConnected(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c.Close(ctx)
	})
}

func (r *recorder) add(m Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// on returns the payloads published on topic so far, in order.
func (r *recorder) on(topic string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		if m.Topic == topic {
			out = append(out, string(m.Payload))
		}
	}
	return out
}

// count returns how many messages on topic satisfy ok.
func (r *recorder) count(topic string, ok func(string) bool) int {
	n := 0
	for _, p := range r.on(topic) {
		if ok == nil || ok(p) {
			n++
		}
	}
	return n
}

// waitFor waits until a message on topic satisfies ok and returns it.
func (r *recorder) waitFor(topic string, ok func(string) bool) string {
	r.t.Helper()
	deadline := time.After(waitLong)
	for {
		for _, p := range r.on(topic) {
			if ok == nil || ok(p) {
				return p
			}
		}
		select {
		case <-r.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			r.t.Fatalf("no message on %s matching the test within %s; got %q", topic, waitLong, r.on(topic))
			return ""
		}
	}
}

// waitCount waits until n messages on topic satisfy ok.
func (r *recorder) waitCount(topic string, n int, ok func(string) bool) {
	r.t.Helper()
	deadline := time.After(waitLong)
	for r.count(topic, ok) < n {
		select {
		case <-r.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			r.t.Fatalf("want %d messages on %s, got %d: %q", n, topic, r.count(topic, ok), r.on(topic))
		}
	}
}

func equals(want string) func(string) bool { return func(s string) bool { return s == want } }
func contains(sub string) func(string) bool {
	return func(s string) bool { return strings.Contains(s, sub) }
}

// logSink is a goroutine-safe log sink.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness runs one bridge against a real broker and the simulated cloud.
type harness struct {
	t      testing.TB
	broker *brokertest.Broker
	sim    *sifelytest.Server
	cloud  *sifely.Client
	rec    *recorder
	opts   Options
	logs   *logSink
	// bridgeURL is where the bridge connects: the broker or a gate to it.
	bridgeURL string

	bridge *Bridge
	cancel context.CancelFunc
	done   chan error
}

type harnessConfig struct {
	locks    []sifelytest.LockSpec
	latency  time.Duration
	opts     Options
	broker   *brokertest.Broker
	sim      *sifelytest.Server
	stateDir string
	// bridgeURL, when set, is the broker URL the bridge uses (a gate).
	bridgeURL string
}

const testBase = "s2m"

func newHarness(t testing.TB, hc harnessConfig) *harness {
	t.Helper()
	if hc.broker == nil {
		hc.broker = brokertest.Start(t)
	}
	if hc.locks == nil {
		hc.locks = sifelytest.DemoLocks()
	}
	if hc.sim == nil {
		hc.sim = sifelytest.New(t, sifelytest.Options{
			Account: "owner@example.com", Password: "correct horse",
			Locks: hc.locks, CommandLatency: hc.latency,
		})
	}
	h := &harness{t: t, broker: hc.broker, sim: hc.sim, logs: &logSink{}, bridgeURL: hc.bridgeURL}
	if h.bridgeURL == "" {
		h.bridgeURL = hc.broker.URL()
	}
	h.rec = newRecorder(t, hc.broker.URL())
	o := hc.opts
	o.BaseTopic = testBase
	if o.Schedule == (Schedule{}) {
		o.Schedule = Schedule{State: "@every 1h", Locks: "@every 1h", Records: "@every 1h"}
	}
	if o.VerifyDelay == 0 {
		o.VerifyDelay = 100 * time.Millisecond
	}
	if o.PollSpacing == 0 {
		o.PollSpacing = -1
	}
	if o.AnnounceDelay == 0 {
		o.AnnounceDelay = 50 * time.Millisecond
	}
	if o.StateDir == "" {
		o.StateDir = hc.stateDir
	}
	if o.StateDir == "" {
		o.StateDir = t.TempDir()
	}
	o.Logger = slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.opts = o
	cloud, err := sifely.New(sifely.Options{
		BaseURL: h.sim.URL(), Account: "owner@example.com", Password: "correct horse",
		Logger: o.Logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.cloud = cloud
	h.start()
	t.Cleanup(h.stop)
	return h
}

// start runs a new bridge process-alike on the harness's broker, cloud and
// state dir.
func (h *harness) start() {
	h.t.Helper()
	mq, err := NewMQTTClient(MQTTOptions{
		URL: h.bridgeURL, ClientID: fmt.Sprintf("bridge-%d", time.Now().UnixNano()),
		WillTopic: testBase + "/bridge/state", Logger: h.opts.Logger,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	b, err := New(h.opts, h.cloud, mq)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.bridge, h.cancel, h.done = b, cancel, make(chan error, 1)
	go func() { h.done <- b.Run(ctx) }()
}

// stop shuts the bridge down and returns how long it took.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("bridge run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Errorf("bridge did not stop within 10s")
	}
	h.cancel = nil
}

// topic returns <base>/<id>/<leaf>.
func topic(id int64, leaf string) string { return fmt.Sprintf("%s/%d/%s", testBase, id, leaf) }

// publish sends a message as a user would, with a client of its own.
func (h *harness) publish(topicName, payload string, retain bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := h.rec.client.Publish(ctx, topicName, 1, retain, []byte(payload)); err != nil {
		h.t.Fatalf("publish %s: %v", topicName, err)
	}
}

// waitReady waits until every lock's discovery and state are out.
func (h *harness) waitReady(locks ...sifelytest.LockSpec) {
	h.t.Helper()
	for _, l := range locks {
		h.rec.waitFor(fmt.Sprintf("homeassistant/device/sifely_%d/config", l.ID), nil)
		h.rec.waitFor(topic(l.ID, "state"), func(s string) bool { return s != StateUnknown })
	}
}

// gate is a TCP forwarder to the broker that a test can shut (cutting
// every connection and refusing new ones) and open again: a network outage
// between the bridge and the broker while the broker itself keeps running.
type gate struct {
	t      testing.TB
	target string
	ln     net.Listener
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newGate(t testing.TB, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{t: t, target: target, ln: ln, conns: map[net.Conn]bool{}}
	g.wg.Add(1)
	go g.accept()
	t.Cleanup(func() {
		ln.Close()
		g.Down()
		g.wg.Wait()
	})
	return g
}

func (g *gate) URL() string { return "tcp://" + g.ln.Addr().String() }

// Down cuts every connection and refuses new ones until Up.
func (g *gate) Down() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = true
	for c := range g.conns {
		c.Close()
	}
	clear(g.conns)
}

// Up lets connections through again.
func (g *gate) Up() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = false
}

func (g *gate) accept() {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		if g.down {
			g.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", g.target)
		if err != nil {
			g.mu.Unlock()
			c.Close()
			continue
		}
		g.conns[c], g.conns[up] = true, true
		g.mu.Unlock()
		g.wg.Add(2)
		go func() { defer g.wg.Done(); io.Copy(up, c); up.Close(); c.Close() }()
		go func() { defer g.wg.Done(); io.Copy(c, up); up.Close(); c.Close() }()
	}
}
