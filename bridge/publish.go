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

// publisher sends messages to the broker from one goroutine, in the order
// they were queued. Retained messages that cannot be sent are dropped: the
// bridge republishes every retained state from its model on reconnect.
// Non-retained messages (events, results) wait in a bounded outbox and are
// sent, in order, once the broker is back.
type publisher struct {
	broker  Broker
	log     *slog.Logger
	timeout time.Duration
	queue   chan outMsg
	max     int

	mu      sync.Mutex
	outbox  []outMsg
	dropped int64

	// last holds the payload last published on each retained topic, so an
	// unchanged state is not sent again (only the publishing goroutine
	// touches it).
	last map[string]string
}

func newPublisher(b Broker, log *slog.Logger, outboxSize int) *publisher {
	return &publisher{
		broker:  b,
		log:     log,
		timeout: 10 * time.Second,
		queue:   make(chan outMsg, 4096),
		max:     outboxSize,
		last:    map[string]string{},
	}
}

// send queues a message. It blocks only when the queue is full.
func (p *publisher) send(ctx context.Context, m outMsg) {
	select {
	case p.queue <- m:
	case <-ctx.Done():
	}
}

// flushOutbox asks the publishing goroutine to send the outbox.
func (p *publisher) flushOutbox(ctx context.Context) { p.send(ctx, outMsg{flush: true}) }

// pending returns how many messages wait in the outbox.
func (p *publisher) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.outbox)
}

// run publishes until ctx ends, then drains what is queued with a short
// deadline so that shutdown messages still go out.
func (p *publisher) run(ctx context.Context) {
	for {
		select {
		case m := <-p.queue:
			p.handle(ctx, m)
		case <-ctx.Done():
			return
		}
	}
}

// drain sends whatever is queued, used at shutdown before disconnecting.
func (p *publisher) drain(ctx context.Context) {
	for {
		select {
		case m := <-p.queue:
			p.handle(ctx, m)
		default:
			return
		}
	}
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
		if !m.retain {
			p.keep(m)
		}
		delete(p.last, m.topic)
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
