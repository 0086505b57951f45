package bridge

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
)

// Webhook defaults, used where WebhookOptions leave a field zero.
const (
	// DefaultWebhookMaxBodyBytes bounds a webhook body; larger ones get 413.
	DefaultWebhookMaxBodyBytes = 64 << 10
	// DefaultWebhookMaxConcurrent bounds the requests handled at once on the
	// secret path; more get 503 at once.
	DefaultWebhookMaxConcurrent = 16
)

// webhookPathPrefix is the public part of the webhook path; the secret
// follows it.
const webhookPathPrefix = "/webhook/"

// WebhookOptions configure the webhook endpoint.
type WebhookOptions struct {
	// Secret makes the endpoint POST /webhook/<secret>. An empty secret
	// matches no path: every request gets 404.
	Secret sifely.Secret
	// MaxBodyBytes bounds a body (default DefaultWebhookMaxBodyBytes); a
	// larger one gets 413.
	MaxBodyBytes int64
	// MaxConcurrent bounds the requests handled at once (default
	// DefaultWebhookMaxConcurrent); beyond it a request gets 503 at once.
	MaxConcurrent int
	// Logger receives the handler's logs (default: discarded). It never
	// sees the secret or the request path.
	Logger *slog.Logger
	// Metrics, if not nil, counts requests by result.
	Metrics *Metrics
}

// WebhookStats are reported in <base>/bridge/info.
//
// Accepted counts pushes on the secret path answered with success: those
// delivered and the well-formed ones of a kind the bridge does not use
// (sifely.ErrUnknownWebhook: accepted but ignored). The cloud's empty test
// request counts in neither field. Rejected counts requests on the secret
// path answered with an error status (405, 413, 400, 503, 500); requests on
// other paths are not counted here, only in Metrics, so that scanners do not
// make a working webhook look broken. LastPush is when the last accepted push
// arrived (zero if none).
type WebhookStats struct {
	LastPush           time.Time
	Accepted, Rejected int64
}

// WebhookHandler is the http.Handler of the webhook endpoint. It checks the
// secret path, bounds the body and the concurrency, parses the push with
// sifely.ParseWebhook and hands it to the deliver function. A webhook never
// causes a command: it only reports what the cloud saw.
type WebhookHandler struct {
	secretSum [sha256.Size]byte
	hasSecret bool
	maxBody   int64
	slots     chan struct{}
	log       *slog.Logger
	metrics   *Metrics
	deliver   func(sifely.Notification)

	lastPush atomic.Int64 // unix nanoseconds; 0 = never
	accepted atomic.Int64
	rejected atomic.Int64
}

// NewWebhookHandler returns the webhook handler. deliver is called with every
// good push, on the request's goroutine; it must not block (the bridge hands
// the notification off and returns).
func NewWebhookHandler(o WebhookOptions, deliver func(sifely.Notification)) *WebhookHandler {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultWebhookMaxBodyBytes
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultWebhookMaxConcurrent
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if deliver == nil {
		deliver = func(sifely.Notification) {}
	}
	return &WebhookHandler{
		// Comparing digests of the secret and of the requested suffix keeps
		// the comparison constant in time and independent of the secret's
		// length.
		secretSum: sha256.Sum256([]byte(o.Secret.Reveal())),
		hasSecret: !o.Secret.IsZero(),
		maxBody:   o.MaxBodyBytes,
		slots:     make(chan struct{}, o.MaxConcurrent),
		log:       o.Logger,
		metrics:   o.Metrics,
		deliver:   deliver,
	}
}

// Stats returns the handler's counters.
func (h *WebhookHandler) Stats() WebhookStats {
	s := WebhookStats{
		Accepted: h.accepted.Load(),
		Rejected: h.rejected.Load(),
	}
	if ns := h.lastPush.Load(); ns != 0 {
		s.LastPush = time.Unix(0, ns)
	}
	return s
}

// authorized reports whether path is the secret path, in time that does not
// depend on the secret.
func (h *WebhookHandler) authorized(path string) bool {
	suffix, ok := strings.CutPrefix(path, webhookPathPrefix)
	sum := sha256.Sum256([]byte(suffix))
	match := subtle.ConstantTimeCompare(sum[:], h.secretSum[:]) == 1
	return ok && h.hasSecret && match
}

// ServeHTTP implements http.Handler.
func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r.URL.Path) {
		// No detail, no path in the log: the path may hold a near-miss of
		// the secret.
		h.metrics.webhookRequest(WebhookUnauthorized)
		h.log.Debug("webhook request on unknown path", "remote_addr", r.RemoteAddr, "method", r.Method)
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		h.reject(WebhookRejected)
		h.log.Warn("webhook request with wrong method", "remote_addr", r.RemoteAddr, "method", r.Method)
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		h.reject(WebhookRejected)
		h.log.Warn("webhook request over the concurrency limit", "remote_addr", r.RemoteAddr)
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	defer h.recoverPanic(w, r)
	h.serveSecretPost(w, r)
}

// serveSecretPost handles a POST on the secret path.
func (h *WebhookHandler) serveSecretPost(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.reject(WebhookTooLarge)
			h.log.Warn("webhook body too large", "remote_addr", r.RemoteAddr, "max_bytes", h.maxBody)
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		h.reject(WebhookBadRequest)
		h.log.Warn("webhook body unreadable", "remote_addr", r.RemoteAddr, "err", err)
		http.Error(w, "bad request: body unreadable", http.StatusBadRequest)
		return
	}
	n, err := sifely.ParseWebhook(r.Header.Get("Content-Type"), body)
	switch {
	case errors.Is(err, sifely.ErrEmptyWebhook):
		h.metrics.webhookRequest(WebhookEmpty)
		h.log.Info("webhook test request answered", "remote_addr", r.RemoteAddr)
		writeSuccess(w)
	case errors.Is(err, sifely.ErrUnknownWebhook):
		h.accept(WebhookIgnored)
		h.log.Info("webhook push of unknown kind ignored", "remote_addr", r.RemoteAddr, "body_bytes", len(body))
		writeSuccess(w)
	case err != nil:
		h.reject(WebhookBadRequest)
		h.log.Warn("webhook body rejected", "remote_addr", r.RemoteAddr, "body_bytes", len(body), "reason", redactQuoted(err.Error()))
		http.Error(w, "bad request: unparsable webhook body", http.StatusBadRequest)
	default:
		h.deliver(n)
		h.accept(WebhookAccepted)
		h.log.Debug("webhook push delivered", "remote_addr", r.RemoteAddr, "notify_type", n.NotifyType, "lock_id", n.LockID, "records", len(n.Records))
		writeSuccess(w)
	}
}

// recoverPanic answers 500 and logs the stack when the handler panics;
// http.ErrAbortHandler is passed on, as net/http expects.
func (h *WebhookHandler) recoverPanic(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler { //nolint:errorlint // net/http panics with the sentinel itself.
		panic(v)
	}
	h.reject(WebhookError)
	h.log.Error("webhook handler panic", "remote_addr", r.RemoteAddr, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// accept records an accepted push.
func (h *WebhookHandler) accept(result string) {
	h.accepted.Add(1)
	h.lastPush.Store(time.Now().UnixNano())
	h.metrics.webhookRequest(result)
}

// reject records a request on the secret path answered with an error.
func (h *WebhookHandler) reject(result string) {
	h.rejected.Add(1)
	h.metrics.webhookRequest(result)
}

// writeSuccess writes the answer the cloud expects: 200 with the body
// "success".
func writeSuccess(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "success")
}

// maxReasonLen bounds a logged parse error.
const maxReasonLen = 200

// redactQuoted shortens a parse error for the log and replaces every
// double-quoted part (where strconv and friends quote the offending input,
// which may be a passcode) with "…".
func redactQuoted(s string) string {
	var b strings.Builder
	for {
		before, rest, ok := strings.Cut(s, `"`)
		b.WriteString(before)
		if !ok {
			break
		}
		_, after, ok := strings.Cut(rest, `"`)
		b.WriteString(`"…"`)
		if !ok {
			break
		}
		s = after
	}
	out := b.String()
	if len(out) > maxReasonLen {
		out = strings.ToValidUTF8(out[:maxReasonLen], "") + "…"
	}
	return out
}

// NewWebhookServer returns the HTTP server for the webhook handler, with
// timeouts that bound a slow or stalled client.
func NewWebhookServer(listen string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              listen,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}
