package bridge

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
)

const (
	testSecret  = "s3cr3t-T0ken_4-webhooks"
	formType    = "application/x-www-form-urlencoded"
	jsonType    = "application/json"
	testLockID  = 7252408
	testLockMAC = "16:72:4C:CC:01:C4"
)

// testRecordsJSON is the records array of a TTLock push: one card unlock.
const testRecordsJSON = `[{"lockId":7252408,"lockMac":"16:72:4C:CC:01:C4","recordType":7,` +
	`"recordTypeFromLock":17,"success":1,"username":"Card A","keyboardPwd":"",` +
	`"lockDate":1680810186000,"serverDate":1680810180029,"electricQuantity":93}]`

// formPush returns a form-encoded records push as the TTLock cloud sends it.
func formPush() string {
	v := url.Values{}
	v.Set("notifyType", "1")
	v.Set("lockId", fmt.Sprint(testLockID))
	v.Set("lockMac", testLockMAC)
	v.Set("admin", "owner@example.com")
	v.Set("records", testRecordsJSON)
	return v.Encode()
}

// jsonPush returns the same push as a JSON body.
func jsonPush() string {
	return fmt.Sprintf(`{"notifyType":1,"lockId":%d,"lockMac":%q,"records":%s}`, testLockID, testLockMAC, testRecordsJSON)
}

// deliveries records the notifications a handler delivers.
type deliveries struct {
	mu  sync.Mutex
	got []sifely.Notification
}

func (d *deliveries) deliver(n sifely.Notification) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, n)
}

func (d *deliveries) all() []sifely.Notification {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]sifely.Notification(nil), d.got...)
}

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startWebhookFunc serves a webhook handler with the given deliver function
// over real HTTP and returns the server's URL.
func startWebhookFunc(t *testing.T, o WebhookOptions, deliver func(sifely.Notification)) string {
	t.Helper()
	if o.Secret == "" {
		o.Secret = testSecret
	}
	srv := httptest.NewServer(NewWebhookHandler(o, deliver))
	t.Cleanup(srv.Close)
	return srv.URL
}

// startWebhook serves a webhook handler over real HTTP and returns the
// server's URL, the handler and its deliveries.
func startWebhook(t *testing.T, o WebhookOptions) (string, *WebhookHandler, *deliveries) {
	t.Helper()
	if o.Secret == "" {
		o.Secret = testSecret
	}
	d := &deliveries{}
	h := NewWebhookHandler(o, d.deliver)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, h, d
}

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends one request and reads the whole answer.
func do(t *testing.T, method, target, contentType string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, target, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

// post POSTs body to base+path.
func post(t *testing.T, base, path, contentType, body string) response {
	t.Helper()
	return do(t, http.MethodPost, base+path, contentType, strings.NewReader(body))
}

// wantSuccess fails unless r is the cloud's expected answer.
func wantSuccess(t *testing.T, r response) {
	t.Helper()
	if r.status != http.StatusOK || r.body != "success" {
		t.Fatalf("answer = %d %q, want 200 %q", r.status, r.body, "success")
	}
	mt, _, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "text/plain" {
		t.Errorf("Content-Type = %q, want text/plain", r.header.Get("Content-Type"))
	}
}

// wantNothingDelivered fails if d received any notification.
func wantNothingDelivered(t *testing.T, d *deliveries) {
	t.Helper()
	if got := d.all(); len(got) != 0 {
		t.Errorf("delivered %d notifications, want none: %+v", len(got), got)
	}
}

const secretPath = "/webhook/" + testSecret

func TestWebhookDeliversPushes(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
	}{
		{"form", formType, formPush()},
		{"form with charset", formType + "; charset=utf-8", formPush()},
		{"json", jsonType, jsonPush()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, h, d := startWebhook(t, WebhookOptions{})
			before := time.Now()

			wantSuccess(t, post(t, base, secretPath, tt.contentType, tt.body))

			got := d.all()
			if len(got) != 1 {
				t.Fatalf("delivered %d notifications, want 1", len(got))
			}
			n := got[0]
			if n.NotifyType != sifely.NotifyRecords || n.LockID != testLockID {
				t.Errorf("notification = type %d lock %d, want type %d lock %d", n.NotifyType, n.LockID, sifely.NotifyRecords, testLockID)
			}
			if len(n.Records) != 1 {
				t.Fatalf("records = %d, want 1", len(n.Records))
			}
			r := n.Records[0]
			if r.LockID != testLockID || r.Type != 7 || !r.Success || r.Username != "Card A" {
				t.Errorf("record = %+v, want lock %d type 7 success by %q", r, testLockID, "Card A")
			}
			st := h.Stats()
			if st.Accepted != 1 || st.Rejected != 0 {
				t.Errorf("stats = %+v, want 1 accepted, 0 rejected", st)
			}
			if st.LastPush.Before(before) {
				t.Errorf("LastPush = %v, want at or after %v", st.LastPush, before)
			}
		})
	}
}

func TestWebhookEmptyBodyAnswersSuccess(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
	}{
		{"no content type", "", ""},
		{"form", formType, ""},
		{"json", jsonType, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, h, d := startWebhook(t, WebhookOptions{})

			wantSuccess(t, post(t, base, secretPath, tt.contentType, tt.body))

			wantNothingDelivered(t, d)
			if got, want := h.Stats(), (WebhookStats{}); got != want {
				t.Errorf("stats = %+v, want %+v", got, want)
			}
		})
	}
}

func TestWebhookUnknownPushIsIgnored(t *testing.T) {
	base, h, d := startWebhook(t, WebhookOptions{})

	wantSuccess(t, post(t, base, secretPath, formType, "notifyType=99&lockId=7252408"))

	wantNothingDelivered(t, d)
	st := h.Stats()
	if st.Accepted != 1 || st.Rejected != 0 || st.LastPush.IsZero() {
		t.Errorf("stats = %+v, want 1 accepted (ignored), 0 rejected, a LastPush", st)
	}
}

func TestWebhookOtherPathsNotFound(t *testing.T) {
	paths := []string{
		"/",
		"/webhook",
		"/webhook/",
		"/webhook/wrong",
		"/webhook/" + testSecret[:len(testSecret)-1],
		"/webhook/" + testSecret[:1],
		"/webhook/" + testSecret + "x",
		"/webhook/" + testSecret + "/",
		"/webhook/" + testSecret + "/extra",
		"/webhook/" + strings.ToUpper(testSecret),
		"/Webhook/" + testSecret,
		"/webhook//" + testSecret,
		"/x/webhook/" + testSecret,
		"/" + testSecret,
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			base, h, d := startWebhook(t, WebhookOptions{})

			for _, method := range []string{http.MethodPost, http.MethodGet} {
				r := do(t, method, base+p, formType, strings.NewReader(formPush()))
				if r.status != http.StatusNotFound {
					t.Errorf("%s status = %d, want 404", method, r.status)
				}
				if strings.Contains(r.body, testSecret[:8]) {
					t.Errorf("%s answer %q shows the secret", method, r.body)
				}
			}
			wantNothingDelivered(t, d)
			if got, want := h.Stats(), (WebhookStats{}); got != want {
				t.Errorf("stats = %+v, want %+v", got, want)
			}
		})
	}
}

func TestWebhookWithoutSecretServesNothing(t *testing.T) {
	d := &deliveries{}
	srv := httptest.NewServer(NewWebhookHandler(WebhookOptions{}, d.deliver))
	t.Cleanup(srv.Close)

	for _, p := range []string{"/webhook/", "/webhook", "/"} {
		if r := post(t, srv.URL, p, formType, formPush()); r.status != http.StatusNotFound {
			t.Errorf("POST %s status = %d, want 404", p, r.status)
		}
	}
	wantNothingDelivered(t, d)
}

func TestWebhookSecretPathIgnoresQuery(t *testing.T) {
	base, _, d := startWebhook(t, WebhookOptions{})

	wantSuccess(t, post(t, base, secretPath+"?x=1", formType, formPush()))

	if got := len(d.all()); got != 1 {
		t.Errorf("delivered %d notifications, want 1", got)
	}
}

func TestWebhookWrongMethod(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		t.Run(method, func(t *testing.T) {
			base, h, d := startWebhook(t, WebhookOptions{})

			r := do(t, method, base+secretPath, formType, strings.NewReader(formPush()))

			if r.status != http.StatusMethodNotAllowed {
				t.Errorf("status = %d, want 405", r.status)
			}
			if got := r.header.Get("Allow"); got != http.MethodPost {
				t.Errorf("Allow = %q, want %q", got, http.MethodPost)
			}
			wantNothingDelivered(t, d)
			if got := h.Stats().Rejected; got != 1 {
				t.Errorf("rejected = %d, want 1", got)
			}
		})
	}
}

func TestWebhookBodyLimit(t *testing.T) {
	t.Run("default limit", func(t *testing.T) {
		base, h, d := startWebhook(t, WebhookOptions{})
		body := formPush() + "&pad=" + strings.Repeat("a", 70<<10)

		r := post(t, base, secretPath, formType, body)

		if r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("status = %d, want 413", r.status)
		}
		wantNothingDelivered(t, d)
		if got := h.Stats().Rejected; got != 1 {
			t.Errorf("rejected = %d, want 1", got)
		}
	})
	tests := []struct {
		name       string
		max        int64
		wantStatus int
	}{
		{"body at the limit", int64(len(formPush())), http.StatusOK},
		{"body one byte over", int64(len(formPush())) - 1, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, _, d := startWebhook(t, WebhookOptions{MaxBodyBytes: tt.max})

			r := post(t, base, secretPath, formType, formPush())

			if r.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", r.status, tt.wantStatus)
			}
			wantDelivered := 0
			if tt.wantStatus == http.StatusOK {
				wantDelivered = 1
			}
			if got := len(d.all()); got != wantDelivered {
				t.Errorf("delivered %d, want %d", got, wantDelivered)
			}
		})
	}
}

func TestWebhookBadRequest(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
	}{
		{"json garbage", jsonType, `{"notifyType":1,"lockId":`},
		{"json not an object", jsonType, `[1,2,3`},
		{"form bad escape", formType, "notifyType=1&lockId=%zz"},
		{"form records not json", formType, "notifyType=1&lockId=7252408&records=[{not-json-CANARY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, h, d := startWebhook(t, WebhookOptions{})

			r := post(t, base, secretPath, tt.contentType, tt.body)

			if r.status != http.StatusBadRequest {
				t.Errorf("status = %d (%q), want 400", r.status, r.body)
			}
			if strings.Contains(r.body, tt.body) || strings.Contains(r.body, "CANARY") {
				t.Errorf("answer %q echoes the body", r.body)
			}
			wantNothingDelivered(t, d)
			if got := h.Stats().Rejected; got != 1 {
				t.Errorf("rejected = %d, want 1", got)
			}
		})
	}
}

func TestWebhookConcurrencyLimit(t *testing.T) {
	const limit = 2
	entered := make(chan struct{})
	release := make(chan struct{})
	base := startWebhookFunc(t, WebhookOptions{MaxConcurrent: limit}, func(sifely.Notification) {
		select {
		case <-release: // released: deliver at once
		default:
			entered <- struct{}{}
			<-release
		}
	})

	var wg sync.WaitGroup
	statuses := make(chan int, limit)
	for range limit {
		wg.Go(func() {
			// t.Fatal must not run off the test goroutine: report by status.
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+secretPath, strings.NewReader(formPush()))
			if err != nil {
				statuses <- -1
				return
			}
			req.Header.Set("Content-Type", formType)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- -1
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			statuses <- res.StatusCode
		})
	}
	for range limit {
		<-entered // every slot is now held by a request inside deliver
	}

	r := post(t, base, secretPath, formType, formPush())
	close(release)
	wg.Wait()
	close(statuses)

	if r.status != http.StatusServiceUnavailable {
		t.Errorf("request over the limit: status = %d, want 503", r.status)
	}
	for s := range statuses {
		if s != http.StatusOK {
			t.Errorf("request within the limit: status = %d, want 200", s)
		}
	}
	// The slots are free again.
	wantSuccess(t, post(t, base, secretPath, formType, formPush()))
}

func TestWebhookRecoversPanic(t *testing.T) {
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	var calls int
	var mu sync.Mutex
	h := NewWebhookHandler(WebhookOptions{Secret: testSecret, Logger: log}, func(sifely.Notification) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			panic("deliver exploded")
		}
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	r := post(t, srv.URL, secretPath, formType, formPush())
	if r.status != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", r.status)
	}
	if got := h.Stats().Rejected; got != 1 {
		t.Errorf("rejected = %d, want 1", got)
	}
	out := logs.String()
	for _, want := range []string{`"level":"ERROR"`, `"msg":"webhook handler panic"`, `"panic":"deliver exploded"`, `"stack":"goroutine`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	// The server goes on serving.
	wantSuccess(t, post(t, srv.URL, secretPath, formType, formPush()))
}

func TestWebhookNeverLogsSecret(t *testing.T) {
	const canary = "CANARY-7f3e9a1c5b2d4e6f"
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var once sync.Once
	h := NewWebhookHandler(WebhookOptions{Secret: canary, Logger: log, MaxBodyBytes: 1 << 10}, func(sifely.Notification) {
		once.Do(func() { panic("boom") })
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	good := "/webhook/" + canary

	requests := []struct {
		method, path, contentType, body string
	}{
		{http.MethodPost, good, formType, formPush()}, // panics in deliver
		{http.MethodPost, good, formType, formPush()},
		{http.MethodPost, good, jsonType, jsonPush()},
		{http.MethodPost, good, formType, ""},
		{http.MethodPost, good, formType, "notifyType=99&lockId=1"},
		{http.MethodPost, good, jsonType, "{garbage"},
		{http.MethodPost, good, formType, strings.Repeat("x", 2<<10)},
		{http.MethodGet, good, "", ""},
		{http.MethodPost, good + "x", formType, formPush()},
		{http.MethodPost, good[:len(good)-1], formType, formPush()},
		{http.MethodPost, "/webhook/", formType, formPush()},
	}
	for _, rq := range requests {
		do(t, rq.method, srv.URL+rq.path, rq.contentType, strings.NewReader(rq.body))
	}

	out := logs.String()
	if out == "" {
		t.Fatal("nothing logged; the test needs log lines to check")
	}
	for _, leak := range []string{canary, canary[:len(canary)-1], "/webhook/"} {
		if strings.Contains(out, leak) {
			t.Errorf("log contains %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{"remote_addr", "webhook body rejected", "webhook request on unknown path", "webhook handler panic"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestWebhookMetrics(t *testing.T) {
	m := NewMetrics()
	base, _, _ := startWebhook(t, WebhookOptions{Metrics: m, MaxBodyBytes: 1 << 10})

	post(t, base, secretPath, formType, formPush())
	post(t, base, secretPath, jsonType, jsonPush())
	post(t, base, secretPath, formType, "")
	post(t, base, secretPath, formType, "notifyType=99&lockId=1")
	post(t, base, secretPath, jsonType, "{garbage")
	post(t, base, secretPath, formType, strings.Repeat("x", 2<<10))
	post(t, base, "/webhook/nope", formType, formPush())
	do(t, http.MethodGet, base+secretPath, "", nil)

	want := map[string]float64{
		WebhookAccepted:     2,
		WebhookIgnored:      1,
		WebhookEmpty:        1,
		WebhookBadRequest:   1,
		WebhookTooLarge:     1,
		WebhookUnauthorized: 1,
		WebhookRejected:     1,
		WebhookError:        0,
	}
	got := counterValues(t, m, "sifely2mqtt_webhook_requests_total", "result")
	for result, w := range want {
		if got[result] != w {
			t.Errorf("webhook_requests_total{result=%q} = %v, want %v", result, got[result], w)
		}
	}
}

// counterValues gathers m and returns the values of the counter family name
// keyed by the value of label.
func counterValues(t *testing.T, m *Metrics, name, label string) map[string]float64 {
	t.Helper()
	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, metric := range f.GetMetric() {
			out[labelValue(metric, label)] = metric.GetCounter().GetValue()
		}
		return out
	}
	t.Fatalf("metric %s not gathered", name)
	return nil
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestWebhookRandomBodiesKeepServing(t *testing.T) {
	base, _, d := startWebhook(t, WebhookOptions{MaxBodyBytes: 4 << 10})
	rng := rand.New(rand.NewPCG(1, 2))
	contentTypes := []string{"", formType, jsonType, "text/plain", "multipart/form-data; boundary=x", "application/json; charset=utf-8", ";;;"}
	fragments := []string{"notifyType=", "1", "&", "lockId=", "7252408", "records=", "[", "]", "{", "}", `"`, ":", ",", "%", "%zz", "\x00", "\xff", "null", "lockMac", "="}

	for i := range 1000 {
		var b strings.Builder
		switch rng.IntN(3) {
		case 0: // random bytes
			for range rng.IntN(512) {
				b.WriteByte(byte(rng.IntN(256)))
			}
		case 1: // shaped like a push
			for range rng.IntN(40) {
				b.WriteString(fragments[rng.IntN(len(fragments))])
			}
		default: // sometimes over the limit
			b.WriteString(strings.Repeat("a", rng.IntN(8<<10)))
		}
		ct := contentTypes[rng.IntN(len(contentTypes))]
		r := post(t, base, secretPath, ct, b.String())
		switch r.status {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("random body %d (%q, %q): status %d, want 200, 400 or 413", i, ct, b.String(), r.status)
		}
	}
	before := len(d.all())

	wantSuccess(t, post(t, base, secretPath, formType, formPush()))

	got := d.all()
	if len(got) != before+1 || got[len(got)-1].LockID != testLockID {
		t.Errorf("after random bodies, the good push was not delivered: %d deliveries before, %d after", before, len(got))
	}
}

func TestNewWebhookServer(t *testing.T) {
	h := http.NotFoundHandler()
	s := NewWebhookServer(":8787", h)

	if s.Addr != ":8787" {
		t.Errorf("Addr = %q, want %q", s.Addr, ":8787")
	}
	if s.Handler == nil {
		t.Error("Handler is nil")
	}
	tests := []struct {
		name      string
		got, want time.Duration
	}{
		{"ReadHeaderTimeout", s.ReadHeaderTimeout, 5 * time.Second},
		{"ReadTimeout", s.ReadTimeout, 10 * time.Second},
		{"WriteTimeout", s.WriteTimeout, 10 * time.Second},
		{"IdleTimeout", s.IdleTimeout, 60 * time.Second},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if got, want := s.MaxHeaderBytes, 16<<10; got != want {
		t.Errorf("MaxHeaderBytes = %d, want %d", got, want)
	}
}

func TestRedactQuoted(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"plain error", "plain error"},
		{`strconv.ParseInt: parsing "1234567": invalid syntax`, `strconv.ParseInt: parsing "…": invalid syntax`},
		{`a "x" b "y" c`, `a "…" b "…" c`},
		{`open "unterminated`, `open "…"`},
		{strings.Repeat("é", 150), strings.Repeat("é", 100) + "…"},
	}
	for _, tt := range tests {
		if got := redactQuoted(tt.in); got != tt.want {
			t.Errorf("redactQuoted(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzWebhookHandler(f *testing.F) {
	f.Add(formType, []byte(formPush()))
	f.Add(jsonType, []byte(jsonPush()))
	f.Add("", []byte(""))
	f.Add(formType, []byte("notifyType=2&gatewayId=1&isOnline=1"))
	f.Add(jsonType, []byte(`{"notifyType":1,"lockId":"x","records":"[]"}`))
	f.Add("text/plain", []byte("\x00\xff"))
	h := NewWebhookHandler(WebhookOptions{Secret: testSecret}, func(n sifely.Notification) {})

	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, secretPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()

		h.ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusOK:
			if got := rec.Body.String(); got != "success" {
				t.Errorf("200 with body %q, want %q", got, "success")
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Errorf("status = %d, want 200, 400 or 413", rec.Code)
		}
	})
}
