package sifelytest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Envelope chooses the shape of lock detail and open-state answers, which
// the real cloud sends both unwrapped and inside {"code":200,"data":{..}}.
type Envelope int

const (
	// EnvelopeMixed (the default) wraps the answers for locks with an even
	// ID and leaves them unwrapped for odd IDs, so both shapes get exercised.
	EnvelopeMixed Envelope = iota
	// EnvelopeRaw always answers unwrapped.
	EnvelopeRaw
	// EnvelopeWrapped always answers wrapped.
	EnvelopeWrapped
)

// Options configure a Server. The zero value is a working cloud with no
// locks, no account and no limits.
type Options struct {
	// Account and Password (plain text) are the credentials logins must
	// present; logins may send the password as MD5 hex, or in plain text on
	// the legacy login.
	Account, Password string
	// APIKey is an Open API "sk-..." key accepted raw in Authorization and
	// returned by the Open API login. Empty: one is generated.
	APIKey string
	// ClientID is the legacy client_id expected on login and refresh; empty
	// accepts any. loginByGuest returns it (or a generated one).
	ClientID string
	// TokenTTL is the lifetime of legacy access tokens (default 1h).
	TokenTTL time.Duration
	// CommandLatency is the gateway round trip of lock and unlock (default
	// 0). The command completes even if the caller gives up waiting.
	CommandLatency time.Duration
	// StateLatency is the gateway round trip of queryOpenState.
	StateLatency time.Duration
	// RateLimitPerMinute limits requests per account in a sliding 60 s
	// window; 0 is off. Over the limit, Open API callers (sk- keys, JSON
	// login) get HTTP 429 and legacy callers errcode 30006.
	RateLimitPerMinute int
	// Locks are the locks on the account at start.
	Locks []LockSpec
	// WebhookURL, when set, receives every new record (from a command or
	// AddRecord) and gateway online/offline changes, posted asynchronously
	// and in order.
	WebhookURL string
	// WebhookStyle is the body style of pushes to WebhookURL.
	WebhookStyle WebhookStyle
	// Envelope chooses the shape of lock detail and open state answers.
	Envelope Envelope
	// OpenAPILoginUnwrapped makes the Open API login answer with the bare
	// {clientToken, clientId, account, plan} object instead of the wrapper.
	OpenAPILoginUnwrapped bool
	// InProcess starts no listener: the server is reached only through
	// Transport or Handler. Use it inside testing/synctest bubbles, where a
	// real listener would keep fake time from advancing.
	InProcess bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives webhook delivery problems (default: discard).
	Logger *slog.Logger
}

// Call is one request the server saw.
type Call struct {
	Method, Path string
	LockID       int64 // the lockId parameter, 0 if absent
	Start, End   time.Time
	Status       int // HTTP status answered
	Code         int // errcode or code of the body; 0 if none
}

// Server is a simulated Sifely cloud. All methods are safe for concurrent
// use.
type Server struct {
	opts   Options
	now    func() time.Time
	logger *slog.Logger
	ts     *httptest.Server
	routes map[string]route

	ctx       context.Context
	cancel    context.CancelFunc
	inflight  sync.WaitGroup // in-process handler goroutines
	poster    sync.WaitGroup // webhook poster goroutine
	hookWake  chan struct{}
	hookHTTP  *http.Client
	closeOnce sync.Once

	mu           sync.Mutex
	locks        map[int64]*LockSpec
	order        []int64
	gateways     map[int64]*gateway
	records      map[int64][]RecordSpec
	lastRecordID int64
	apiKey       string
	clientID     string
	access       map[string]time.Time // legacy access token → expiry
	refresh      map[string]bool
	faults       map[string][]Fault
	calls        map[string]int
	callLog      []Call
	maxGateway   int
	window       []time.Time
	hookQueue    []hookJob
}

// NewServer starts a simulated cloud. The caller must Close it.
func NewServer(opts Options) *Server {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	s := &Server{
		opts:     opts,
		now:      opts.Now,
		logger:   opts.Logger,
		hookWake: make(chan struct{}, 1),
		hookHTTP: &http.Client{Timeout: 10 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()},
		locks:    make(map[int64]*LockSpec),
		gateways: make(map[int64]*gateway),
		records:  make(map[int64][]RecordSpec),
		access:   make(map[string]time.Time),
		refresh:  make(map[string]bool),
		faults:   make(map[string][]Fault),
		calls:    make(map[string]int),
		apiKey:   opts.APIKey,
		clientID: opts.ClientID,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.apiKey == "" {
		s.apiKey = "sk-sim" + randomHex(16)
	}
	if s.clientID == "" {
		s.clientID = randomHex(16)
	}
	for _, l := range opts.Locks {
		s.addLockLocked(l)
	}
	s.routes = s.buildRoutes()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.poster.Add(1)
	go s.postLoop()
	if !opts.InProcess {
		s.ts = httptest.NewServer(s)
	}
	return s
}

// New is NewServer for tests: it closes the server when tb's test ends.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := NewServer(opts)
	tb.Cleanup(s.Close)
	return s
}

// URL is the base URL of the server, without a trailing slash. With
// Options.InProcess it is a placeholder that only Transport can reach.
func (s *Server) URL() string {
	if s.ts == nil {
		return "http://sifely.invalid"
	}
	return s.ts.URL
}

// APIKey is the Open API key the server accepts (Options.APIKey or the
// generated one).
func (s *Server) APIKey() string { return s.apiKey }

// ClientID is the legacy client_id the server hands out on loginByGuest.
func (s *Server) ClientID() string { return s.clientID }

// Handler is the server's HTTP handler, for use without the network.
func (s *Server) Handler() http.Handler { return s }

// Client is an HTTP client that reaches the server: through the listener,
// or in process with Options.InProcess.
func (s *Server) Client() *http.Client {
	if s.ts != nil {
		return s.ts.Client()
	}
	return &http.Client{Transport: s.Transport()}
}

// Close stops the server: in-flight gateway operations are abandoned,
// pending webhook pushes are dropped, and every goroutine is joined.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		if s.ts != nil {
			s.ts.Close()
		}
		s.inflight.Wait()
		s.poster.Wait()
		s.hookHTTP.CloseIdleConnections()
	})
}

// Calls is the number of requests that reached path, rejected ones
// included.
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// CallLog is every request seen since the start or the last ResetCounters,
// in the order they finished.
func (s *Server) CallLog() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.callLog...)
}

// MaxGatewayConcurrency is the largest number of gateway operations (open
// state, lock, unlock) seen in flight at once on any one gateway, counting
// the ones rejected as busy. A client that serialises per gateway keeps it
// at 1.
func (s *Server) MaxGatewayConcurrency() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxGateway
}

// ResetCounters clears Calls, CallLog and MaxGatewayConcurrency. The rate
// limiter's window is kept.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = make(map[string]int)
	s.callLog = nil
	s.maxGateway = 0
	for _, g := range s.gateways {
		if g.attempts > s.maxGateway {
			s.maxGateway = g.attempts
		}
	}
}

// ExpireTokens makes every legacy access token issued so far expire now.
// Refresh tokens and API keys stay valid.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for tok := range s.access {
		s.access[tok] = now
	}
}

// sleep waits d, or until ctx or the server ends; it reports whether the
// full time passed.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return s.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.ctx.Done():
		return false
	}
}

// allowRate records a request against the per-account window; it reports
// false (and how long until a slot frees) when the limit is reached.
func (s *Server) allowRate() (bool, time.Duration) {
	limit := s.opts.RateLimitPerMinute
	if limit <= 0 {
		return true, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	cutoff := now.Add(-time.Minute)
	i := 0
	for i < len(s.window) && !s.window[i].After(cutoff) {
		i++
	}
	s.window = s.window[i:]
	if len(s.window) >= limit {
		return false, s.window[0].Sub(cutoff)
	}
	s.window = append(s.window, now)
	return true, 0
}

// Transport is an http.RoundTripper that serves requests in process,
// without the network. A request whose context ends gets its error at once
// while the simulated cloud goes on, as a real one would.
func (s *Server) Transport() http.RoundTripper { return inProcess{s} }

type inProcess struct{ s *Server }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if err := t.s.ctx.Err(); err != nil {
		return nil, http.ErrServerClosed
	}
	in := req.Clone(req.Context())
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		in.Body = io.NopCloser(bytes.NewReader(body))
	} else {
		in.Body = http.NoBody
	}
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	t.s.inflight.Add(1)
	go func() {
		defer t.s.inflight.Done()
		defer close(done)
		t.s.ServeHTTP(rec, in)
	}()
	select {
	case <-done:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
