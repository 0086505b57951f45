package sifely

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Default hosts of the two cloud generations.
const (
	LegacyBaseURL  = "https://app-smart-server.sifely.com"
	OpenAPIBaseURL = "https://cus-openapi.sifely.com"
)

// Default timeouts and retry pacing.
const (
	defaultCallTimeout    = 15 * time.Second
	defaultCommandTimeout = 30 * time.Second
	defaultRetryBackoff   = time.Second
)

// Budget is the number of calls the client may send per window. Zero fields
// take the cloud's documented limits (30/min, 1000/h, 20000/day).
type Budget struct {
	PerMinute int
	PerHour   int
	PerDay    int
	// CommandReserve is how many calls of each minute only lock and unlock
	// may use, so that polls never starve a command. Default 5. Reads also
	// leave the last twentieth of the hour's and the day's budget to
	// commands.
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
	// OpenAPI selects the Open API login (JSON body, "sk-" client token)
	// for a BaseURL that does not name the Open API host, such as a proxy
	// or a simulator. A BaseURL containing "cus-openapi" selects it too.
	OpenAPI bool

	// TokenFile caches tokens across restarts (0600, atomic write); empty
	// means no cache.
	TokenFile string

	Budget Budget

	// CallTimeout bounds one read request (default 15s); CommandTimeout
	// bounds one lock or unlock request, which waits for the gateway
	// (default 30s). Waiting for budget is bounded by the caller's context
	// only.
	CallTimeout    time.Duration
	CommandTimeout time.Duration

	// RetryBackoff is the first pause before a retry (default 1s); it
	// doubles with every attempt, with jitter.
	RetryBackoff time.Duration

	// OnCall, if set, is told of every request the client sent, with its
	// endpoint path and error (nil on success); for metrics. It must not
	// block.
	OnCall func(path string, err error)

	HTTPClient *http.Client     // default: a client with sane transport timeouts
	Logger     *slog.Logger     // default: discard
	Now        func() time.Time // default time.Now; for tests
}

// Client talks to the Sifely cloud. It is safe for concurrent use.
type Client struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	http *http.Client
	lim  *limiter

	flight singleflight.Group // token renewals and gateway look-ups

	tokMu         sync.Mutex
	tok           token
	plainPassword atomic.Bool // the legacy login wants the plain password

	gw gatewaySerial

	stats clientStats
}

// New validates opts and returns a client. It does not contact the cloud;
// it reads the token cache when there is one.
func New(opts Options) (*Client, error) {
	var problems []error
	u, err := url.Parse(opts.BaseURL)
	switch {
	case opts.BaseURL == "":
		problems = append(problems, errors.New("base url is empty"))
	case err != nil:
		problems = append(problems, fmt.Errorf("base url: %w", err))
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		problems = append(problems, errors.New("base url must be http(s)://host"))
	}
	if opts.APIKey.IsZero() && (opts.Account == "" || opts.Password.IsZero()) {
		problems = append(problems, errors.New("need an api key, or an account and a password"))
	}
	if opts.CallTimeout < 0 || opts.CommandTimeout < 0 || opts.RetryBackoff < 0 {
		problems = append(problems, errors.New("timeouts must not be negative"))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("sifely options: %w", err)
	}
	for len(opts.BaseURL) > 0 && opts.BaseURL[len(opts.BaseURL)-1] == '/' {
		opts.BaseURL = opts.BaseURL[:len(opts.BaseURL)-1]
	}
	opts.Budget = opts.Budget.withDefaults()
	if opts.CallTimeout == 0 {
		opts.CallTimeout = defaultCallTimeout
	}
	if opts.CommandTimeout == 0 {
		opts.CommandTimeout = defaultCommandTimeout
	}
	if opts.RetryBackoff == 0 {
		opts.RetryBackoff = defaultRetryBackoff
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = defaultHTTPClient()
	}
	c := &Client{
		opts: opts,
		log:  opts.Logger,
		now:  opts.Now,
		http: opts.HTTPClient,
		lim:  newLimiter(opts.Budget, opts.Now),
	}
	c.gw.init()
	c.loadToken()
	return c, nil
}

// defaultHTTPClient returns a client whose transport bounds connecting and
// the TLS handshake; each request is bounded by its context.
func defaultHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // the context bounds it
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}}
}

// clientStats holds the counters Stats reports.
type clientStats struct {
	calls, errors, rateLimited, refreshes, logins atomic.Int64

	mu            sync.Mutex
	lastError     string
	lastErrorTime time.Time
	lastSuccess   time.Time
}

// Stats returns counters of the client's use of the cloud.
func (c *Client) Stats() Stats {
	m, h, d := c.lim.used()
	c.stats.mu.Lock()
	defer c.stats.mu.Unlock()
	return Stats{
		Calls:          c.stats.calls.Load(),
		Errors:         c.stats.errors.Load(),
		RateLimited:    c.stats.rateLimited.Load(),
		Refreshes:      c.stats.refreshes.Load(),
		Logins:         c.stats.logins.Load(),
		LastError:      c.stats.lastError,
		LastErrorTime:  c.stats.lastErrorTime,
		LastSuccess:    c.stats.lastSuccess,
		UsedLastMinute: m,
		UsedLastHour:   h,
		UsedLastDay:    d,
	}
}

// recordResult updates the counters after one request.
func (c *Client) recordResult(err error) {
	now := c.now()
	c.stats.mu.Lock()
	defer c.stats.mu.Unlock()
	if err == nil {
		c.stats.lastSuccess = now
		return
	}
	c.stats.errors.Add(1)
	c.stats.lastError = err.Error()
	c.stats.lastErrorTime = now
}
