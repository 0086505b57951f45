package sifely

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Default hosts of the two cloud generations.
const (
	LegacyBaseURL  = "https://app-smart-server.sifely.com"
	OpenAPIBaseURL = "https://cus-openapi.sifely.com"
)

// Budget is the number of calls the client may send per window. Zero fields
// take the cloud's documented limits (30/min, 1000/h, 20000/day).
type Budget struct {
	PerMinute int
	PerHour   int
	PerDay    int
	// CommandReserve is how many calls of each minute only lock and unlock
	// may use, so that polls never starve a command. Default 5.
	CommandReserve int
}

// Options configure a Client. BaseURL and either APIKey or Account and
// Password are required.
type Options struct {
	BaseURL  string
	Account  string
	Password Secret // plain text; hashed by the client where the API wants MD5
	APIKey   Secret // an Open API "sk-" key; no login when set
	ClientID string // legacy host only; learned through loginByGuest when empty

	// TokenFile caches tokens across restarts (0600, atomic write); empty
	// means no cache.
	TokenFile string

	Budget Budget

	// CallTimeout bounds one read call (default 15s); CommandTimeout bounds
	// lock and unlock, which wait for the gateway (default 30s).
	CallTimeout    time.Duration
	CommandTimeout time.Duration

	HTTPClient *http.Client     // default: a client with sane transport timeouts
	Logger     *slog.Logger     // default: discard
	Now        func() time.Time // default time.Now; for tests
}

// Client talks to the Sifely cloud. It is safe for concurrent use.
type Client struct {
	opts Options
}

var errNotImplemented = errors.New("not implemented")

// New validates opts and returns a client. It does not contact the cloud.
func New(opts Options) (*Client, error) { return &Client{opts: opts}, nil }

// Locks returns every lock the account can see: the owner lock list merged
// with the ekey list, deduplicated by lock ID, all pages.
func (c *Client) Locks(ctx context.Context) ([]Lock, error) { return nil, errNotImplemented }

// LockDetail returns one lock's details.
func (c *Client) LockDetail(ctx context.Context, lockID int64) (LockDetail, error) {
	return LockDetail{}, errNotImplemented
}

// OpenState queries the lock's bolt position through its gateway.
func (c *Client) OpenState(ctx context.Context, lockID int64) (OpenState, error) {
	return StateUnknown, errNotImplemented
}

// Lock locks the lock through its gateway. It is retried on gateway busy
// and transient errors: locking fails safe.
func (c *Client) Lock(ctx context.Context, lockID int64) error { return errNotImplemented }

// Unlock unlocks the lock through its gateway. It is sent at most once,
// except after ErrGatewayBusy, which says the gateway did not run it.
func (c *Client) Unlock(ctx context.Context, lockID int64) error { return errNotImplemented }

// Records returns the lock's records with lockDate at or after since,
// newest first, all pages.
func (c *Client) Records(ctx context.Context, lockID int64, since time.Time) ([]Record, error) {
	return nil, errNotImplemented
}

// Gateways returns the gateways the lock is attached to.
func (c *Client) Gateways(ctx context.Context, lockID int64) ([]Gateway, error) {
	return nil, errNotImplemented
}

// Stats returns counters of the client's use of the cloud.
func (c *Client) Stats() Stats { return Stats{} }

// ParseWebhook decodes a webhook push body of the given Content-Type
// (form-encoded or JSON).
func ParseWebhook(contentType string, body []byte) (Notification, error) {
	return Notification{}, errNotImplemented
}
