package sifely

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// Gateway endpoints: TTLock's path first, the one CON names as fallback.
const (
	pathGatewayListByLock = "/v3/gateway/listByLock"
	pathLockGateways      = "/v3/lock/gateways"
)

// How long a lock's gateways are trusted (the cloud itself caches the
// lock-gateway relation for 30 minutes), and how long a failed look-up is.
const (
	gatewayCacheTTL         = 30 * time.Minute
	gatewayFailureTTL       = 5 * time.Minute
	accountWeight     int64 = 1 << 30
)

// gatewaySerial makes gateway operations (open state, lock, unlock) run one
// at a time per gateway: a gateway handles one command at a time and
// answers -3003 otherwise. An operation on a lock whose gateway is not
// known takes the whole account, so it never overlaps any other.
type gatewaySerial struct {
	account *semaphore.Weighted // 1 per known-gateway op; everything for an unknown one

	mu       sync.Mutex
	gateways map[int64]*semaphore.Weighted // per gateway ID
	byLock   map[int64]gatewayEntry

	fallback atomic.Bool // listByLock is missing: use /v3/lock/gateways
}

// gatewayEntry is a cached look-up of a lock's gateways.
type gatewayEntry struct {
	ids     []int64 // sorted; empty when unknown or none
	expires time.Time
}

func (g *gatewaySerial) init() {
	g.account = semaphore.NewWeighted(accountWeight)
	g.gateways = make(map[int64]*semaphore.Weighted)
	g.byLock = make(map[int64]gatewayEntry)
}

// acquireGateway waits until lockID's gateways are free and returns the
// function that frees them. It learns the gateways on first use.
func (c *Client) acquireGateway(ctx context.Context, lockID int64) (release func(), err error) {
	ids := c.lockGateways(ctx, lockID)
	g := &c.gw
	if len(ids) == 0 {
		if err := g.account.Acquire(ctx, accountWeight); err != nil {
			return nil, fmt.Errorf("wait for gateway: %w", err)
		}
		return func() { g.account.Release(accountWeight) }, nil
	}
	if err := g.account.Acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("wait for gateway: %w", err)
	}
	g.mu.Lock()
	sems := make([]*semaphore.Weighted, len(ids))
	for i, id := range ids {
		s, ok := g.gateways[id]
		if !ok {
			s = semaphore.NewWeighted(1)
			g.gateways[id] = s
		}
		sems[i] = s
	}
	g.mu.Unlock()
	// ids are sorted, so every caller takes the gateways in one order.
	for i, s := range sems {
		if err := s.Acquire(ctx, 1); err != nil {
			for _, h := range sems[:i] {
				h.Release(1)
			}
			g.account.Release(1)
			return nil, fmt.Errorf("wait for gateway: %w", err)
		}
	}
	return func() {
		for _, s := range sems {
			s.Release(1)
		}
		g.account.Release(1)
	}, nil
}

// lockGateways returns the IDs of lockID's gateways from the cache, looking
// them up when stale. It returns nil when they cannot be learned.
func (c *Client) lockGateways(ctx context.Context, lockID int64) []int64 {
	g := &c.gw
	g.mu.Lock()
	e, ok := g.byLock[lockID]
	g.mu.Unlock()
	if ok && c.now().Before(e.expires) {
		return e.ids
	}
	v, err, _ := c.flight.Do("gateways:"+strconv.FormatInt(lockID, 10), func() (any, error) {
		gws, err := c.Gateways(ctx, lockID)
		if err != nil {
			return nil, err
		}
		ids := make([]int64, 0, len(gws))
		for _, gw := range gws {
			ids = append(ids, gw.ID)
		}
		slices.Sort(ids)
		return slices.Compact(ids), nil
	})
	entry := gatewayEntry{expires: c.now().Add(gatewayCacheTTL)}
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		c.log.Debug("gateway look-up failed, serialising per account", "lock_id", lockID, "err", err)
		entry.expires = c.now().Add(gatewayFailureTTL)
	} else {
		entry.ids = v.([]int64)
	}
	g.mu.Lock()
	g.byLock[lockID] = entry
	g.mu.Unlock()
	return entry.ids
}

// Gateways returns the gateways the lock is attached to.
func (c *Client) Gateways(ctx context.Context, lockID int64) ([]Gateway, error) {
	q := url.Values{"lockId": {strconv.FormatInt(lockID, 10)}}
	path := pathGatewayListByLock
	if c.gw.fallback.Load() {
		path = pathLockGateways
	}
	payload, err := c.call(ctx, request{method: http.MethodGet, path: path, query: q}, retryTransient)
	if path == pathGatewayListByLock && isNotFound(err) {
		c.gw.fallback.Store(true)
		path = pathLockGateways
		payload, err = c.call(ctx, request{method: http.MethodGet, path: path, query: q}, retryTransient)
	}
	if err != nil {
		return nil, fmt.Errorf("list gateways of lock %d: %w", lockID, err)
	}
	var items []gatewayJSON
	if err := decodeList(path, payload, &items); err != nil {
		return nil, fmt.Errorf("list gateways of lock %d: %w", lockID, err)
	}
	out := make([]Gateway, 0, len(items))
	for _, it := range items {
		out = append(out, it.gateway())
	}
	return out, nil
}

// isNotFound reports whether err is an HTTP 404 or 405 from the cloud.
func isNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.HTTPStatus == http.StatusNotFound || ae.HTTPStatus == http.StatusMethodNotAllowed)
}

// gatewayJSON is one item of listByLock.
type gatewayJSON struct {
	GatewayID   flexInt    `json:"gatewayId"`
	GatewayMac  flexString `json:"gatewayMac"`
	GatewayName flexString `json:"gatewayName"`
	RSSI        flexInt    `json:"rssi"`
	IsOnline    flexBool   `json:"isOnline"`
}

func (g gatewayJSON) gateway() Gateway {
	return Gateway{
		ID:     g.GatewayID.Int(),
		MAC:    string(g.GatewayMac),
		Name:   string(g.GatewayName),
		RSSI:   int(g.RSSI.Int()),
		Online: g.IsOnline.Ptr(),
	}
}

// decodeList decodes the "list" of a (possibly wrapped) page into items.
func decodeList(path string, payload json.RawMessage, items any) error {
	obj := pick(payload, "list")
	if obj == nil {
		return fmt.Errorf("%s: no list in answer: %w", path, ErrMalformedResponse)
	}
	var v struct {
		List json.RawMessage `json:"list"`
	}
	if err := json.Unmarshal(obj, &v); err != nil {
		return fmt.Errorf("%s: decode list: %w", path, ErrMalformedResponse)
	}
	if err := json.Unmarshal(v.List, items); err != nil {
		return fmt.Errorf("%s: decode list items: %v: %w", path, err, ErrMalformedResponse)
	}
	return nil
}
