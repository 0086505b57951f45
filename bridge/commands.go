package bridge

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
)

// Command actions.
const (
	actionLock   = "lock"
	actionUnlock = "unlock"
)

// commandRequest is one decoded <base>/<id>/set message.
type commandRequest struct {
	Action string
	ID     string
	Code   string
}

// maxCommandPayload bounds a command payload; anything larger is refused.
const maxCommandPayload = 1024

// errBadPayload marks a command payload that cannot be understood.
var errBadPayload = errors.New("bad payload")

// parseCommand decodes a command payload: LOCK / UNLOCK (any case) or JSON
// {"action":"unlock","id":"…","code":"…"}.
func parseCommand(payload []byte) (commandRequest, error) {
	if len(payload) > maxCommandPayload {
		return commandRequest{}, fmt.Errorf("%w: %d bytes, at most %d", errBadPayload, len(payload), maxCommandPayload)
	}
	s := strings.TrimSpace(string(payload))
	if strings.HasPrefix(s, "{") {
		var raw struct {
			Action *string         `json:"action"`
			ID     json.RawMessage `json:"id"`
			Code   json.RawMessage `json:"code"`
		}
		if err := json.Unmarshal([]byte(s), &raw); err != nil {
			return commandRequest{}, fmt.Errorf("%w: invalid JSON", errBadPayload)
		}
		if raw.Action == nil {
			return commandRequest{}, fmt.Errorf("%w: missing action", errBadPayload)
		}
		req := commandRequest{ID: scalarString(raw.ID), Code: scalarString(raw.Code)}
		act, err := normaliseAction(*raw.Action)
		if err != nil {
			return req, err
		}
		req.Action = act
		if len(req.ID) > 128 {
			req.ID = req.ID[:128]
		}
		return req, nil
	}
	act, err := normaliseAction(s)
	return commandRequest{Action: act}, err
}

// scalarString turns a JSON string or number into a string; other JSON
// values become "".
func scalarString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String()
	}
	return ""
}

func normaliseAction(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "lock":
		return actionLock, nil
	case "unlock":
		return actionUnlock, nil
	case "open":
		return "", fmt.Errorf("%w: OPEN is not supported, use UNLOCK", errBadPayload)
	}
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return "", fmt.Errorf("%w: unknown action %q (want LOCK or UNLOCK)", errBadPayload, s)
}

// command is one command in flight for a lock; later identical commands
// coalesce into it and get its outcome.
type command struct {
	action   string
	ids      []string // request ids to answer
	received []time.Time
}

// result is the JSON of <base>/<id>/result.
type result struct {
	ID        string `json:"id,omitempty"`
	LockID    int64  `json:"lock_id"`
	Action    string `json:"action"`
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
	Message   string `json:"message,omitempty"`
	State     string `json:"state,omitempty"`
	LatencyMS int64  `json:"latency_ms"`
	Coalesced bool   `json:"coalesced,omitempty"`
}

// Error classes of results, also used for metrics and bridge/info.
const (
	errClassRetained       = "retained_ignored"
	errClassBadPayload     = "bad_payload"
	errClassUnknownLock    = "unknown_lock"
	errClassUnlockDisabled = "unlock_disabled"
	errClassBadCode        = "bad_code"
	errClassBusy           = "busy"
	errClassShutdown       = "shutdown"
)

// errorClass names a cloud error for results and info.
func errorClass(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, sifely.ErrGatewayBusy):
		return "gateway_busy"
	case errors.Is(err, sifely.ErrGatewayOffline):
		return "gateway_offline"
	case errors.Is(err, sifely.ErrNoGateway):
		return "no_gateway"
	case errors.Is(err, sifely.ErrRemoteUnlockDisabled):
		return "remote_unlock_disabled"
	case errors.Is(err, sifely.ErrFrozen):
		return "frozen"
	case errors.Is(err, sifely.ErrLockNotFound):
		return "lock_not_found"
	case errors.Is(err, sifely.ErrLockOffline):
		return "lock_offline"
	case errors.Is(err, sifely.ErrRateLimited), errors.Is(err, sifely.ErrBudgetExhausted):
		return "rate_limited"
	case errors.Is(err, sifely.ErrUnauthorized), errors.Is(err, sifely.ErrBadCredentials), errors.Is(err, sifely.ErrPaymentRequired):
		return "unauthorized"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return errClassShutdown
	}
	return "cloud_error"
}

// notRun reports whether err proves the cloud did not run the command, so
// the last confirmed state still holds.
func notRun(err error) bool {
	for _, e := range []error{
		sifely.ErrGatewayBusy, sifely.ErrGatewayOffline, sifely.ErrNoGateway,
		sifely.ErrRemoteUnlockDisabled, sifely.ErrLockNotFound, sifely.ErrLockOffline,
		sifely.ErrRateLimited, sifely.ErrBudgetExhausted, sifely.ErrUnauthorized,
		sifely.ErrBadCredentials, sifely.ErrPaymentRequired,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// lockIDFromTopic extracts <id> from <base>/<id>/set.
func (b *Bridge) lockIDFromTopic(topic string) (int64, bool) {
	rest, ok := strings.CutPrefix(topic, b.opts.BaseTopic+"/")
	if !ok {
		return 0, false
	}
	idStr, ok := strings.CutSuffix(rest, "/set")
	if !ok || strings.Contains(idStr, "/") {
		return 0, false
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

// onCommand handles <base>/+/set. It never blocks: the cloud call runs in
// a goroutine of its own.
func (b *Bridge) onCommand(m Message) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("panic in command handler", "panic", r, "stack", stack())
		}
	}()
	received := b.opts.Now()
	id, ok := b.lockIDFromTopic(m.Topic)
	if !ok {
		b.log.Warn("command on a topic that names no lock", "topic", m.Topic)
		return
	}
	log := b.log.With("lock_id", id)
	// An empty message is what clears a retained command: nothing to do.
	if len(strings.TrimSpace(string(m.Payload))) == 0 {
		log.Debug("empty command ignored", "topic", m.Topic)
		return
	}
	// Rule 1: a retained command is a replay of the past; never act on it.
	// It is cleared from the broker so that it cannot be replayed again.
	if m.Retained {
		log.Warn("retained command ignored and cleared", "topic", m.Topic)
		b.pub.send(b.ctx, outMsg{topic: m.Topic, payload: nil, retain: true, force: true})
		b.refuse(result{LockID: id, Error: errClassRetained, Message: "retained commands are never executed"}, received)
		return
	}
	req, err := parseCommand(m.Payload)
	if err != nil {
		log.Warn("bad command payload", "err", err)
		b.refuse(result{LockID: id, ID: req.ID, Action: req.Action, Error: errClassBadPayload, Message: err.Error()}, received)
		return
	}
	settings := b.opts.Locks[id]
	res := result{LockID: id, ID: req.ID, Action: req.Action}

	b.mu.Lock()
	lm, known := b.locks[id]
	switch {
	case !known:
		b.mu.Unlock()
		log.Warn("command for a lock not on this account")
		res.Error = errClassUnknownLock
		b.refuse(res, received)
		return
	case req.Action == actionUnlock && settings.DenyUnlock:
		b.mu.Unlock()
		log.Warn("unlock refused: lock is read-only in the config")
		res.Error = errClassUnlockDisabled
		b.refuse(res, received)
		return
	case req.Action == actionUnlock && !settings.Code.IsZero() &&
		subtle.ConstantTimeCompare([]byte(req.Code), []byte(settings.Code.Reveal())) != 1:
		b.mu.Unlock()
		log.Warn("unlock refused: wrong or missing code")
		res.Error = errClassBadCode
		b.refuse(res, received)
		return
	case lm.inflight != nil && lm.inflight.action == req.Action:
		// Rule 2: duplicates coalesce into the command in flight.
		lm.inflight.ids = append(lm.inflight.ids, req.ID)
		lm.inflight.received = append(lm.inflight.received, received)
		b.mu.Unlock()
		log.Info("command coalesced with the one in flight", "action", req.Action)
		return
	case lm.inflight != nil:
		b.mu.Unlock()
		log.Warn("command refused: another command is in flight", "action", req.Action, "in_flight", lm.inflight.action)
		res.Error = errClassBusy
		res.Message = "a " + lm.inflight.action + " command is in flight"
		b.refuse(res, received)
		return
	}
	cmd := &command{action: req.Action, ids: []string{req.ID}, received: []time.Time{received}}
	lm.inflight = cmd
	if req.Action == actionUnlock {
		lm.transition = StateUnlocking
	} else {
		lm.transition = StateLocking
	}
	lm.transitionAt = received
	msgs := []outMsg{{topic: b.t.lock(id, "state"), payload: []byte(lm.transition), retain: true}}
	b.mu.Unlock()

	log.Info("command", "action", req.Action)
	ctx := b.ctx
	for _, msg := range msgs {
		b.pub.send(ctx, msg)
	}
	b.goSafe("command", func() { b.execute(ctx, id, cmd) })
}

// execute sends one command to the cloud and settles the state.
func (b *Bridge) execute(ctx context.Context, id int64, cmd *command) {
	log := b.log.With("lock_id", id, "action", cmd.action)
	cctx, cancel := context.WithTimeout(ctx, b.opts.CommandTimeout)
	defer cancel()
	start := b.opts.Now()
	var err error
	if cmd.action == actionUnlock {
		err = b.cloud.Unlock(cctx, id)
	} else {
		err = b.cloud.Lock(cctx, id)
	}
	done := b.opts.Now()

	b.mu.Lock()
	lm, ok := b.locks[id]
	if !ok {
		b.mu.Unlock()
		return
	}
	lm.inflight = nil
	state := ""
	switch {
	case err == nil:
		lm.transition = ""
		if cmd.action == actionUnlock {
			lm.observe(StateUnlocked, done)
		} else {
			lm.observe(StateLocked, done)
		}
		lm.available = true
		lm.lastSeen = done
		b.cloudErr = nil
	case notRun(err):
		// The cloud said it did not run the command: the last confirmed
		// state still holds.
		lm.transition = ""
		if errors.Is(err, sifely.ErrGatewayOffline) || errors.Is(err, sifely.ErrLockOffline) {
			lm.available = false
			lm.gatewayOnline = false
		}
	default:
		// Frozen, timeout, 5xx, malformed answer: the outcome is unknown or
		// the lock cannot move. Say so until the cloud tells otherwise.
		lm.transition = StateJammed
		lm.transitionAt = done
	}
	state = lm.published()
	msgs := b.lockMessages(lm)
	b.mu.Unlock()

	for _, msg := range msgs {
		b.pub.send(ctx, msg)
	}
	latency := done.Sub(start)
	class := errorClass(err)
	if err != nil {
		log.Warn("command failed", "err", err, "class", class, "latency_ms", latency.Milliseconds())
	} else {
		log.Info("command done", "state", state, "latency_ms", latency.Milliseconds())
	}
	if b.opts.Metrics != nil {
		r := "ok"
		if err != nil {
			r = class
		}
		b.opts.Metrics.CommandsTotal.WithLabelValues(cmd.action, r).Inc()
		b.opts.Metrics.CommandLatency.WithLabelValues(cmd.action).Observe(latency.Seconds())
	}
	for i, reqID := range cmd.ids {
		res := result{ID: reqID, LockID: id, Action: cmd.action, OK: err == nil, Error: class, State: state, Coalesced: i > 0}
		if err != nil {
			res.Message = publicMessage(err)
		}
		b.sendResult(res, cmd.received[i])
	}
	b.publishInfo(ctx, false)

	// Verify with a fresh read of the open state, unless the command
	// proved the gateway unreachable.
	if ctx.Err() == nil && (err == nil || !notRun(err)) {
		select {
		case <-time.After(b.opts.VerifyDelay):
		case <-ctx.Done():
			return
		}
		b.refreshState(ctx, id)
	}
}

// publicMessage is an error text safe to publish: the cloud's code and
// message, never a request URL or token.
func publicMessage(err error) string {
	var apiErr *sifely.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Error()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer from the cloud before the command deadline"
	case errors.Is(err, context.Canceled):
		return "bridge shutting down"
	}
	for _, e := range []error{sifely.ErrGatewayBusy, sifely.ErrGatewayOffline, sifely.ErrNoGateway,
		sifely.ErrRemoteUnlockDisabled, sifely.ErrFrozen, sifely.ErrLockNotFound, sifely.ErrLockOffline,
		sifely.ErrRateLimited, sifely.ErrBudgetExhausted, sifely.ErrUnauthorized, sifely.ErrBadCredentials,
		sifely.ErrPaymentRequired, sifely.ErrMalformedResponse} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "cloud error"
}

// sendResult publishes a command result (never retained).
func (b *Bridge) sendResult(r result, received time.Time) {
	if r.Error != "" {
		r.OK = false
	}
	r.LatencyMS = b.opts.Now().Sub(received).Milliseconds()
	payload, _ := json.Marshal(r)
	b.pub.send(b.ctx, outMsg{topic: b.t.lock(r.LockID, "result"), payload: payload})
}

// refuse answers a command the bridge itself turned down (never sent to
// the cloud) and counts it; commands that reached the cloud are counted by
// execute, once however many requests coalesced.
func (b *Bridge) refuse(r result, received time.Time) {
	if b.opts.Metrics != nil {
		b.opts.Metrics.CommandsTotal.WithLabelValues(r.Action, r.Error).Inc()
	}
	b.sendResult(r, received)
}

func stack() string { return string(debug.Stack()) }
