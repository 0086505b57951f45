package sifely

// Event types a record becomes on the bridge's activity entity.
const (
	EventUnlocked     = "unlocked"
	EventLocked       = "locked"
	EventUnlockFailed = "unlock_failed"
	EventLockFailed   = "lock_failed"
	EventTamper       = "tamper"
	EventForcedUnlock = "forced_unlock"
	EventLockout      = "lockout"
	EventDoorOpened   = "door_opened"
	EventDoorClosed   = "door_closed"
	EventLowBattery   = "low_battery"
	EventOther        = "other"
)

// EventTypes lists every event type Describe and the bridge can produce.
var EventTypes = []string{
	EventUnlocked, EventLocked, EventUnlockFailed, EventLockFailed,
	EventTamper, EventForcedUnlock, EventLockout, EventDoorOpened,
	EventDoorClosed, EventLowBattery, EventOther,
}

// RecordMeaning says what a cloud record type means for the lock.
type RecordMeaning struct {
	Method string    // how: "passcode", "remote", "auto_lock", ...; "" for alarms
	Event  string    // one of EventTypes, for a successful record
	State  OpenState // StateLocked or StateUnlocked, or StateUnknown when it says nothing about the bolt
	Unlock bool      // true when a successful record of this type is an unlock
}

// recordMeanings maps cloud recordType to its meaning (sifely-api.md 3.8).
var recordMeanings = map[int]RecordMeaning{
	1:  {Method: "app", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	4:  {Method: "passcode", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	7:  {Method: "ic_card", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	8:  {Method: "fingerprint", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	9:  {Method: "wristband", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	10: {Method: "mechanical_key", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	11: {Method: "app", Event: EventLocked, State: StateLocked},
	12: {Method: "remote", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	29: {Event: EventForcedUnlock, State: StateUnknown},
	30: {Method: "door_sensor", Event: EventDoorClosed, State: StateUnknown},
	31: {Method: "door_sensor", Event: EventDoorOpened, State: StateUnknown},
	32: {Method: "inside", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	33: {Method: "fingerprint", Event: EventLocked, State: StateLocked},
	34: {Method: "passcode", Event: EventLocked, State: StateLocked},
	35: {Method: "ic_card", Event: EventLocked, State: StateLocked},
	36: {Method: "mechanical_key", Event: EventLocked, State: StateLocked},
	37: {Method: "remote_control", Event: EventOther, State: StateUnknown},
	44: {Event: EventTamper, State: StateUnknown},
	45: {Method: "auto_lock", Event: EventLocked, State: StateLocked},
	46: {Method: "unlock_button", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	47: {Method: "lock_button", Event: EventLocked, State: StateLocked},
	48: {Event: EventLockout, State: StateUnknown},
	49: {Method: "hotel_card", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	50: {Method: "high_temperature", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	51: {Method: "ic_card", Event: EventUnlockFailed, State: StateUnknown},
	52: {Method: "app", Event: EventOther, State: StateUnknown},
	53: {Method: "passcode", Event: EventOther, State: StateUnknown},
	55: {Method: "key_fob", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	57: {Method: "qr_code", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	59: {Method: "double_lock", Event: EventOther, State: StateUnknown},
	60: {Method: "double_lock", Event: EventOther, State: StateUnknown},
	61: {Method: "qr_code", Event: EventLocked, State: StateLocked},
	63: {Method: "passage_mode", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	-4: {Method: "qr_code", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
	-5: {Method: "face", Event: EventUnlocked, State: StateUnlocked, Unlock: true},
}

// Describe returns the meaning of a cloud recordType. Unknown types are
// EventOther with no state effect.
func Describe(recordType int) RecordMeaning {
	if m, ok := recordMeanings[recordType]; ok {
		return m
	}
	return RecordMeaning{Method: "unknown", Event: EventOther, State: StateUnknown}
}

// Outcome is what a record means once its success flag is taken into
// account: a failed unlock or lock never changes state and becomes a
// failure event.
func (r Record) Outcome() RecordMeaning {
	m := Describe(r.Type)
	if r.Success {
		return m
	}
	switch m.Event {
	case EventUnlocked:
		m.Event = EventUnlockFailed
	case EventLocked:
		m.Event = EventLockFailed
	}
	m.State = StateUnknown
	m.Unlock = false
	return m
}
