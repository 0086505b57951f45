package bridge

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/discovery"
	"github.com/sifely2mqtt/sifely2mqtt/sifely"
)

// initialSync fetches the lock list until it succeeds (with capped
// backoff), then the state and records of every lock.
func (b *Bridge) initialSync(ctx context.Context) {
	backoff := 5 * time.Second
	for {
		if b.pollLocks(ctx) {
			break
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 5*time.Minute)
	}
	b.checkBudget()
	b.pollStates(ctx)
	b.pollRecords(ctx)
}

// pollLocks refreshes the lock list: names, battery, gateway flag. New
// locks get their details and are announced; locks gone from the account
// have their retained topics cleared. It reports success.
func (b *Bridge) pollLocks(ctx context.Context) bool {
	locks, err := b.cloud.Locks(ctx)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Warn("lock list poll failed", "err", err)
			b.noteCloudError(ctx, err)
		}
		return false
	}
	now := b.opts.Now()
	seen := map[int64]bool{}
	for _, l := range locks {
		if l.ID > 0 {
			seen[l.ID] = true
		}
	}

	// Details first, of new locks and of those whose details failed
	// before: a new lock is announced only once its model and firmware
	// are known (or could not be had), so Home Assistant never sees a
	// half-described device.
	b.mu.Lock()
	var needDetail []int64
	for id := range seen {
		if m, ok := b.locks[id]; !ok || m.detail == nil {
			needDetail = append(needDetail, id)
		}
	}
	b.mu.Unlock()
	slices.Sort(needDetail)
	details := map[int64]sifely.LockDetail{}
	for _, id := range needDetail {
		detail, err := b.cloud.LockDetail(ctx, id)
		if err != nil {
			b.log.Warn("lock detail failed", "lock_id", id, "err", err)
			continue
		}
		details[id] = detail
	}

	b.mu.Lock()
	b.cloudErr = nil
	for _, l := range locks {
		if l.ID <= 0 {
			continue
		}
		m, ok := b.locks[l.ID]
		if !ok {
			m = &lockModel{battery: -1, available: true, gatewayOnline: l.HasGateway}
			if c, ok := b.store.locks[l.ID]; ok && c.LastUnlock != nil {
				lu := *c.LastUnlock
				m.lastUnlock = &lu
			}
			b.locks[l.ID] = m
			b.log.Info("lock found", "lock_id", l.ID, "alias", l.Alias)
		}
		m.info = l
		if l.Battery >= 0 {
			m.battery = l.Battery
		}
		// The cloud answered: a lock is available unless the cloud says
		// it is offline (WiFi locks) or its gateway was last seen offline.
		switch {
		case l.Online != nil:
			m.available = *l.Online
		case !l.HasGateway:
			m.available = true
		default:
			m.available = m.gatewayOnline
		}
		if d, ok := details[l.ID]; ok {
			m.detail = &d
			if d.Frozen && m.transition == "" {
				m.transition = StateJammed
				m.transitionAt = now
			}
		}
		m.lastSeen = now
		b.store.cursor(l.ID).Known = true
	}
	b.mu.Unlock()
	b.clearDeparted(ctx, seen)
	b.syncOnce.Do(func() { close(b.synced) })
	if err := b.saveStore(); err != nil {
		b.log.Error("save state", "err", err)
	}
	b.mu.Lock()
	ids := b.sortedIDs()
	b.mu.Unlock()
	for _, id := range ids {
		b.publishDiscovery(ctx, id, false)
		b.publishLock(ctx, id, false)
	}
	if b.opts.Metrics != nil {
		b.opts.Metrics.Locks.Set(float64(len(ids)))
	}
	b.publishInfo(ctx, false)
	return true
}

// departAfter is how many lock-list polls in a row must lack a lock
// before it is removed: one glitchy answer of the cloud must not wipe a
// user's devices from Home Assistant.
const departAfter = 2

// clearDeparted removes locks that are no longer on the account (seen is
// the complete current list; nil means no list yet): their retained
// discovery and states are cleared so they vanish from Home Assistant.
func (b *Bridge) clearDeparted(ctx context.Context, seen map[int64]bool) {
	if seen == nil {
		return
	}
	b.mu.Lock()
	var gone []int64
	for _, id := range b.store.knownLocks() {
		if seen[id] {
			delete(b.missing, id)
			continue
		}
		b.missing[id]++
		if b.missing[id] < departAfter {
			b.log.Warn("lock missing from the lock list; removed if still missing next time", "lock_id", id)
			continue
		}
		delete(b.missing, id)
		gone = append(gone, id)
	}
	for _, id := range gone {
		delete(b.locks, id)
		delete(b.store.locks, id)
	}
	b.mu.Unlock()
	for _, id := range gone {
		b.log.Info("lock left the account, removing it", "lock_id", id)
		b.pub.send(ctx, outMsg{topic: discovery.Topic(b.opts.DiscoveryPrefix, id), payload: nil, retain: true, force: true})
		for _, leaf := range retainedLeaves {
			b.pub.send(ctx, outMsg{topic: b.t.lock(id, leaf), payload: nil, retain: true, force: true})
		}
	}
}

// spacing returns the pause between locks within a poll.
func (b *Bridge) spacing(n int) time.Duration {
	if n <= 1 {
		return 0
	}
	return b.opts.PollSpacing
}

// pollStates reads the open state of every lock with a gateway, spread
// over time. Locks with a command in flight are skipped: the command will
// verify them.
func (b *Bridge) pollStates(ctx context.Context) {
	b.mu.Lock()
	var ids []int64
	for _, id := range b.sortedIDs() {
		m := b.locks[id]
		if m.info.HasGateway && m.inflight == nil {
			ids = append(ids, id)
		}
	}
	b.mu.Unlock()
	b.spread(ctx, ids, b.refreshState)
}

// spread calls f for each lock in turn, pausing between locks so that a
// poll's calls are spread over time rather than sent in a burst, then
// publishes bridge/info. It stops when ctx ends.
func (b *Bridge) spread(ctx context.Context, ids []int64, f func(context.Context, int64)) {
	gap := b.spacing(len(ids))
	for i, id := range ids {
		if i > 0 && gap > 0 {
			select {
			case <-time.After(gap):
			case <-ctx.Done():
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		f(ctx, id)
	}
	b.publishInfo(ctx, false)
}

// refreshState reads one lock's open state and publishes it when it is
// newer than what the bridge knows.
func (b *Bridge) refreshState(ctx context.Context, id int64) {
	asked := b.opts.Now()
	st, err := b.cloud.OpenState(ctx, id)
	if ctx.Err() != nil {
		return
	}
	b.mu.Lock()
	m, ok := b.locks[id]
	if !ok {
		b.mu.Unlock()
		return
	}
	if err != nil {
		b.mu.Unlock()
		b.log.Warn("open state poll failed", "lock_id", id, "err", err)
		b.lockError(ctx, id, err)
		return
	}
	was := m.published()
	m.observe(stateOf(st), asked)
	// Publish when the state or reachability changed; an unchanged poll
	// only refreshes last_seen, which is not worth a message.
	changed := m.published() != was || !m.available || (m.info.HasGateway && !m.gatewayOnline)
	m.available = true
	m.gatewayOnline = m.info.HasGateway
	m.lastSeen = b.opts.Now()
	b.cloudErr = nil
	if m.published() != was {
		b.log.Info("lock state", "lock_id", id, "state", m.published())
	}
	msgs := b.lockMessages(m)
	b.mu.Unlock()
	if changed {
		for _, msg := range msgs {
			b.pub.send(ctx, msg)
		}
	}
}

// lockError updates availability after a failed call about one lock.
func (b *Bridge) lockError(ctx context.Context, id int64, err error) {
	b.mu.Lock()
	m, ok := b.locks[id]
	if !ok {
		b.mu.Unlock()
		return
	}
	avail := m.available
	switch {
	case errors.Is(err, sifely.ErrGatewayOffline), errors.Is(err, sifely.ErrLockOffline):
		m.available = false
		m.gatewayOnline = false
	case errors.Is(err, sifely.ErrGatewayBusy), errors.Is(err, sifely.ErrRateLimited),
		errors.Is(err, sifely.ErrBudgetExhausted), errors.Is(err, sifely.ErrNoGateway):
		// The cloud answered; the lock's reachability is not in question.
	default:
		m.available = false
		b.cloudErr = err
	}
	changed := avail != m.available
	msgs := b.lockMessages(m)
	b.mu.Unlock()
	if changed {
		b.log.Warn("lock unavailable", "lock_id", id, "err", err)
		for _, msg := range msgs {
			b.pub.send(ctx, msg)
		}
	}
	b.publishInfo(ctx, false)
}

// noteCloudError marks every lock unavailable when the cloud itself
// cannot be reached.
func (b *Bridge) noteCloudError(ctx context.Context, err error) {
	if errors.Is(err, sifely.ErrRateLimited) || errors.Is(err, sifely.ErrBudgetExhausted) {
		return
	}
	b.mu.Lock()
	b.cloudErr = err
	var ids []int64
	for id, m := range b.locks {
		if m.available {
			m.available = false
			ids = append(ids, id)
		}
	}
	b.mu.Unlock()
	for _, id := range ids {
		b.pub.send(ctx, outMsg{topic: b.t.lock(id, "availability"), payload: []byte("offline"), retain: true})
	}
	b.publishInfo(ctx, false)
}

// saveStore writes the store. The state is copied under the bridge's
// mutex, then encoded and written (with its fsync) outside it, so that
// neither a large state nor a slow disk delays a push or a command.
func (b *Bridge) saveStore() error {
	b.saveMu.Lock()
	defer b.saveMu.Unlock()
	b.mu.Lock()
	b.dirty = false
	b.store.prune(2 * b.opts.RecordsLookback)
	snap := b.store.snapshot()
	b.mu.Unlock()
	data, err := snap.encode()
	if err != nil || data == nil {
		return err
	}
	return writeFileAtomic(snap.path, data)
}

// markDirty asks the saver to write the store soon.
func (b *Bridge) markDirty() {
	b.mu.Lock()
	b.dirty = true
	b.mu.Unlock()
}

// runSaver writes the store every SaveInterval while it has changes, and
// refreshes bridge/info and the gauges. Disk writes stay off the
// push-to-MQTT path and few (an fsync stalls a small machine for
// milliseconds, and SD cards wear); Run saves once more at shutdown, so
// only a crash can lose the last interval's cursors.
func (b *Bridge) runSaver(ctx context.Context) {
	tick := time.NewTicker(b.opts.SaveInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			b.publishInfo(ctx, false)
			b.heartbeat.Store(b.opts.Now().UnixNano())
			if m := b.opts.Metrics; m != nil {
				m.MQTTConnected.Set(boolGauge(b.broker.Connected()))
				b.mu.Lock()
				for id, lm := range b.locks {
					m.LockAvailable.WithLabelValues(strconv.FormatInt(id, 10)).Set(boolGauge(lm.available))
				}
				b.mu.Unlock()
			}
			b.mu.Lock()
			dirty := b.dirty
			b.mu.Unlock()
			if dirty {
				if err := b.saveStore(); err != nil {
					b.log.Error("save state", "err", err)
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

func boolGauge(v bool) float64 {
	if v {
		return 1
	}
	return 0
}
