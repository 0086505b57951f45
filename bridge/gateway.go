package bridge

import (
	"context"
	"slices"
)

// gatewayChanged applies a gateway online/offline push to the locks behind
// that gateway. The lock-to-gateway map is learned from the cloud on the
// first push, off the intake path.
func (b *Bridge) gatewayChanged(ctx context.Context, gatewayID int64, online bool) {
	b.mu.Lock()
	b.gatewayState[gatewayID] = online
	var unmapped []int64
	for id, m := range b.locks {
		if _, ok := b.gatewaysOf[id]; !ok && m.info.HasGateway {
			unmapped = append(unmapped, id)
		}
	}
	b.mu.Unlock()
	b.log.Info("gateway status from push", "gateway_id", gatewayID, "online", online)
	if len(unmapped) == 0 {
		b.applyGateway(ctx, gatewayID)
		return
	}
	b.goSafe("map gateways", func() {
		for _, id := range unmapped {
			gws, err := b.cloud.Gateways(ctx, id)
			if err != nil {
				b.log.Warn("list gateways of lock", "lock_id", id, "err", err)
				continue
			}
			ids := make([]int64, 0, len(gws))
			for _, g := range gws {
				ids = append(ids, g.ID)
			}
			b.mu.Lock()
			b.gatewaysOf[id] = ids
			b.mu.Unlock()
		}
		b.applyGateway(ctx, gatewayID)
	})
}

// applyGateway sets availability and gateway connectivity of the locks
// behind a gateway: a lock is reachable when any of its gateways is online.
func (b *Bridge) applyGateway(ctx context.Context, gatewayID int64) {
	b.mu.Lock()
	var changed []int64
	for id, gws := range b.gatewaysOf {
		if !slices.Contains(gws, gatewayID) {
			continue
		}
		m, ok := b.locks[id]
		if !ok {
			continue
		}
		online := false
		for _, g := range gws {
			if st, known := b.gatewayState[g]; !known || st {
				online = true
			}
		}
		if m.gatewayOnline != online || m.available != online {
			m.gatewayOnline = online
			m.available = online
			changed = append(changed, id)
		}
	}
	var msgs []outMsg
	for _, id := range changed {
		msgs = append(msgs, b.lockMessages(b.locks[id])...)
	}
	b.mu.Unlock()
	for _, msg := range msgs {
		b.pub.send(ctx, msg)
	}
}
