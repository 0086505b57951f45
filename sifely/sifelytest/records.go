package sifelytest

import (
	"cmp"
	"slices"
	"time"
)

// RecordSpec is one lock record (an unlock, a lock, an alarm, ...).
type RecordSpec struct {
	RecordID, LockID   int64
	RecordType         int // the cloud's recordType (12 unlock by gateway, 11 lock by app, 4 passcode, ...)
	RecordTypeFromLock int // the lock's raw type
	Success            bool
	Username           string
	KeyboardPwd        string
	LockDate           time.Time // the lock's clock
	ServerDate         time.Time // upload time
	Battery            int       // electricQuantity at the event
}

// stateEffect is the open state a successful record of a type leaves the
// lock in, and whether it has one.
func stateEffect(recordType int) (int, bool) {
	switch recordType {
	case 1, 4, 7, 8, 9, 10, 12, 32, 46, 49, 50, 55, 57, 63:
		return StateUnlocked, true
	case 11, 33, 34, 35, 36, 45, 47, 61:
		return StateLocked, true
	}
	return 0, false
}

// AddRecord stores a record as if the lock had uploaded it. Zero RecordID,
// dates and battery are filled in (an increasing ID, now, the lock's
// battery). A successful lock or unlock type sets the lock's state. With a
// WebhookURL the record is pushed. It returns the record as stored.
func (s *Server) AddRecord(r RecordSpec) RecordSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addRecordLocked(r)
}

func (s *Server) addRecordLocked(r RecordSpec) RecordSpec {
	if r.RecordID == 0 {
		s.lastRecordID++
		r.RecordID = 5000000000 + s.lastRecordID
	}
	now := s.now()
	if r.LockDate.IsZero() {
		r.LockDate = now
	}
	if r.ServerDate.IsZero() {
		r.ServerDate = now
	}
	l := s.locks[r.LockID]
	if r.Battery == 0 && l != nil {
		r.Battery = l.Battery
	}
	if st, ok := stateEffect(r.RecordType); ok && r.Success && l != nil {
		l.State = st
	}
	s.records[r.LockID] = append(s.records[r.LockID], r)
	if s.opts.WebhookURL != "" {
		mac := ""
		if l != nil {
			mac = l.MAC
		}
		ct, body := recordsPush(s.opts.WebhookStyle, r.LockID, mac, s.opts.Account, []RecordSpec{r})
		s.enqueueLocked(hookJob{contentType: ct, body: body})
	}
	return r
}

// Records are the records of a lock in the order they were added.
func (s *Server) Records(lockID int64) []RecordSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.records[lockID])
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func recordJSON(r RecordSpec) map[string]any {
	return map[string]any{
		"recordId":           r.RecordID,
		"lockId":             r.LockID,
		"recordType":         r.RecordType,
		"recordTypeFromLock": r.RecordTypeFromLock,
		"success":            boolInt(r.Success),
		"username":           r.Username,
		"keyboardPwd":        r.KeyboardPwd,
		"lockDate":           millis(r.LockDate),
		"serverDate":         millis(r.ServerDate),
		"electricQuantity":   r.Battery,
	}
}

// recordList serves GET /v3/lockRecord/list: newest first, filtered by
// lockDate within [startDate, endDate] (0 = unbounded), paged.
func (s *Server) recordList(x *exchange) {
	id, ok := x.requireInt("lockId", "Long")
	if !ok {
		return
	}
	pageNo, pageSize, ok := x.paging(200)
	if !ok {
		return
	}
	start, ok := x.optionalInt("startDate")
	if !ok {
		return
	}
	end, ok := x.optionalInt("endDate")
	if !ok {
		return
	}
	s.mu.Lock()
	if s.locks[id] == nil {
		s.mu.Unlock()
		x.fail(-1003, "lock does not exist")
		return
	}
	recs := slices.Clone(s.records[id])
	s.mu.Unlock()
	recs = slices.DeleteFunc(recs, func(r RecordSpec) bool {
		d := millis(r.LockDate)
		return (start != 0 && d < start) || (end != 0 && d > end)
	})
	slices.SortStableFunc(recs, func(a, b RecordSpec) int {
		if c := b.LockDate.Compare(a.LockDate); c != 0 {
			return c
		}
		return cmp.Compare(b.RecordID, a.RecordID)
	})
	items := make([]any, len(recs))
	for i, r := range recs {
		items[i] = recordJSON(r)
	}
	x.page(items, pageNo, pageSize)
}
