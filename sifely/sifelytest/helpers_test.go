package sifelytest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAccount  = "owner@example.com"
	testPassword = "hunter2"
)

// answer is a decoded response.
type answer struct {
	status int
	header http.Header
	body   string
	obj    map[string]any // nil when the body is not a JSON object
	err    error          // transport error
}

// num reads a JSON number field (at the top or under data) as int64.
func (a answer) num(key string) int64 {
	if v, ok := a.obj[key].(float64); ok {
		return int64(v)
	}
	if d, ok := a.obj["data"].(map[string]any); ok {
		if v, ok := d[key].(float64); ok {
			return int64(v)
		}
	}
	return -999999
}

func (a answer) list() []map[string]any {
	raw, _ := a.obj["list"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, v := range raw {
		m, _ := v.(map[string]any)
		out = append(out, m)
	}
	return out
}

// request is one call to the simulator.
type request struct {
	method, path string
	query        url.Values
	form         url.Values // sent as a form body when set
	jsonBody     string
	auth         string
}

func send(ctx context.Context, t *testing.T, s *Server, r request) answer {
	t.Helper()
	u := s.URL() + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	ct := ""
	switch {
	case r.form != nil:
		body, ct = strings.NewReader(r.form.Encode()), "application/x-www-form-urlencoded"
	case r.jsonBody != "":
		body, ct = strings.NewReader(r.jsonBody), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	_ = json.Unmarshal(b, &a.obj)
	return a
}

func do(t *testing.T, s *Server, r request) answer {
	t.Helper()
	a := send(t.Context(), t, s, r)
	if a.err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, a.err)
	}
	return a
}

func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// login does a legacy login and returns the token.
func login(t *testing.T, s *Server) string {
	t.Helper()
	a := do(t, s, request{method: http.MethodPost, path: "/system/smart/login",
		query: q("client_id", s.opts.ClientID, "username", testAccount, "password", md5Hex(testPassword))})
	data, _ := a.obj["data"].(map[string]any)
	tok, _ := data["token"].(string)
	if tok == "" {
		t.Fatalf("login: no token in %s", a.body)
	}
	return tok
}

// fakeClock is a settable clock for tests that run over the network.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func baseOptions() Options {
	return Options{Account: testAccount, Password: testPassword, APIKey: "sk-test-key", Locks: DemoLocks()}
}
