package sifelytest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestFaults(t *testing.T) {
	tests := []struct {
		name        string
		fault       Fault
		wantStatus  int
		wantInBody  string
		wantJSON    bool
		wantCodeKey string // "errcode" or "code"
		wantCode    int64
	}{
		{"http 500", Fault{HTTPStatus: 500, Message: "boom"}, 500, `"error":"Internal Server Error"`, true, "", 0},
		{"http 502 html", Fault{HTTPStatus: 502}, 502, "<h1>502 Bad Gateway</h1>", false, "", 0},
		{"http 429", Fault{HTTPStatus: 429}, 429, "Too Many Requests", true, "", 0},
		{"errcode", Fault{Code: 90000, Message: "internal error"}, 200, `"errmsg":"internal error"`, true, "errcode", 90000},
		{"wrapped code", Fault{Code: -2012, Message: "no gateway", Wrapped: true}, 200, `"msg":"no gateway"`, true, "code", -2012},
		{"malformed", Fault{Malformed: true}, 200, `{"errcode":0,"list":[{`, false, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(t, baseOptions())
			s.Inject("/v3/lock/list", tt.fault)
			a := do(t, s, request{method: http.MethodPost, path: "/v3/lock/list", query: q("pageNo", "1", "pageSize", "10"), auth: "sk-test-key"})
			if a.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", a.status, tt.wantStatus)
			}
			if !strings.Contains(a.body, tt.wantInBody) {
				t.Errorf("body %q lacks %q", a.body, tt.wantInBody)
			}
			if got := json.Valid([]byte(a.body)); got != tt.wantJSON {
				t.Errorf("body is JSON = %v, want %v", got, tt.wantJSON)
			}
			if tt.wantCodeKey != "" {
				if got := a.num(tt.wantCodeKey); got != tt.wantCode {
					t.Errorf("%s = %d, want %d", tt.wantCodeKey, got, tt.wantCode)
				}
			}
			// Only one call was affected.
			if got := do(t, s, request{method: http.MethodPost, path: "/v3/lock/list", query: q("pageNo", "1", "pageSize", "10"), auth: "sk-test-key"}); len(got.list()) != 3 {
				t.Errorf("call after the fault: %s", got.body)
			}
		})
	}
}

func TestFaultTimesAndQueue(t *testing.T) {
	s := New(t, baseOptions())
	s.Inject("/v3/lock/detail", Fault{Times: 2, Code: -3003, Message: "gateway busy"})
	s.Inject("/v3/lock/detail", Fault{HTTPStatus: 503})
	var got []string
	for range 4 {
		a := do(t, s, request{method: http.MethodGet, path: "/v3/lock/detail", query: q("lockId", "7100001"), auth: "sk-test-key"})
		switch {
		case a.status == 503:
			got = append(got, "503")
		case a.num("errcode") == -3003:
			got = append(got, "busy")
		case a.num("lockId") == 7100001:
			got = append(got, "ok")
		default:
			got = append(got, a.body)
		}
	}
	if want := "busy busy 503 ok"; strings.Join(got, " ") != want {
		t.Errorf("answers = %v, want %s", got, want)
	}
	if got := s.Calls("/v3/lock/detail"); got != 4 {
		t.Errorf("Calls = %d, want 4", got)
	}
}

func TestFaultDelay(t *testing.T) {
	t.Run("answers normally after the delay", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newInProcess(t, baseOptions())
			s.Inject("/v3/lock/detail", Fault{Delay: 3 * time.Second})
			start := time.Now()
			a := do(t, s, request{method: http.MethodGet, path: "/v3/lock/detail", query: q("lockId", "7100001"), auth: "sk-test-key"})
			if got, want := time.Since(start), 3*time.Second; got != want {
				t.Errorf("took %v, want %v", got, want)
			}
			if a.num("lockId") != 7100001 {
				t.Errorf("body = %s", a.body)
			}
		})
	})
	t.Run("error after the delay", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newInProcess(t, baseOptions())
			s.Inject("/v3/lock/detail", Fault{Delay: time.Second, HTTPStatus: 504})
			start := time.Now()
			a := do(t, s, request{method: http.MethodGet, path: "/v3/lock/detail", query: q("lockId", "7100001"), auth: "sk-test-key"})
			if a.status != 504 || time.Since(start) != time.Second {
				t.Errorf("status %d after %v, want 504 after 1s", a.status, time.Since(start))
			}
		})
	})
	t.Run("respects the request context", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newInProcess(t, baseOptions())
			s.Inject("/v3/lock/detail", Fault{Delay: time.Hour})
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			a := send(ctx, t, s, request{method: http.MethodGet, path: "/v3/lock/detail", query: q("lockId", "7100001"), auth: "sk-test-key"})
			if !errors.Is(a.err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want deadline exceeded", a.err)
			}
			synctest.Wait()
			log := s.CallLog()
			if len(log) != 1 || log[0].End.Sub(log[0].Start) != time.Second {
				t.Errorf("handler did not stop with the request: %+v", log)
			}
		})
	})
	t.Run("holds the gateway on gateway operations", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newInProcess(t, baseOptions())
			s.Inject("/v3/lock/unlock", Fault{Delay: 10 * time.Second})
			var wg sync.WaitGroup
			wg.Go(func() {
				do(t, s, request{method: http.MethodPost, path: "/v3/lock/unlock", query: q("lockId", "7100001"), auth: "sk-test-key"})
			})
			synctest.Wait()
			if got := do(t, s, request{method: http.MethodGet, path: "/v3/lock/queryOpenState", query: q("lockId", "7100002"), auth: "sk-test-key"}).num("errcode"); got != -3003 {
				t.Errorf("state query during slow unlock: errcode %d, want -3003", got)
			}
			wg.Wait()
			if got := s.State(7100001); got != StateUnlocked {
				t.Errorf("state = %d, want unlocked", got)
			}
		})
	})
}

func TestRateLimit(t *testing.T) {
	tests := []struct {
		name       string
		auth       func(*testing.T, *Server) string
		wantStatus int
		wantCode   string
		wantValue  int64
	}{
		{"legacy", login, 200, "errcode", 30006},
		{"open api", func(*testing.T, *Server) string { return "sk-test-key" }, 429, "code", 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			opts := baseOptions()
			opts.Now = clock.Now
			opts.RateLimitPerMinute = 3
			s := New(t, opts)
			auth := tt.auth(t, s) // a legacy login is one call of the budget
			call := func() answer {
				return do(t, s, request{method: http.MethodGet, path: "/v3/lock/detail", query: q("lockId", "7100001"), auth: auth})
			}
			for s.Calls("/v3/lock/detail")+s.Calls("/system/smart/login") < 3 {
				if a := call(); a.num("lockId") != 7100001 {
					t.Fatalf("call within the limit: %s", a.body)
				}
				clock.Advance(10 * time.Second)
			}
			a := call()
			if a.status != tt.wantStatus || a.num(tt.wantCode) != tt.wantValue {
				t.Fatalf("over the limit: status %d body %s; want %d with %s %d", a.status, a.body, tt.wantStatus, tt.wantCode, tt.wantValue)
			}
			if tt.wantStatus == 429 && a.header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			clock.Advance(time.Minute)
			if a := call(); a.num("lockId") != 7100001 {
				t.Errorf("after the window: %s", a.body)
			}
		})
	}
}

// FuzzServeHTTP sends arbitrary requests; every answer must be a
// well-formed HTTP response with a known status and, for JSON, valid JSON.
func FuzzServeHTTP(f *testing.F) {
	f.Add("GET", "/v3/lock/detail", "lockId=7100001", "", "sk-test-key")
	f.Add("POST", "/v3/lock/list", "pageNo=1&pageSize=2", "pageNo=1", "Bearer x")
	f.Add("POST", "/system/smart/login", "", `{"account":"owner@example.com","password":"x"}`, "")
	f.Add("POST", "/v3/lock/unlock", "lockId=-1", "", "sk-test-key")
	f.Add("GET", "/v3/lockRecord/list", "lockId=7100001&pageNo=9223372036854775807&pageSize=9223372036854775807&startDate=-1", "", "sk-test-key")
	f.Fuzz(func(t *testing.T, method, path, query, body, auth string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?# \r\n") || method == "" || strings.ContainsAny(method, " \r\n\t") {
			t.Skip()
		}
		s := NewServer(Options{Account: testAccount, Password: testPassword, APIKey: "sk-test-key", Locks: DemoLocks(), InProcess: true})
		defer s.Close()
		req := httptest.NewRequest(http.MethodGet, "/", strings.NewReader(body))
		req.Method = method
		req.URL.Path = path
		req.URL.RawQuery = query
		req.Header.Set("Authorization", auth)
		if strings.HasPrefix(body, "{") {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if http.StatusText(rec.Code) == "" {
			t.Fatalf("status %d", rec.Code)
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("invalid JSON: %q", rec.Body.String())
		}
	})
}
