package sifelytest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// gateway is a simulated gateway: single-threaded, online or not.
type gateway struct {
	id       int64
	online   bool
	busy     bool // an operation holds the gateway
	attempts int  // operations in flight, rejected ones included
}

func (g *gateway) mac() string {
	m := md5Hex("gw" + itoa(g.id))
	return strings.ToUpper(m[0:2] + ":" + m[2:4] + ":" + m[4:6] + ":" + m[6:8] + ":" + m[8:10] + ":" + m[10:12])
}

func (g *gateway) name() string { return fmt.Sprintf("G2_%06d", g.id%1000000) }

// gatewayLocked returns the gateway with id, creating it online. s.mu must
// be held.
func (s *Server) gatewayLocked(id int64) *gateway {
	g := s.gateways[id]
	if g == nil {
		g = &gateway{id: id, online: true}
		s.gateways[id] = g
	}
	return g
}

// SetGatewayOnline takes a gateway online or offline. Operations on its
// locks fail with -3002 while it is offline. With a WebhookURL, a
// notifyType 2 push reports the change.
func (s *Server) SetGatewayOnline(gatewayID int64, online bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gatewayLocked(gatewayID)
	if g.online == online {
		return
	}
	g.online = online
	if s.opts.WebhookURL != "" {
		ct, body := gatewayPush(s.opts.WebhookStyle, g.id, g.name(), g.mac(), online)
		s.enqueueLocked(hookJob{contentType: ct, body: body})
	}
}

type gatewayOp int

const (
	opState gatewayOp = iota
	opLock
	opUnlock
)

func (s *Server) queryOpenState(x *exchange) { s.gatewayOp(x, opState) }
func (s *Server) lockCmd(x *exchange)        { s.gatewayOp(x, opLock) }
func (s *Server) unlockCmd(x *exchange)      { s.gatewayOp(x, opUnlock) }

// gatewayOp runs an open-state query or a command through the lock's
// gateway. A second operation on a gateway while one is in flight is
// refused at once with -3003. Once started, the gateway round trip runs to
// its end even when the caller stops waiting, like the real cloud's.
func (s *Server) gatewayOp(x *exchange, op gatewayOp) {
	id, ok := x.requireInt("lockId", "Long")
	if !ok {
		return
	}
	s.mu.Lock()
	l := s.locks[id]
	switch {
	case l == nil:
		s.mu.Unlock()
		x.fail(-1003, "lock does not exist")
		return
	case op != opState && l.Frozen:
		s.mu.Unlock()
		x.fail(-2025, "frozen lock, cannot operate")
		return
	case op == opUnlock && l.RemoteUnlockDisabled:
		s.mu.Unlock()
		x.fail(-4043, "function not supported for this lock")
		return
	case l.GatewayID == 0 && op == opState:
		wrap := s.wrap(id)
		s.mu.Unlock()
		x.state(StateUnknown, wrap)
		return
	case l.GatewayID == 0:
		s.mu.Unlock()
		x.fail(-2012, "lock is not connected to any gateway")
		return
	}
	g := s.gatewayLocked(l.GatewayID)
	g.attempts++
	s.maxGateway = max(s.maxGateway, g.attempts)
	if !g.online || g.busy {
		g.attempts--
		s.mu.Unlock()
		if !g.online {
			x.fail(-3002, "gateway offline")
		} else {
			x.fail(-3003, "gateway busy")
		}
		return
	}
	g.busy = true
	latency := s.opts.StateLatency
	if op != opState {
		latency = s.opts.CommandLatency
	}
	s.mu.Unlock()

	completed := s.sleep(context.Background(), latency+x.delay)

	s.mu.Lock()
	g.busy = false
	g.attempts--
	if !completed {
		s.mu.Unlock()
		return // the server is closing
	}
	l = s.locks[id]
	if l == nil {
		s.mu.Unlock()
		x.fail(-1003, "lock does not exist")
		return
	}
	if op == opState {
		st, wrap := l.State, s.wrap(id)
		s.mu.Unlock()
		x.state(st, wrap)
		return
	}
	r := RecordSpec{LockID: id, RecordType: 11, RecordTypeFromLock: 26, Success: true, Username: s.appUsername()}
	if op == opUnlock {
		r.RecordType, r.RecordTypeFromLock = 12, 28
	}
	s.addRecordLocked(r)
	s.mu.Unlock()
	x.ok()
}

func (x *exchange) state(st int, wrap bool) {
	d := map[string]any{"state": st}
	if wrap {
		x.wrapped(d)
		return
	}
	x.json(http.StatusOK, d)
}

// appUsername is the operator name the cloud records for app and gateway
// operations: the account's name with a hash suffix.
func (s *Server) appUsername() string {
	name, _, _ := strings.Cut(s.opts.Account, "@")
	if name == "" {
		name = "admin"
	}
	return name + "_" + md5Hex(s.opts.Account)[:8]
}

// gatewayList serves GET /v3/gateway/listByLock.
func (s *Server) gatewayList(x *exchange) {
	id, ok := x.requireInt("lockId", "Long")
	if !ok {
		return
	}
	s.mu.Lock()
	l := s.locks[id]
	if l == nil {
		s.mu.Unlock()
		x.fail(-1003, "lock does not exist")
		return
	}
	list := []any{}
	if l.GatewayID != 0 {
		g := s.gatewayLocked(l.GatewayID)
		list = append(list, map[string]any{
			"gatewayId":      g.id,
			"gatewayMac":     g.mac(),
			"gatewayName":    g.name(),
			"rssi":           -62,
			"rssiUpdateDate": s.now().UnixMilli(),
			"isOnline":       boolInt(g.online),
		})
	}
	s.mu.Unlock()
	x.json(http.StatusOK, map[string]any{"list": list})
}
