package bridge

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// topics builds the bridge's topic names (DESIGN.md section 4).
type topics struct{ base string }

func (t topics) bridgeState() string { return t.base + "/bridge/state" }
func (t topics) bridgeInfo() string  { return t.base + "/bridge/info" }
func (t topics) setFilter() string   { return t.base + "/+/set" }
func (t topics) lock(id int64, leaf string) string {
	return t.base + "/" + strconv.FormatInt(id, 10) + "/" + leaf
}

// retainedLeaves are the retained per-lock topics, cleared when a lock
// leaves the account.
var retainedLeaves = []string{"state", "battery", "last_unlock", "attributes", "availability"}

// outMsg is one message for the broker.
type outMsg struct {
	topic   string
	payload []byte
	retain  bool
	// force publishes a retained message even when the broker already
	// holds the same payload from us (re-announcements).
	force bool
	flush bool // not a message: publish the outbox now
}

// publisher sends messages to the broker in two streams, each from a
// goroutine of its own, so that an event never waits behind the retained
// state updates of an earlier one:
//
//   - retained messages (discovery, states) are conflated: only the newest
//     queued payload of a topic is sent, topics in the order they were first
//     queued. A burst of pushes thus costs one publish per changed topic, not
//     one per push, and senders never wait for the broker. One that cannot
//     be sent is dropped, since the bridge republishes every retained state
//     from its model on reconnect; one whose payload the broker already holds
//     from us is skipped unless forced.
//   - non-retained messages (events, results) go out one by one in the order
//     queued; while the broker is away they wait in a bounded outbox and are
//     sent, still in order, once it is back.
//
// Order holds within each stream, not between them.
type publisher struct {
	broker   Broker
	log      *slog.Logger
	timeout  time.Duration
	retained *conflater
	stream   chan outMsg
	max      int

	mu      sync.Mutex
	outbox  []outMsg
	dropped int64

	// last holds the payload last published on each retained topic (only
	// the retained stream's goroutine touches it).
	last map[string]string
}

func newPublisher(b Broker, log *slog.Logger, outboxSize int) *publisher {
	return &publisher{
		broker:   b,
		log:      log,
		timeout:  10 * time.Second,
		retained: newConflater(),
		stream:   make(chan outMsg, 4096),
		max:      outboxSize,
		last:     map[string]string{},
	}
}

// send queues a message on its stream. Only a full non-retained queue
// makes it wait.
func (p *publisher) send(ctx context.Context, m outMsg) {
	if m.retain {
		p.retained.put(m)
		return
	}
	select {
	case p.stream <- m:
	case <-ctx.Done():
	}
}

// flushOutbox asks the non-retained stream to send the outbox.
func (p *publisher) flushOutbox(ctx context.Context) { p.send(ctx, outMsg{flush: true}) }

// pending returns how many messages wait in the outbox.
func (p *publisher) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.outbox)
}

// run publishes both streams until ctx ends.
func (p *publisher) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			for m, ok := p.retained.next(); ok; m, ok = p.retained.next() {
				p.handle(ctx, m)
			}
			select {
			case <-p.retained.wake:
			case <-ctx.Done():
				return
			}
		}
	})
	wg.Go(func() {
		for {
			select {
			case m := <-p.stream:
				p.handle(ctx, m)
			case <-ctx.Done():
				return
			}
		}
	})
	wg.Wait()
}

// drain sends whatever is queued, used at shutdown before disconnecting.
func (p *publisher) drain(ctx context.Context) {
	for done := false; !done; {
		select {
		case m := <-p.stream:
			p.handle(ctx, m)
		default:
			done = true
		}
	}
	for m, ok := p.retained.next(); ok; m, ok = p.retained.next() {
		p.handle(ctx, m)
	}
}

// conflater queues retained messages, keeping only the newest of each
// topic.
type conflater struct {
	mu     sync.Mutex
	order  []string
	latest map[string]outMsg
	wake   chan struct{}
}

func newConflater() *conflater {
	return &conflater{latest: map[string]outMsg{}, wake: make(chan struct{}, 1)}
}

// put queues m, replacing a queued message of the same topic (a forced
// one stays forced).
func (c *conflater) put(m outMsg) {
	c.mu.Lock()
	if prev, ok := c.latest[m.topic]; ok {
		m.force = m.force || prev.force
	} else {
		c.order = append(c.order, m.topic)
	}
	c.latest[m.topic] = m
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// next takes the oldest queued topic's newest message.
func (c *conflater) next() (outMsg, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.order) == 0 {
		return outMsg{}, false
	}
	t := c.order[0]
	c.order = c.order[1:]
	m := c.latest[t]
	delete(c.latest, t)
	return m, true
}

func (p *publisher) handle(ctx context.Context, m outMsg) {
	if m.flush {
		p.sendOutbox(ctx)
		return
	}
	if !m.retain && p.pending() > 0 {
		// Keep order: older messages wait in the outbox.
		p.keep(m)
		p.sendOutbox(ctx)
		return
	}
	if m.retain && !m.force {
		if last, ok := p.last[m.topic]; ok && last == string(m.payload) {
			return
		}
	}
	if err := p.publish(ctx, m); err != nil {
		if m.retain {
			delete(p.last, m.topic)
		} else {
			p.keep(m)
		}
		p.log.Debug("publish deferred", "topic", m.topic, "err", err)
		return
	}
	if m.retain {
		p.last[m.topic] = string(m.payload)
	}
}

func (p *publisher) publish(ctx context.Context, m outMsg) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	return p.broker.Publish(ctx, m.topic, 1, m.retain, m.payload)
}

func (p *publisher) keep(m outMsg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.outbox) >= p.max {
		p.outbox = p.outbox[1:]
		p.dropped++
		p.log.Warn("outbox full, dropping oldest message", "dropped_total", p.dropped)
	}
	p.outbox = append(p.outbox, m)
}

func (p *publisher) sendOutbox(ctx context.Context) {
	for {
		p.mu.Lock()
		if len(p.outbox) == 0 {
			p.mu.Unlock()
			return
		}
		m := p.outbox[0]
		p.mu.Unlock()
		if err := p.publish(ctx, m); err != nil {
			return
		}
		p.mu.Lock()
		p.outbox = p.outbox[1:]
		p.mu.Unlock()
	}
}
