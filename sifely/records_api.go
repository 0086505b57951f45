package sifely

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// pathRecords is the unlock record list (sifely-api.md 3.6).
const pathRecords = "/v3/lockRecord/list"

// recordJSON is one record of /v3/lockRecord/list or a webhook push. The
// credential (keyboardPwd) has no field here, so decoding drops it.
type recordJSON struct {
	RecordID           flexInt    `json:"recordId"`
	LockID             flexInt    `json:"lockId"`
	LockMac            flexString `json:"lockMac"`
	RecordType         flexInt    `json:"recordType"`
	RecordTypeFromLock flexInt    `json:"recordTypeFromLock"`
	Success            flexBool   `json:"success"`
	Username           flexString `json:"username"`
	LockDate           flexInt    `json:"lockDate"`
	ServerDate         flexInt    `json:"serverDate"`
	ElectricQuantity   flexInt    `json:"electricQuantity"`
}

func (j recordJSON) record() Record {
	return Record{
		ID:           j.RecordID.Int(),
		LockID:       j.LockID.Int(),
		LockMAC:      string(j.LockMac),
		Type:         int(j.RecordType.Int()),
		TypeFromLock: int(j.RecordTypeFromLock.Int()),
		Success:      j.Success.v,
		Username:     cleanUsername(string(j.Username)),
		LockDate:     msTime(j.LockDate.Int()),
		ServerDate:   msTime(j.ServerDate.Int()),
		Battery:      int(j.ElectricQuantity.Or(-1)),
	}
}

// msTime converts Unix milliseconds to a time; 0 is the zero time.
func msTime(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// cleanUsername strips the "_<hash>" suffix the cloud appends to app
// usernames: at the first "_", and only when what follows looks like a hash
// (at least 8 hex digits), so "Card A" or "front_door" stay whole.
func cleanUsername(s string) string {
	s = strings.TrimSpace(s)
	i := strings.IndexByte(s, '_')
	if i <= 0 {
		return s
	}
	suffix := s[i+1:]
	if len(suffix) < 8 {
		return s
	}
	for _, r := range suffix {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return s
		}
	}
	return s[:i]
}

// Records returns the lock's records with lockDate at or after since,
// newest first, all pages.
func (c *Client) Records(ctx context.Context, lockID int64, since time.Time) ([]Record, error) {
	var start int64
	if !since.IsZero() && since.UnixMilli() > 0 {
		start = since.UnixMilli()
	}
	q := url.Values{
		"lockId":    {strconv.FormatInt(lockID, 10)},
		"startDate": {strconv.FormatInt(start, 10)},
		"endDate":   {"0"},
	}
	var out []Record
	err := c.pages(ctx, http.MethodGet, pathRecords, q, func(payload json.RawMessage) (int, error) {
		var items []recordJSON
		if err := decodeList(pathRecords, payload, &items); err != nil {
			return 0, err
		}
		for _, it := range items {
			r := it.record()
			if r.LockID == 0 {
				r.LockID = lockID
			}
			if !since.IsZero() && !r.LockDate.IsZero() && r.LockDate.Before(since) {
				continue
			}
			out = append(out, r)
		}
		return len(items), nil
	})
	if err != nil {
		return nil, fmt.Errorf("list records of lock %d: %w", lockID, err)
	}
	slices.SortStableFunc(out, func(a, b Record) int { return b.LockDate.Compare(a.LockDate) })
	return out, nil
}
