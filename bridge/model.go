package bridge

import (
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
)

// Lock states as published on <base>/<id>/state.
const (
	StateLocked    = "LOCKED"
	StateUnlocked  = "UNLOCKED"
	StateLocking   = "LOCKING"
	StateUnlocking = "UNLOCKING"
	StateJammed    = "JAMMED"
	StateUnknown   = "None"
)

// stateOf maps a cloud open state to a published state.
func stateOf(s sifely.OpenState) string {
	switch s {
	case sifely.StateLocked:
		return StateLocked
	case sifely.StateUnlocked:
		return StateUnlocked
	default:
		return StateUnknown
	}
}

// unlockInfo is the last unlock of a lock.
type unlockInfo struct {
	Time    time.Time `json:"time"`
	User    string    `json:"user"`
	Method  string    `json:"method"`
	Success bool      `json:"success"`
	Source  string    `json:"source"`
}

// lockModel is what the bridge knows of one lock. It is guarded by the
// bridge's mutex.
type lockModel struct {
	info   sifely.Lock
	detail *sifely.LockDetail

	// confirmed is the last state the cloud confirmed and observedAt the
	// time of that observation; an older observation never replaces it.
	confirmed  string
	observedAt time.Time

	// transition is LOCKING or UNLOCKING while a command runs, JAMMED after
	// a command whose outcome is unknown; "" otherwise.
	transition   string
	transitionAt time.Time

	battery    int // -1 unknown
	lastUnlock *unlockInfo
	lastSeen   time.Time

	available     bool
	gatewayOnline bool

	inflight *command
}

// published returns the state to publish: a transition wins over the
// confirmed state.
func (m *lockModel) published() string {
	if m.transition != "" {
		return m.transition
	}
	if m.confirmed == "" {
		return StateUnknown
	}
	return m.confirmed
}

// observe records a state the cloud reported at time at. It reports
// whether the observation was taken; an observation older than the current
// one, or one that says nothing (unknown), is ignored.
func (m *lockModel) observe(state string, at time.Time) bool {
	if state != StateLocked && state != StateUnlocked {
		return false
	}
	if at.Before(m.observedAt) {
		return false
	}
	m.confirmed = state
	m.observedAt = at
	if m.transition == StateJammed && at.After(m.transitionAt) {
		m.transition = ""
	}
	return true
}
