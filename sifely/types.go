package sifely

import "time"

// OpenState is a lock's bolt position as the cloud reports it.
type OpenState int

// Open states as /v3/lock/queryOpenState reports them.
const (
	StateLocked   OpenState = 0
	StateUnlocked OpenState = 1
	StateUnknown  OpenState = 2
)

// String returns "locked", "unlocked" or "unknown".
func (s OpenState) String() string {
	switch s {
	case StateLocked:
		return "locked"
	case StateUnlocked:
		return "unlocked"
	default:
		return "unknown"
	}
}

// Lock is one lock on the account, merged from the owner lock list
// (/v3/lock/list) and the ekey list (/v3/key/list). Secret fields of the
// cloud's answer (lockData, noKeyPwd) are dropped.
type Lock struct {
	ID           int64
	Name         string // BLE name, e.g. "M102_ed8e8d"
	Alias        string // the name the user gave it
	MAC          string
	Battery      int  // percent; -1 when unknown
	HasGateway   bool // reachable through a gateway (or a WiFi lock)
	FeatureValue string
	GroupID      int64
	GroupName    string
	// Online is the WiFi lock's isOnline flag; nil when the cloud did not say.
	Online *bool
	// RemoteEnable is the ekey's remoteEnable: 1 allowed, 2 not, 0 unknown.
	RemoteEnable int
	// Owner is true when the lock came from the owner lock list.
	Owner bool
}

// LockDetail is /v3/lock/detail without its secret fields.
type LockDetail struct {
	Lock
	ModelNum          string
	HardwareRevision  string
	FirmwareRevision  string
	TimezoneRawOffset int64 // milliseconds
	AutoLockTime      int   // seconds; 0 or -1 off
	PassageMode       int   // 1 on, 2 off
	PrivacyLock       int   // 1 on, 2 off (a setting)
	TamperAlert       int   // 1 on, 2 off (a setting)
	Frozen            bool
}

// Record is one entry of a lock's history (/v3/lockRecord/list or a webhook
// push). The credential used (keyboardPwd) is never kept.
type Record struct {
	ID           int64 // recordId; 0 for webhook pushes, which carry none
	LockID       int64
	LockMAC      string
	Type         int // cloud recordType, see Describe
	TypeFromLock int // raw lock record type
	Success      bool
	Username     string // operator or credential name, "_hash" suffix stripped
	LockDate     time.Time
	ServerDate   time.Time
	Battery      int // percent at the event; -1 when absent
}

// Gateway is one gateway a lock is attached to.
type Gateway struct {
	ID     int64
	MAC    string
	Name   string
	RSSI   int
	Online *bool
}

// Stats counts the client's use of the cloud.
type Stats struct {
	Calls          int64 // requests sent
	Errors         int64 // requests that ended in an error
	RateLimited    int64 // answers that said the rate limit was hit
	Refreshes      int64 // token refreshes
	Logins         int64 // full logins
	LastError      string
	LastErrorTime  time.Time
	LastSuccess    time.Time
	UsedLastMinute int
	UsedLastHour   int
	UsedLastDay    int
}
