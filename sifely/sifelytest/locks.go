package sifelytest

import (
	"net/http"
	"slices"
	"strings"
)

// Lock open states as queryOpenState reports them.
const (
	StateLocked   = 0
	StateUnlocked = 1
	StateUnknown  = 2
)

// LockSpec describes a simulated lock.
type LockSpec struct {
	ID                        int64
	Alias, Name, MAC          string
	Battery                   int
	GatewayID                 int64 // 0 = no gateway: remote ops → -2012, open state → {"state":2}
	State                     int   // 0 locked, 1 unlocked, 2 unknown
	RemoteUnlockDisabled      bool  // unlock → -4043
	Frozen                    bool  // lock/unlock → -2025
	Shared                    bool  // only in /v3/key/list (an ekey), not in the owner's /v3/lock/list
	Model, Firmware, Hardware string
}

// featureValue is a realistic TTLock feature bitmask: bits 8 (remote lock),
// 10 (unlock via gateway) and 22 (passage mode) are set.
const featureValue = "F44D5D3F7F5"

// DemoLocks are three realistic locks: Front Door and Back Door on gateway
// 1, Garage Side Door on gateway 2.
func DemoLocks() []LockSpec {
	return []LockSpec{
		{ID: 7100001, Alias: "Front Door", Name: "S2_3d1a01", MAC: "C1:22:33:44:55:01", Battery: 87, GatewayID: 1, State: StateLocked, Model: "SS-S2", Firmware: "6.2.4.240321", Hardware: "1.3"},
		{ID: 7100002, Alias: "Back Door", Name: "S2_3d1a02", MAC: "C1:22:33:44:55:02", Battery: 64, GatewayID: 1, State: StateLocked, Model: "SS-S2", Firmware: "6.2.4.240321", Hardware: "1.3"},
		{ID: 7100003, Alias: "Garage Side Door", Name: "M102_ed8e8d", MAC: "D4:5E:6F:70:81:03", Battery: 23, GatewayID: 2, State: StateUnlocked, Model: "M102", Firmware: "5.1.8.230712", Hardware: "1.1"},
	}
}

func (s *Server) addLockLocked(l LockSpec) {
	if _, ok := s.locks[l.ID]; !ok {
		s.order = append(s.order, l.ID)
	}
	if l.Name == "" {
		l.Name = "S2_" + itoa(l.ID)
	}
	if l.Alias == "" {
		l.Alias = l.Name
	}
	if l.MAC == "" {
		m := md5Hex(itoa(l.ID))
		l.MAC = strings.ToUpper(m[0:2] + ":" + m[2:4] + ":" + m[4:6] + ":" + m[6:8] + ":" + m[8:10] + ":" + m[10:12])
	}
	s.locks[l.ID] = &l
	if l.GatewayID != 0 {
		s.gatewayLocked(l.GatewayID)
	}
}

// AddLock adds a lock to the account, or replaces the one with its ID.
func (s *Server) AddLock(l LockSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLockLocked(l)
}

// RemoveLock takes a lock off the account; its records stay.
func (s *Server) RemoveLock(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.locks, id)
	s.order = slices.DeleteFunc(s.order, func(v int64) bool { return v == id })
}

// Locks are the locks on the account, in the order added.
func (s *Server) Locks() []LockSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]LockSpec, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, *s.locks[id])
	}
	return out
}

// SetBattery sets a lock's battery percentage.
func (s *Server) SetBattery(id int64, pct int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.locks[id]; l != nil {
		l.Battery = pct
	}
}

// SetState sets a lock's open state (StateLocked, StateUnlocked,
// StateUnknown) without a record.
func (s *Server) SetState(id int64, st int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.locks[id]; l != nil {
		l.State = st
	}
}

// State is a lock's open state, StateUnknown for an unknown lock.
func (s *Server) State(id int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.locks[id]; l != nil {
		return l.State
	}
	return StateUnknown
}

func (s *Server) wrap(id int64) bool {
	switch s.opts.Envelope {
	case EnvelopeRaw:
		return false
	case EnvelopeWrapped:
		return true
	default:
		return id%2 == 0
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// onOff is TTLock's setting enum: 1 on, 2 off.
func onOff(b bool) int {
	if b {
		return 1
	}
	return 2
}

func lockData(l *LockSpec) string {
	return "FAKE-LOCKDATA-" + md5Hex("lockData"+itoa(l.ID))
}

// lockList serves POST /v3/lock/list: the locks the account administers,
// paged.
func (s *Server) lockList(x *exchange) {
	pageNo, pageSize, ok := x.paging(1000)
	if !ok {
		return
	}
	s.mu.Lock()
	var items []any
	for _, id := range s.order {
		l := s.locks[id]
		if l.Shared {
			continue
		}
		items = append(items, map[string]any{
			"lockId":             l.ID,
			"lockName":           l.Name,
			"lockAlias":          l.Alias,
			"lockMac":            l.MAC,
			"electricQuantity":   l.Battery,
			"featureValue":       featureValue,
			"hasGateway":         boolInt(l.GatewayID != 0),
			"lockData":           lockData(l),
			"groupId":            0,
			"groupName":          "",
			"date":               1690000000000 + l.ID,
			"keyboardPwdVersion": 4,
			"specialValue":       1117,
		})
	}
	s.mu.Unlock()
	x.page(items, pageNo, pageSize)
}

// keyList serves POST /v3/key/list: every ekey the account holds, owned
// and shared; items carry no hasGateway.
func (s *Server) keyList(x *exchange) {
	pageNo, pageSize, ok := x.paging(1000)
	if !ok {
		return
	}
	s.mu.Lock()
	var items []any
	for _, id := range s.order {
		l := s.locks[id]
		keyRight, userType := 1, "110301"
		if l.Shared {
			keyRight, userType = 0, "110302"
		}
		items = append(items, map[string]any{
			"keyId":            l.ID + 90000000,
			"lockId":           l.ID,
			"lockName":         l.Name,
			"lockAlias":        l.Alias,
			"lockMac":          l.MAC,
			"electricQuantity": l.Battery,
			"featureValue":     featureValue,
			"groupId":          0,
			"groupName":        "",
			"keyRight":         keyRight,
			"keyStatus":        "110401",
			"userType":         userType,
			"remoteEnable":     onOff(!l.RemoteUnlockDisabled),
			"noKeyPwd":         "FAKE-NOKEYPWD-" + itoa(l.ID%1000000),
			"passageMode":      2,
			"remarks":          "",
			"startDate":        0,
			"endDate":          0,
			"lockData":         lockData(l),
		})
	}
	s.mu.Unlock()
	x.page(items, pageNo, pageSize)
}

// lockDetail serves GET /v3/lock/detail.
func (s *Server) lockDetail(x *exchange) {
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
	d := map[string]any{
		"lockId":                l.ID,
		"lockName":              l.Name,
		"lockAlias":             l.Alias,
		"lockMac":               l.MAC,
		"electricQuantity":      l.Battery,
		"featureValue":          featureValue,
		"hasGateway":            boolInt(l.GatewayID != 0),
		"modelNum":              l.Model,
		"firmwareRevision":      l.Firmware,
		"hardwareRevision":      l.Hardware,
		"timezoneRawOffset":     3600000,
		"autoLockTime":          -1,
		"passageMode":           2,
		"passageModeAutoUnlock": 2,
		"privacyLock":           2,
		"tamperAlert":           2,
		"lockSound":             1,
		"soundVolume":           3,
		"resetButton":           1,
		"openDirection":         0,
		"isFrozen":              onOff(l.Frozen),
		"keyboardPwdVersion":    4,
		"displayPasscode":       1,
		"lockVersion":           map[string]any{"protocolType": 5, "protocolVersion": 3, "scene": 2, "groupId": 1, "orgId": 1},
		"date":                  1690000000000 + l.ID,
		"adminPwd":              "FAKE-ADMINPWD-" + md5Hex("admin" + itoa(l.ID))[:12],
		"noKeyPwd":              "FAKE-NOKEYPWD-" + itoa(l.ID%1000000),
		"deletePwd":             "",
		"aesKeyStr":             "FAKE-AESKEY-" + md5Hex("aes"+itoa(l.ID)),
		"lockKey":               "FAKE-LOCKKEY-" + md5Hex("key" + itoa(l.ID))[:16],
		"lockData":              lockData(l),
	}
	wrap := s.wrap(l.ID)
	s.mu.Unlock()
	if wrap {
		x.wrapped(d)
		return
	}
	x.json(http.StatusOK, d)
}

// paging reads the required pageNo and pageSize; pageSize is capped at max.
func (x *exchange) paging(max int64) (pageNo, pageSize int64, ok bool) {
	if pageNo, ok = x.requireInt("pageNo", "Integer"); !ok {
		return 0, 0, false
	}
	if pageSize, ok = x.requireInt("pageSize", "Integer"); !ok {
		return 0, 0, false
	}
	if pageNo < 1 || pageSize < 1 {
		x.fail(-3, "invalid parameter")
		return 0, 0, false
	}
	return pageNo, min(pageSize, max), true
}

// page answers one page of items in the unwrapped TTLock shape.
func (x *exchange) page(items []any, pageNo, pageSize int64) {
	total := int64(len(items))
	pages := (total + pageSize - 1) / pageSize
	from := total
	if pageNo-1 <= total/pageSize {
		from = min((pageNo-1)*pageSize, total)
	}
	to := min(from+pageSize, total)
	list := items[from:to]
	if list == nil {
		list = []any{}
	}
	x.json(http.StatusOK, map[string]any{
		"list":     list,
		"pageNo":   pageNo,
		"pageSize": pageSize,
		"pages":    pages,
		"total":    total,
	})
}
