package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
)

// Sources of a record.
const (
	sourcePoll    = "poll"
	sourceWebhook = "webhook"
)

// lowBatteryPercent is the level below which a low_battery event fires.
const lowBatteryPercent = 20

// event is the JSON of <base>/<id>/event.
type event struct {
	EventType  string `json:"event_type"`
	Method     string `json:"method,omitempty"`
	User       string `json:"user,omitempty"`
	Time       string `json:"time"`
	Success    bool   `json:"success"`
	Source     string `json:"source"`
	RecordType int    `json:"record_type,omitempty"`
	Battery    *int   `json:"battery,omitempty"`
}

// fingerprint identifies a record whether it came by push (no recordId) or
// by poll.
func fingerprint(r sifely.Record) string {
	return fmt.Sprintf("%d|%d|%d|%s|%t", r.LockID, r.LockDate.UnixMilli(), r.Type, r.Username, r.Success)
}

// pollRecords runs the records catch-up for every lock, spread over time.
func (b *Bridge) pollRecords(ctx context.Context) {
	b.mu.Lock()
	ids := b.sortedIDs()
	b.mu.Unlock()
	b.spread(ctx, ids, b.pollRecordsFor)
}

// pollRecordsFor fetches one lock's records since its cursor and handles
// those not seen before.
func (b *Bridge) pollRecordsFor(ctx context.Context, id int64) {
	b.mu.Lock()
	c := b.store.cursor(id)
	since := time.Time{}
	primed := c.Primed
	if c.Cursor > 0 {
		since = time.UnixMilli(c.Cursor).Add(-b.opts.RecordsLookback)
	} else {
		since = b.opts.Now().Add(-24 * time.Hour)
	}
	b.mu.Unlock()
	recs, err := b.cloud.Records(ctx, id, since)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Warn("records poll failed", "lock_id", id, "err", err)
			b.lockError(ctx, id, err)
		}
		return
	}
	b.cloudAnswered(ctx, id)
	if !primed {
		b.prime(ctx, id, recs)
		return
	}
	b.handleRecords(ctx, id, recs, sourcePoll)
}

// prime marks a lock's existing history as seen on the first poll, so
// that a first start (or a lost state dir) does not replay it as events.
// The newest unlock still becomes last_unlock.
func (b *Bridge) prime(ctx context.Context, id int64, recs []sifely.Record) {
	sortOldestFirst(recs)
	b.mu.Lock()
	c := b.store.cursor(id)
	var fresh []sifely.Record
	m := b.locks[id]
	for _, r := range recs {
		fp := fingerprint(r)
		if _, ok := c.Seen[fp]; ok {
			continue
		}
		// Records of the bridge's own lifetime that no push delivered yet
		// are news, not history.
		if !b.started.IsZero() && !r.ServerDate.Before(b.started) {
			fresh = append(fresh, r)
			continue
		}
		c.Seen[fp] = r.LockDate.UnixMilli()
		if r.LockDate.UnixMilli() > c.Cursor {
			c.Cursor = r.LockDate.UnixMilli()
		}
		if m != nil {
			b.applyRecord(m, r, sourcePoll)
		}
	}
	c.Primed = true
	var msgs []outMsg
	if m != nil {
		msgs = b.lockMessages(m)
		if m.lastUnlock != nil {
			lu := *m.lastUnlock
			c.LastUnlock = &lu
		}
	}
	b.mu.Unlock()
	for _, msg := range msgs {
		b.pub.send(ctx, msg)
	}
	if len(fresh) > 0 {
		b.handleRecords(ctx, id, fresh, sourcePoll)
	}
	b.markDirty()
}

func sortOldestFirst(recs []sifely.Record) {
	sort.SliceStable(recs, func(i, j int) bool {
		if !recs[i].LockDate.Equal(recs[j].LockDate) {
			return recs[i].LockDate.Before(recs[j].LockDate)
		}
		return recs[i].ID < recs[j].ID
	})
}

// handleRecords publishes the records not seen before, oldest first: an
// event each, and the lock's last unlock, state and battery.
func (b *Bridge) handleRecords(ctx context.Context, id int64, recs []sifely.Record, source string) {
	if source == sourcePoll {
		sortOldestFirst(recs)
	}
	b.mu.Lock()
	m, ok := b.locks[id]
	if !ok {
		b.mu.Unlock()
		return
	}
	c := b.store.cursor(id)
	var msgs []outMsg
	for _, r := range recs {
		fp := fingerprint(r)
		if _, dup := c.Seen[fp]; dup {
			continue
		}
		c.Seen[fp] = r.LockDate.UnixMilli()
		if r.LockDate.UnixMilli() > c.Cursor {
			c.Cursor = r.LockDate.UnixMilli()
		}
		wasBattery := m.battery
		b.applyRecord(m, r, source)
		msgs = append(msgs, b.eventMessage(id, r, source))
		if wasBattery >= lowBatteryPercent && m.battery >= 0 && m.battery < lowBatteryPercent {
			bat := m.battery
			payload, _ := json.Marshal(event{EventType: sifely.EventLowBattery, Time: isoTime(r.LockDate), Success: true, Source: source, Battery: &bat})
			msgs = append(msgs, outMsg{topic: b.t.lock(id, "event"), payload: payload})
		}
	}
	if len(msgs) > 0 {
		m.lastSeen = b.opts.Now()
		// Events first: they are what automations wait for; the retained
		// state follows.
		msgs = append(msgs, b.lockMessages(m)...)
		if m.lastUnlock != nil {
			lu := *m.lastUnlock
			c.LastUnlock = &lu
		}
	}
	b.mu.Unlock()
	if len(msgs) == 0 {
		return
	}
	for _, msg := range msgs {
		b.pub.send(ctx, msg)
	}
	b.markDirty()
}

// applyRecord updates the model from one record. Call with b.mu held.
func (b *Bridge) applyRecord(m *lockModel, r sifely.Record, source string) {
	out := r.Outcome()
	if out.Unlock && (m.lastUnlock == nil || !r.LockDate.Before(m.lastUnlock.Time)) {
		m.lastUnlock = &unlockInfo{Time: r.LockDate, User: r.Username, Method: out.Method, Success: true, Source: source}
	}
	if out.State == sifely.StateLocked || out.State == sifely.StateUnlocked {
		m.observe(stateOf(out.State), r.LockDate)
	}
	if recordBattery(r) {
		m.battery = r.Battery
	}
}

// eventMessage builds the activity event of a record.
func (b *Bridge) eventMessage(id int64, r sifely.Record, source string) outMsg {
	out := r.Outcome()
	e := event{
		EventType:  out.Event,
		Method:     out.Method,
		User:       r.Username,
		Time:       isoTime(r.LockDate),
		Success:    r.Success,
		Source:     source,
		RecordType: r.Type,
	}
	if recordBattery(r) {
		bat := r.Battery
		e.Battery = &bat
	}
	if b.opts.Metrics != nil {
		b.opts.Metrics.EventsPublished.WithLabelValues(e.EventType).Inc()
	}
	payload, _ := json.Marshal(e)
	return outMsg{topic: b.t.lock(id, "event"), payload: payload}
}

// HandleNotification takes one webhook push and queues it for the bridge;
// it blocks only while the queue is full. A push never causes a command
// (DESIGN.md rule 5): it only updates what the bridge publishes.
//
// Pushes that arrive before Run, or before the first lock list is known,
// wait in the queue: none is lost to start-up order.
func (b *Bridge) HandleNotification(n sifely.Notification) {
	select {
	case b.intake <- n:
	case <-b.stopped:
	}
}

// runIntake handles queued pushes in arrival order until ctx ends. It
// starts once the lock list is known, so that a push for a lock of this
// account is never taken for a foreign one.
func (b *Bridge) runIntake(ctx context.Context) {
	select {
	case <-b.synced:
	case <-ctx.Done():
		return
	}
	for {
		select {
		case n := <-b.intake:
			b.handleNotification(ctx, n)
		case <-ctx.Done():
			return
		}
	}
}

// handleNotification applies one push. Pushes for locks not on this
// account are ignored.
func (b *Bridge) handleNotification(ctx context.Context, n sifely.Notification) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("panic handling push", "panic", r, "stack", stack())
		}
	}()
	switch n.NotifyType {
	case sifely.NotifyRecords:
		byLock := map[int64][]sifely.Record{}
		var order []int64
		for _, r := range n.Records {
			if r.LockID == 0 {
				r.LockID = n.LockID
			}
			if _, ok := byLock[r.LockID]; !ok {
				order = append(order, r.LockID)
			}
			byLock[r.LockID] = append(byLock[r.LockID], r)
		}
		for _, id := range order {
			if !b.hasLock(id) {
				b.log.Warn("webhook push for a lock not on this account ignored", "lock_id", id)
				continue
			}
			b.handleRecords(ctx, id, byLock[id], sourceWebhook)
			b.scheduleRecordsPoll(id)
		}
	case sifely.NotifyGateway:
		if n.Gateway != nil {
			b.gatewayChanged(ctx, n.Gateway.ID, n.Gateway.Online)
		}
	case sifely.NotifyWiFiLock:
		if n.Online != nil && b.hasLock(n.LockID) {
			b.setAvailable(ctx, n.LockID, *n.Online)
		}
	default:
		b.log.Info("webhook push of an unhandled type ignored", "notify_type", n.NotifyType)
	}
}

func (b *Bridge) hasLock(id int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.locks[id]
	return ok
}

// scheduleRecordsPoll runs a records poll for the lock shortly after a
// push, to confirm it and pick up records the push missed. Pushes in a
// burst share one poll.
func (b *Bridge) scheduleRecordsPoll(id int64) {
	b.mu.Lock()
	if b.recordsNow[id] {
		b.mu.Unlock()
		return
	}
	b.recordsNow[id] = true
	b.mu.Unlock()
	b.goSafe("records follow-up", func() {
		defer func() {
			b.mu.Lock()
			delete(b.recordsNow, id)
			b.mu.Unlock()
		}()
		select {
		case <-time.After(b.opts.PushFollowUp):
		case <-b.ctx.Done():
			return
		}
		b.pollRecordsFor(b.ctx, id)
	})
}

// setAvailable sets one lock's availability from a push.
func (b *Bridge) setAvailable(ctx context.Context, id int64, online bool) {
	b.mu.Lock()
	m, ok := b.locks[id]
	if !ok {
		b.mu.Unlock()
		return
	}
	m.available = online
	m.gatewayOnline = online && m.info.HasGateway
	msgs := b.lockMessages(m)
	b.mu.Unlock()
	b.log.Info("lock availability from push", "lock_id", id, "online", online)
	for _, msg := range msgs {
		b.pub.send(ctx, msg)
	}
}

// recordBattery reports whether a record carries a battery level. A lock
// at 0 % cannot write records, so 0 means the field was empty or absent.
func recordBattery(r sifely.Record) bool { return r.Battery > 0 && r.Battery <= 100 }

// cloudAnswered marks a lock without a gateway available again after a
// successful call about it: for such a lock, reaching the cloud is all
// availability means. (Locks with a gateway recover through their state
// poll, which also proves the gateway.)
func (b *Bridge) cloudAnswered(ctx context.Context, id int64) {
	b.mu.Lock()
	m, ok := b.locks[id]
	if !ok || m.available || m.info.HasGateway {
		b.mu.Unlock()
		return
	}
	m.available = true
	msgs := b.lockMessages(m)
	b.mu.Unlock()
	b.log.Info("lock available again", "lock_id", id)
	for _, msg := range msgs {
		b.pub.send(ctx, msg)
	}
}
