package sifely

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Lock endpoints (sifely-api.md 3).
const (
	pathLockList  = "/v3/lock/list"
	pathKeyList   = "/v3/key/list"
	pathDetail    = "/v3/lock/detail"
	pathOpenState = "/v3/lock/queryOpenState"
	pathLock      = "/v3/lock/lock"
	pathUnlock    = "/v3/lock/unlock"
)

// Paging.
const (
	listPageSize = 100
	maxPages     = 200 // a cloud that never says "done" stops here
)

// featureWiFi is the featureValue bit of a WiFi lock, reachable without a
// gateway.
const featureWiFi = 56

// lockJSON is an item of /v3/lock/list or /v3/key/list, or a lock detail.
// Secret fields (lockData, noKeyPwd, adminPwd, aesKeyStr, keyboardPwd,
// lockKey, deletePwd) have no field here, so decoding drops them.
type lockJSON struct {
	LockID           flexInt    `json:"lockId"`
	LockName         flexString `json:"lockName"`
	LockAlias        flexString `json:"lockAlias"`
	LockMac          flexString `json:"lockMac"`
	ElectricQuantity flexInt    `json:"electricQuantity"`
	FeatureValue     flexString `json:"featureValue"`
	HasGateway       flexInt    `json:"hasGateway"`
	GroupID          flexInt    `json:"groupId"`
	GroupName        flexString `json:"groupName"`
	IsOnline         flexBool   `json:"isOnline"`
	RemoteEnable     flexInt    `json:"remoteEnable"`

	ModelNum          flexString `json:"modelNum"`
	HardwareRevision  flexString `json:"hardwareRevision"`
	FirmwareRevision  flexString `json:"firmwareRevision"`
	TimezoneRawOffset flexInt    `json:"timezoneRawOffset"`
	AutoLockTime      flexInt    `json:"autoLockTime"`
	PassageMode       flexInt    `json:"passageMode"`
	PrivacyLock       flexInt    `json:"privacyLock"`
	TamperAlert       flexInt    `json:"tamperAlert"`
	IsFrozen          flexInt    `json:"isFrozen"`
}

func (j lockJSON) lock(owner bool) Lock {
	return Lock{
		ID:           j.LockID.Int(),
		Name:         string(j.LockName),
		Alias:        string(j.LockAlias),
		MAC:          string(j.LockMac),
		Battery:      int(j.ElectricQuantity.Or(-1)),
		HasGateway:   j.HasGateway.Int() != 0 || hasFeature(string(j.FeatureValue), featureWiFi),
		FeatureValue: string(j.FeatureValue),
		GroupID:      j.GroupID.Int(),
		GroupName:    string(j.GroupName),
		Online:       j.IsOnline.Ptr(),
		RemoteEnable: int(j.RemoteEnable.Int()),
		Owner:        owner,
	}
}

func (j lockJSON) detail() LockDetail {
	return LockDetail{
		Lock:              j.lock(false),
		ModelNum:          string(j.ModelNum),
		HardwareRevision:  string(j.HardwareRevision),
		FirmwareRevision:  string(j.FirmwareRevision),
		TimezoneRawOffset: j.TimezoneRawOffset.Int(),
		AutoLockTime:      int(j.AutoLockTime.Int()),
		PassageMode:       int(j.PassageMode.Int()),
		PrivacyLock:       int(j.PrivacyLock.Int()),
		TamperAlert:       int(j.TamperAlert.Int()),
		Frozen:            j.IsFrozen.Int() == 1,
	}
}

// hasFeature reports whether bit is set in a featureValue hex string.
func hasFeature(featureValue string, bit int) bool {
	s := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(featureValue), "0x"), "0X")
	if s == "" || len(s) > 64 {
		return false
	}
	n, ok := new(big.Int).SetString(s, 16)
	return ok && n.Bit(bit) == 1
}

// lockIDQuery is the query of every per-lock call.
func lockIDQuery(lockID int64) url.Values {
	return url.Values{"lockId": {strconv.FormatInt(lockID, 10)}}
}

// Locks returns every lock the account can see: the owner lock list merged
// with the ekey list, deduplicated by lock ID, all pages. The owner list
// wins where both have a lock (Owner is then true); fields only the ekey
// list carries (remoteEnable) are kept.
func (c *Client) Locks(ctx context.Context) ([]Lock, error) {
	owned, err := c.pagedLocks(ctx, pathLockList)
	if err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	keys, err := c.pagedLocks(ctx, pathKeyList)
	if err != nil {
		return nil, fmt.Errorf("list ekeys: %w", err)
	}
	var out []Lock
	index := make(map[int64]int)
	add := func(items []lockJSON, owner bool) {
		for _, it := range items {
			l := it.lock(owner)
			if l.ID == 0 {
				continue
			}
			i, seen := index[l.ID]
			if !seen {
				index[l.ID] = len(out)
				out = append(out, l)
				continue
			}
			have := &out[i]
			if have.RemoteEnable == 0 {
				have.RemoteEnable = l.RemoteEnable
			}
			if have.Battery < 0 {
				have.Battery = l.Battery
			}
			if have.Online == nil {
				have.Online = l.Online
			}
			have.HasGateway = have.HasGateway || l.HasGateway
		}
	}
	add(owned, true)
	add(keys, false)
	return out, nil
}

// pagedLocks reads every page of a lock or key list.
func (c *Client) pagedLocks(ctx context.Context, path string) ([]lockJSON, error) {
	var all []lockJSON
	err := c.pages(ctx, http.MethodPost, path, url.Values{}, func(payload json.RawMessage) (int, error) {
		var items []lockJSON
		if err := decodeList(path, payload, &items); err != nil {
			return 0, err
		}
		all = append(all, items...)
		return len(items), nil
	})
	return all, err
}

// pageInfo is the paging part of a TTLock list page.
type pageInfo struct {
	PageNo   flexInt `json:"pageNo"`
	PageSize flexInt `json:"pageSize"`
	Pages    flexInt `json:"pages"`
	Total    flexInt `json:"total"`
}

// pages calls path for page 1, 2, ... until the answers say there is no
// more: pages reached, total collected, a page shorter than its pageSize,
// an empty page, or the same page again. each decodes one page and returns
// its item count.
func (c *Client) pages(ctx context.Context, method, path string, q url.Values, each func(json.RawMessage) (int, error)) error {
	collected := 0
	var prev json.RawMessage
	for pageNo := 1; ; pageNo++ {
		if pageNo > maxPages {
			return fmt.Errorf("%s: more than %d pages: %w", path, maxPages, ErrMalformedResponse)
		}
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		pq.Set("pageNo", strconv.Itoa(pageNo))
		pq.Set("pageSize", strconv.Itoa(listPageSize))
		payload, err := c.call(ctx, request{method: method, path: path, query: pq}, retryTransient)
		if err != nil {
			return err
		}
		if pageNo > 1 && bytes.Equal(payload, prev) {
			// The cloud ignores pageNo; the first page was all there is.
			return nil
		}
		prev = payload
		n, err := each(payload)
		if err != nil {
			return err
		}
		collected += n
		var pi pageInfo
		if obj := pick(payload, "list"); obj != nil {
			_ = json.Unmarshal(obj, &pi) // paging fields are optional
		}
		switch {
		case n == 0:
			return nil
		case pi.Pages.Or(0) > 0:
			if int64(pageNo) >= pi.Pages.Int() {
				return nil
			}
		case pi.Total.Or(-1) >= 0:
			if int64(collected) >= pi.Total.Int() {
				return nil
			}
		case pi.PageSize.Or(0) > 0:
			if int64(n) < pi.PageSize.Int() {
				return nil
			}
		}
		// Nothing says this was the last page: ask for the next one
		// rather than risk a truncated list.
	}
}

// LockDetail returns one lock's details.
func (c *Client) LockDetail(ctx context.Context, lockID int64) (LockDetail, error) {
	payload, err := c.call(ctx, request{method: http.MethodGet, path: pathDetail, query: lockIDQuery(lockID)}, retryTransient)
	if err != nil {
		return LockDetail{}, fmt.Errorf("lock detail %d: %w", lockID, err)
	}
	obj := pick(payload, "lockId")
	var j lockJSON
	if obj == nil || json.Unmarshal(obj, &j) != nil {
		return LockDetail{}, fmt.Errorf("lock detail %d: %s: %w", lockID, pathDetail, ErrMalformedResponse)
	}
	d := j.detail()
	return d, nil
}

// OpenState queries the lock's bolt position through its gateway.
func (c *Client) OpenState(ctx context.Context, lockID int64) (OpenState, error) {
	release, err := c.acquireGateway(ctx, lockID)
	if err != nil {
		return StateUnknown, fmt.Errorf("query open state %d: %w", lockID, err)
	}
	defer release()
	payload, err := c.call(ctx, request{method: http.MethodGet, path: pathOpenState, query: lockIDQuery(lockID)}, retryTransient)
	if err != nil {
		return StateUnknown, fmt.Errorf("query open state %d: %w", lockID, err)
	}
	obj := pick(payload, "state")
	var v struct {
		State flexInt `json:"state"`
	}
	if obj == nil || json.Unmarshal(obj, &v) != nil {
		return StateUnknown, fmt.Errorf("query open state %d: %s: %w", lockID, pathOpenState, ErrMalformedResponse)
	}
	switch s := OpenState(v.State.Int()); s {
	case StateLocked, StateUnlocked:
		return s, nil
	default:
		return StateUnknown, nil
	}
}

// Lock locks the lock through its gateway. It is retried on gateway busy
// and transient errors: locking fails safe.
func (c *Client) Lock(ctx context.Context, lockID int64) error {
	if err := c.command(ctx, lockID, pathLock, retryTransient); err != nil {
		return fmt.Errorf("lock %d: %w", lockID, err)
	}
	return nil
}

// Unlock unlocks the lock through its gateway. It is sent at most once,
// except after ErrGatewayBusy, which says the gateway did not run it, a
// network error before the request left, or a refused token (the cloud
// checks the token before anything else, so the unlock did not run).
func (c *Client) Unlock(ctx context.Context, lockID int64) error {
	if err := c.command(ctx, lockID, pathUnlock, retryNotRun); err != nil {
		return fmt.Errorf("unlock %d: %w", lockID, err)
	}
	return nil
}

// command sends lock or unlock while holding the lock's gateway.
func (c *Client) command(ctx context.Context, lockID int64, path string, policy retryPolicy) error {
	release, err := c.acquireGateway(ctx, lockID)
	if err != nil {
		return err
	}
	defer release()
	_, err = c.call(ctx, request{method: http.MethodPost, path: path, query: lockIDQuery(lockID), command: true}, policy)
	return err
}
