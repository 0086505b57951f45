package bridge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/internal/brokertest"
	"github.com/sifely2mqtt/sifely2mqtt/sifely"
	"github.com/sifely2mqtt/sifely2mqtt/sifely/sifelytest"
)

// The benchmarks here measure figures of BENCHMARKS.md. Each does a fixed
// amount of work per iteration; run them with -benchtime=1x for exactly
// that amount, e.g.
//
//	go test -run='^$' -bench=WebhookToMQTT -benchtime=1x ./bridge

// benchBridge is a bridge as the daemon runs it (info logs discarded,
// production poll spacing unless overridden) on a real broker and the
// simulated cloud.
type benchBridge struct {
	broker *brokertest.Broker
	sim    *sifelytest.Server
	bridge *Bridge
}

// The simulated cloud's tokens live a year, as the real legacy login's do,
// so that no re-login distorts a count.
const benchTokenTTL = 365 * 24 * time.Hour

// newBenchBridge starts a bridge with opts on n simulated locks. budget is
// the cloud client's budget (zero: the cloud's limits); cloudNow, when not
// nil, is the cloud client's clock.
func newBenchBridge(b *testing.B, locks []sifelytest.LockSpec, opts Options, budget sifely.Budget, cloudNow func() time.Time) *benchBridge {
	b.Helper()
	broker := brokertest.Start(b)
	sim := sifelytest.New(b, sifelytest.Options{Account: "owner@example.com", Password: "correct horse", Locks: locks, TokenTTL: benchTokenTTL})
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cloud, err := sifely.New(sifely.Options{
		BaseURL: sim.URL(), Account: "owner@example.com", Password: "correct horse",
		Budget: budget, Logger: logger, Now: cloudNow,
	})
	if err != nil {
		b.Fatal(err)
	}
	mq, err := NewMQTTClient(MQTTOptions{
		URL: broker.URL(), ClientID: fmt.Sprintf("bridge-%d", time.Now().UnixNano()),
		WillTopic: testBase + "/bridge/state", Logger: logger,
	})
	if err != nil {
		b.Fatal(err)
	}
	opts.BaseTopic = testBase
	opts.StateDir = b.TempDir()
	opts.Logger = logger
	br, err := New(opts, cloud, mq)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("bridge run: %v", err)
			}
		case <-time.After(10 * time.Second):
			b.Errorf("bridge did not stop within 10s")
		}
	})
	return &benchBridge{broker: broker, sim: sim, bridge: br}
}

// arrivals is an in-order MQTT subscriber that hands each received
// message, with its arrival time, to the benchmark.
type arrivals struct {
	client *MQTTClient
	ch     chan arrival
}

type arrival struct {
	at      time.Time
	topic   string
	payload string
}

func newArrivals(b *testing.B, url string, filters ...string) *arrivals {
	b.Helper()
	c, err := NewMQTTClient(MQTTOptions{URL: url, ClientID: fmt.Sprintf("bench-sub-%d", time.Now().UnixNano()), InOrder: true})
	if err != nil {
		b.Fatal(err)
	}
	a := &arrivals{client: c, ch: make(chan arrival, 4096)}
	for _, f := range filters {
		c.Subscribe(f, 1, func(m Message) {
			a.ch <- arrival{at: time.Now(), topic: m.Topic, payload: string(m.Payload)}
		})
	}
	startClient(b, c)
	return a
}

// await returns the arrival time of the first message on topic whose
// payload contains marker, skipping others.
func (a *arrivals) await(b *testing.B, topic, marker string) time.Time {
	b.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case m := <-a.ch:
			if m.topic == topic && strings.Contains(m.payload, marker) {
				return m.at
			}
		case <-deadline:
			b.Fatalf("no message on %s containing %q within %s", topic, marker, waitLong)
		}
	}
}

// percentile returns the p-th percentile (nearest rank) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// webhookSamples is the number of pushes (and of broker round trips)
// measured per iteration.
const webhookSamples = 1000

// BenchmarkWebhookToMQTT measures, per iteration, 1,000 sequential webhook
// pushes from just before the HTTP POST until the lock's event is received
// by a subscriber, and in the same run 1,000 plain QoS 1 publishes from
// another client to the same subscriber: the broker's own cost. The
// difference is what the bridge adds (HTTP, parse, intake queue, model
// update, publisher goroutine).
func BenchmarkWebhookToMQTT(b *testing.B) {
	lock := sifelytest.LockSpec{ID: 7500001, Alias: "Front", GatewayID: 3, State: sifelytest.StateLocked, Battery: 90}
	bb := newBenchBridge(b, []sifelytest.LockSpec{lock}, Options{
		Schedule:    Schedule{State: "@every 1h", Locks: "@every 1h", Records: "@every 1h"},
		PollSpacing: -1,
	}, sifely.Budget{}, nil)
	const probeTopic = testBase + "/bench/probe"
	eventTopic := topic(lock.ID, "event")
	sub := newArrivals(b, bb.broker.URL(), eventTopic, probeTopic)
	pub, err := NewMQTTClient(MQTTOptions{URL: bb.broker.URL(), ClientID: fmt.Sprintf("bench-pub-%d", time.Now().UnixNano())})
	if err != nil {
		b.Fatal(err)
	}
	startClient(b, pub)

	wh := NewWebhookHandler(WebhookOptions{Secret: hookSecret, Logger: bb.bridge.log}, bb.bridge.HandleNotification)
	// entered is when the bridge's HTTP server handed the current push to
	// the handler: from there on every step is the bridge's own work.
	var entered atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Store(time.Now().UnixNano())
		wh.ServeHTTP(w, r)
	}))
	b.Cleanup(srv.Close)
	url := srv.URL + "/webhook/" + hookSecret

	// Wait until the initial sync is over, so that pushes are news.
	await := func(cond func() bool) {
		deadline := time.Now().Add(waitLong)
		for !cond() {
			if time.Now().After(deadline) {
				b.Fatal("bridge did not finish its initial sync")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	await(func() bool { return bb.sim.Calls("/v3/lockRecord/list") >= 1 })

	ctx := b.Context()
	base := time.Now().Truncate(time.Millisecond)
	var push, broker, post, inBridge []time.Duration
	seq := 0
	b.ResetTimer()
	for range b.N {
		for range webhookSamples {
			seq++
			marker := fmt.Sprintf("bench-%06d", seq)

			// The bridge: POST → event on the subscriber. The event is the
			// push's first message; changed retained topics follow it.
			rec := sifelytest.RecordSpec{RecordType: 4, RecordTypeFromLock: 4, Success: true, Username: marker,
				LockDate: base.Add(time.Duration(seq) * time.Millisecond), ServerDate: base, Battery: 90}
			start := time.Now()
			status, body, err := bb.sim.PostWebhook(ctx, url, sifelytest.WebhookJSON, lock.ID, rec)
			answered := time.Now()
			if err != nil || status != 200 || body != "success" {
				b.Fatalf("push %d: %d %q %v", seq, status, body, err)
			}
			last := sub.await(b, eventTopic, marker)
			post = append(post, answered.Sub(start))
			push = append(push, last.Sub(start))
			inBridge = append(inBridge, last.Sub(time.Unix(0, entered.Load())))

			// The broker alone: publish → receipt.
			start = time.Now()
			if err := pub.Publish(ctx, probeTopic, 1, false, []byte(marker)); err != nil {
				b.Fatal(err)
			}
			broker = append(broker, sub.await(b, probeTopic, marker).Sub(start))
		}
	}
	b.StopTimer()

	slices.Sort(push)
	slices.Sort(broker)
	p50, p99 := percentile(push, 50), percentile(push, 99)
	q50, q99 := percentile(broker, 50), percentile(broker, 99)
	b.ReportMetric(ms(p50), "push-p50-ms")
	b.ReportMetric(ms(p99), "push-p99-ms")
	b.ReportMetric(ms(q50), "broker-p50-ms")
	b.ReportMetric(ms(q99), "broker-p99-ms")
	b.ReportMetric(ms(p50-q50), "added-p50-ms")
	b.ReportMetric(ms(p99-q99), "added-p99-ms")
	slices.Sort(post)
	b.ReportMetric(ms(percentile(post, 50)), "http-answer-p50-ms")
	b.ReportMetric(ms(percentile(post, 99)), "http-answer-p99-ms")
	// From the handler's entry to the event's receipt: the bridge's work
	// plus one broker hop, without the HTTP client and transport.
	slices.Sort(inBridge)
	h50, h99 := percentile(inBridge, 50), percentile(inBridge, 99)
	b.ReportMetric(ms(h50), "handler-to-event-p50-ms")
	b.ReportMetric(ms(h99), "handler-to-event-p99-ms")
	b.ReportMetric(ms(h50-q50), "bridge-added-p50-ms")
	b.ReportMetric(ms(h99-q99), "bridge-added-p99-ms")
	b.ReportMetric(float64(len(push)), "pushes")
}

// Cloud limits: the documented hourly limit and the daily one (the
// client's default budget).
const (
	cloudBudgetPerHour = 1000
	cloudBudgetPerDay  = 20000
)

// pollCost is the cloud calls of one account with the default schedule.
type pollCost struct {
	// startup is the calls until the initial sync is done.
	startup int
	// locks, states and records are one run of each poll right after
	// start-up, with every cache warm.
	locks, states, records int
	// hour is the calls of one simulated hour of the default schedule
	// after start-up: locks @every 1h, state @every 5m, records @every
	// 10m, with the cloud client's clock moved on at each step so that
	// its caches (a lock's gateways, 30 min) expire as they would.
	hour int
}

// measurePollCost runs a bridge against the simulator with n locks (all
// behind a gateway, so that every one is state-polled), lets it finish its
// start-up, then runs the polls of one hour and counts the cloud calls.
func measurePollCost(b *testing.B, n int) pollCost {
	b.Helper()
	var locks []sifelytest.LockSpec
	if n == 3 {
		locks = sifelytest.DemoLocks()
	} else {
		for i := range n {
			locks = append(locks, sifelytest.LockSpec{ID: int64(7600001 + i), Alias: fmt.Sprintf("Door %d", i+1),
				GatewayID: int64(1 + i%4), State: sifelytest.StateLocked, Battery: 80})
		}
	}
	var offset atomic.Int64 // how far the cloud client's clock is ahead
	cloudNow := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	// A budget large enough that the client's limiter never delays the
	// measurement; it changes no call counts.
	bb := newBenchBridge(b, locks, Options{
		Schedule:    Schedule{State: "@every 1h", Locks: "@every 1h", Records: "@every 1h"},
		PollSpacing: -1,
	}, sifely.Budget{PerMinute: 100000, PerHour: 1000000, PerDay: 10000000}, cloudNow)
	sim, br := bb.sim, bb.bridge

	deadline := time.Now().Add(waitLong)
	for sim.Calls("/v3/lockRecord/list") < n {
		if time.Now().After(deadline) {
			b.Fatalf("initial sync not done: calls %v", sim.CallLog())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let anything the initial sync still has in flight finish.
	time.Sleep(200 * time.Millisecond)

	count := func(what string) int {
		log := sim.CallLog()
		sim.ResetCounters()
		paths := map[string]int{}
		for _, c := range log {
			paths[c.Path]++
		}
		b.Logf("%d locks, %s: %d calls %v", n, what, len(log), paths)
		return len(log)
	}
	var c pollCost
	c.startup = count("start-up")
	br.pollLocks(br.ctx)
	c.locks = count("locks poll")
	br.pollStates(br.ctx)
	c.states = count("state poll")
	br.pollRecords(br.ctx)
	c.records = count("records poll")

	// One hour of the default schedule, in 5-minute steps.
	for minute := 5; minute <= 60; minute += 5 {
		offset.Store(int64(time.Duration(minute) * time.Minute))
		br.pollStates(br.ctx)
		if minute%10 == 0 {
			br.pollRecords(br.ctx)
		}
		if minute == 60 {
			br.pollLocks(br.ctx)
		}
	}
	c.hour = count("one hour")
	return c
}

// BenchmarkCloudCallsPerHour counts the cloud calls of the default poll
// schedule over one simulated hour, for the three demo locks and for ten
// locks, and from the difference derives the cost per lock and the largest
// account the schedule fits in the cloud's limits. Webhook follow-up polls
// and commands come on top and are not counted.
func BenchmarkCloudCallsPerHour(b *testing.B) {
	var three, ten pollCost
	for range b.N {
		three = measurePollCost(b, 3)
		ten = measurePollCost(b, 10)
	}
	perLock := float64(ten.hour-three.hour) / 7
	fixed := float64(three.hour) - 3*perLock
	b.ReportMetric(float64(three.hour), "calls/h")
	b.ReportMetric(float64(three.startup), "startup-calls")
	b.ReportMetric(float64(three.locks), "locks-poll-calls")
	b.ReportMetric(float64(three.states), "state-poll-calls")
	b.ReportMetric(float64(three.records), "records-poll-calls")
	b.ReportMetric(float64(cloudBudgetPerHour-three.hour), "headroom-calls/h")
	b.ReportMetric(float64(ten.hour), "calls/h-10-locks")
	b.ReportMetric(perLock, "calls/h-per-lock")
	b.ReportMetric(fixed, "calls/h-fixed")
	if perLock > 0 {
		b.ReportMetric(float64(int((cloudBudgetPerHour-fixed)/perLock)), "max-locks-in-hour-budget")
		b.ReportMetric(float64(int((cloudBudgetPerDay/24.0-fixed)/perLock)), "max-locks-in-day-budget")
	}
}
