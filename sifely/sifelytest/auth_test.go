package sifelytest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLegacyLogin(t *testing.T) {
	opts := baseOptions()
	opts.ClientID = "cid-1"
	opts.TokenTTL = 2 * time.Hour
	s := New(t, opts)
	tests := []struct {
		name       string
		query      map[string]string
		wantCode   int64
		wantExpiry string
	}{
		{"md5", map[string]string{"client_id": "cid-1", "username": testAccount, "password": md5Hex(testPassword)}, 200, "7200"},
		{"md5 upper case", map[string]string{"client_id": "cid-1", "username": testAccount, "password": strings.ToUpper(md5Hex(testPassword))}, 200, "7200"},
		{"plaintext", map[string]string{"client_id": "cid-1", "username": testAccount, "password": testPassword}, 200, "7200"},
		{"bad password", map[string]string{"client_id": "cid-1", "username": testAccount, "password": md5Hex("nope")}, 10007, ""},
		{"unknown account", map[string]string{"client_id": "cid-1", "username": "x@example.com", "password": md5Hex(testPassword)}, 10007, ""},
		{"wrong client", map[string]string{"client_id": "other", "username": testAccount, "password": md5Hex(testPassword)}, 10001, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := q()
			for k, val := range tt.query {
				v.Set(k, val)
			}
			a := do(t, s, request{method: http.MethodPost, path: "/system/smart/login", query: v})
			if got := a.num("code"); got != tt.wantCode {
				t.Fatalf("code = %d, want %d; body %s", got, tt.wantCode, a.body)
			}
			if tt.wantCode != 200 {
				return
			}
			data, _ := a.obj["data"].(map[string]any)
			if got := data["expires_in"]; got != tt.wantExpiry {
				t.Errorf("expires_in = %#v, want string %q", got, tt.wantExpiry)
			}
			if a.obj["message"] != "Operation success!" {
				t.Errorf("message = %v", a.obj["message"])
			}
			tok, _ := data["token"].(string)
			if tok == "" || data["refreshToken"] == "" {
				t.Fatalf("missing tokens in %s", a.body)
			}
			// The token works on a v3 call.
			got := do(t, s, request{method: http.MethodPost, path: "/v3/lock/list", query: q("pageNo", "1", "pageSize", "10"), auth: tok})
			if got.obj["list"] == nil {
				t.Errorf("lock list with fresh token: %s", got.body)
			}
		})
	}
}

func TestAuthorizationForms(t *testing.T) {
	s := New(t, baseOptions())
	tok := login(t, s)
	tests := []struct {
		name       string
		auth       string
		wantStatus int
		wantCode   int64 // errcode or code; -999999 = absent
	}{
		{"raw token", tok, 200, -999999},
		{"bearer token", "Bearer " + tok, 200, -999999},
		{"raw api key", "sk-test-key", 200, -999999},
		{"bearer api key", "Bearer sk-test-key", 401, 401},
		{"wrong api key", "sk-wrong", 401, 401},
		{"unknown token", "Bearer eyJnope", 200, 10004},
		{"missing", "", 200, 10003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, s, request{method: http.MethodGet, path: "/v3/lock/detail", query: q("lockId", "7100001"), auth: tt.auth})
			if a.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", a.status, tt.wantStatus)
			}
			code := a.num("errcode")
			if code == -999999 {
				code = a.num("code")
			}
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d; body %s", code, tt.wantCode, a.body)
			}
		})
	}
}

func TestTokenExpiryAndRefresh(t *testing.T) {
	clock := newFakeClock()
	opts := baseOptions()
	opts.Now = clock.Now
	opts.TokenTTL = time.Hour
	s := New(t, opts)

	a := do(t, s, request{method: http.MethodPost, path: "/system/smart/login",
		query: q("username", testAccount, "password", md5Hex(testPassword))})
	data, _ := a.obj["data"].(map[string]any)
	tok, _ := data["token"].(string)
	refresh, _ := data["refreshToken"].(string)

	detail := func(auth string) int64 {
		t.Helper()
		return do(t, s, request{method: http.MethodGet, path: "/v3/lock/detail", query: q("lockId", "7100001"), auth: auth}).num("errcode")
	}
	if got := detail(tok); got != -999999 {
		t.Fatalf("fresh token: errcode %d", got)
	}
	clock.Advance(time.Hour)
	if got, want := detail(tok), int64(10004); got != want {
		t.Fatalf("after TTL: errcode %d, want %d", got, want)
	}

	r := do(t, s, request{method: http.MethodPost, path: "/system/smart/oauthToken",
		query: q("client_id", "any", "grant_type", "refresh_token", "refresh_token", refresh)})
	access, _ := r.obj["access_token"].(string)
	if access == "" || r.obj["refresh_token"] == "" || r.num("expires_in") != 3600 {
		t.Fatalf("refresh answer: %s", r.body)
	}
	if _, wrapped := r.obj["data"]; wrapped {
		t.Errorf("refresh answer is wrapped: %s", r.body)
	}
	if got := detail("Bearer " + access); got != -999999 {
		t.Fatalf("refreshed token: errcode %d", got)
	}

	// A refresh token is good for one use.
	again := do(t, s, request{method: http.MethodPost, path: "/system/smart/oauthToken",
		query: q("grant_type", "refresh_token", "refresh_token", refresh)})
	if got, want := again.num("errcode"), int64(10011); got != want {
		t.Errorf("reused refresh token: errcode %d, want %d", got, want)
	}

	s.ExpireTokens()
	if got, want := detail("Bearer "+access), int64(10004); got != want {
		t.Errorf("after ExpireTokens: errcode %d, want %d", got, want)
	}
	if got := detail("sk-test-key"); got != -999999 {
		t.Errorf("api key after ExpireTokens: errcode %d", got)
	}
}

func TestOpenAPILogin(t *testing.T) {
	tests := []struct {
		name      string
		unwrapped bool
		body      string
		wantHTTP  int
		wantKey   string
	}{
		{"wrapped", false, `{"account":"owner@example.com","password":"` + md5Hex(testPassword) + `"}`, 200, "sk-test-key"},
		{"unwrapped", true, `{"account":"owner@example.com","password":"` + md5Hex(testPassword) + `"}`, 200, "sk-test-key"},
		{"plaintext refused", false, `{"account":"owner@example.com","password":"` + testPassword + `"}`, 401, ""},
		{"bad json", false, `{"account":`, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions()
			opts.OpenAPILoginUnwrapped = tt.unwrapped
			s := New(t, opts)
			a := do(t, s, request{method: http.MethodPost, path: "/system/smart/login", jsonBody: tt.body})
			if a.status != tt.wantHTTP {
				t.Fatalf("status = %d, want %d; body %s", a.status, tt.wantHTTP, a.body)
			}
			if tt.wantKey == "" {
				return
			}
			obj := a.obj
			if !tt.unwrapped {
				if a.num("code") != 200 {
					t.Fatalf("wrapped login: %s", a.body)
				}
				obj, _ = a.obj["data"].(map[string]any)
			}
			if got := obj["clientToken"]; got != tt.wantKey {
				t.Errorf("clientToken = %v, want %s", got, tt.wantKey)
			}
			if got := obj["plan"]; got != "DEVELOPER" {
				t.Errorf("plan = %v", got)
			}
		})
	}
}

func TestLoginByGuest(t *testing.T) {
	opts := baseOptions()
	opts.ClientID = "cid-42"
	s := New(t, opts)
	tests := []struct {
		name       string
		user, pass string
		wantStatus int
	}{
		{"ok", testAccount, md5Hex(testPassword), 200},
		{"bad password", testAccount, md5Hex("x"), 401},
		{"unknown user", "nobody@example.com", md5Hex(testPassword), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, s, request{method: http.MethodPost, path: "/system/smart/loginByGuest", form: q("username", tt.user, "password", tt.pass)})
			if a.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", a.status, tt.wantStatus, a.body)
			}
			if tt.wantStatus != 200 {
				return
			}
			data, _ := a.obj["data"].(map[string]any)
			if got := data["clientId"]; got != "cid-42" {
				t.Errorf("clientId = %v, want cid-42", got)
			}
			tok, _ := data["sifelyToken"].(string)
			got := do(t, s, request{method: http.MethodGet, path: "/v3/lock/queryOpenState", query: q("lockId", "7100001"), auth: tok})
			if got.num("state") != StateLocked {
				t.Errorf("sifelyToken does not work raw: %s", got.body)
			}
		})
	}
}
