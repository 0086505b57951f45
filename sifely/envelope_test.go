package sifely

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseEnvelopeErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   error // sentinel, or nil for a plain *APIError
		code   int
	}{
		{"token missing", 200, `{"errcode":10003,"errmsg":"access token is required"}`, ErrUnauthorized, 10003},
		{"token invalid", 200, `{"errcode":10004,"errmsg":"invalid access token"}`, ErrUnauthorized, 10004},
		{"bad credentials", 200, `{"code":10007,"msg":"Invalid account or password"}`, ErrBadCredentials, 10007},
		{"bad credentials on 401", 401, `{"code":10007,"msg":"Invalid account or password"}`, ErrBadCredentials, 10007},
		{"rate limit", 200, `{"errcode":30006,"errmsg":"too many"}`, ErrRateLimited, 30006},
		{"quota", 200, `{"errcode":"30007","errmsg":"monthly quota"}`, ErrRateLimited, 30007},
		{"rate limit code 429", 200, `{"code":429,"msg":"Too Many Requests"}`, ErrRateLimited, 429},
		{"gateway busy", 200, `{"errcode":-3003,"errmsg":"gateway busy"}`, ErrGatewayBusy, -3003},
		{"gateway busy wrapped", 200, `{"code":-3003,"message":"gateway busy"}`, ErrGatewayBusy, -3003},
		{"gateway offline", 200, `{"errcode":-3002,"errmsg":"gateway offline"}`, ErrGatewayOffline, -3002},
		{"offline text", 200, `{"errcode":1,"errmsg":"The gateway is Offline"}`, ErrGatewayOffline, 1},
		{"no gateway", 200, `{"code":-2012,"msg":"lock is not connected to any gateway"}`, ErrNoGateway, -2012},
		{"remote unlock off", 200, `{"errcode":-4043,"errmsg":"function not supported"}`, ErrRemoteUnlockDisabled, -4043},
		{"ekey no remote", 200, `{"errcode":-3046,"errmsg":"no permission"}`, ErrRemoteUnlockDisabled, -3046},
		{"frozen", 200, `{"errcode":-2025,"errmsg":"frozen lock"}`, ErrFrozen, -2025},
		{"not found", 200, `{"errcode":-1003,"errmsg":"lock does not exist"}`, ErrLockNotFound, -1003},
		{"lock offline", 200, `{"errcode":-3036,"errmsg":"lock is offline"}`, ErrLockOffline, -3036},
		{"lock busy", 200, `{"errcode":-3037,"errmsg":"lock busy"}`, ErrLockOffline, -3037},
		{"auth text token expired", 200, `{"code":1,"msg":"Token expired, log in again"}`, ErrUnauthorized, 1},
		{"auth text invalid token", 200, `{"errcode":500,"errmsg":"invalid token"}`, ErrUnauthorized, 500},
		{"auth text unauthorized", 200, `{"code":2,"message":"Unauthorized"}`, ErrUnauthorized, 2},
		{"auth text failed", 200, `{"code":3,"msg":"authentication failed"}`, ErrUnauthorized, 3},
		{"http 401", 401, `{"code":401,"msg":"Unauthorized: invalid API key"}`, ErrUnauthorized, 401},
		{"http 403", 403, ``, ErrUnauthorized, 0},
		{"http 402", 402, `{"message":"subscription inactive"}`, ErrPaymentRequired, 0},
		{"http 429", 429, `{"code":429,"msg":"Too Many Requests"}`, ErrRateLimited, 429},
		{"http 404", 404, `{"status":404,"error":"Not Found","path":"/v3/x"}`, nil, 0},
		{"http 405", 405, `{"status":405,"error":"Method Not Allowed","message":"Request method 'POST' is not supported"}`, nil, 0},
		{"method not supported on 200", 200, `{"msg":"Request method 'POST' not supported"}`, nil, 0},
		{"http 500 spring", 500, `{"status":500,"message":"Required request parameter 'lockId' is not present"}`, nil, 0},
		{"http 502 html", 502, `<html><body>502 Bad Gateway</body></html>`, nil, 0},
		{"other code", 200, `{"errcode":-4037,"errmsg":"gateway does not exist"}`, nil, -4037},
		{"negative code in code", 200, `{"code":-3,"msg":"invalid parameter"}`, nil, -3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseEnvelope("/v3/x", tt.status, []byte(tt.body))
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("got %T %v, want *APIError", err, err)
			}
			if got := ae.Code; got != tt.code {
				t.Errorf("code: got %d, want %d", got, tt.code)
			}
			if ae.Path != "/v3/x" {
				t.Errorf("path: got %q, want /v3/x", ae.Path)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tt.want)
			}
			for _, s := range allSentinels {
				if s != tt.want && errors.Is(err, s) {
					t.Errorf("errors.Is(%v, %v) = true, want false", err, s)
				}
			}
		})
	}
}

var allSentinels = []error{
	ErrUnauthorized, ErrPaymentRequired, ErrRateLimited, ErrGatewayBusy,
	ErrGatewayOffline, ErrNoGateway, ErrRemoteUnlockDisabled, ErrFrozen,
	ErrLockNotFound, ErrLockOffline, ErrBadCredentials, ErrBudgetExhausted,
	ErrMalformedResponse,
}

func TestParseEnvelopeSuccess(t *testing.T) {
	tests := []struct {
		name, body string
		field      string
		want       string // the object pick returns, compacted; "" for nil
	}{
		{"yes or not", `{"errcode":0,"errmsg":"none error message"}`, "errcode", `{"errcode":0,"errmsg":"none error message"}`},
		{"errcode as string", `{"errcode":"0","errmsg":"ok"}`, "errmsg", `{"errcode":"0","errmsg":"ok"}`},
		{"wrapped 200", `{"code":200,"message":"Operation success!","data":{"state":1}}`, "state", `{"state":1}`},
		{"wrapped 0", `{"code":0,"data":{"state":0}}`, "state", `{"state":0}`},
		{"wrapped string code", `{"code":"200","data":{"token":"x"}}`, "token", `{"token":"x"}`},
		{"unwrapped", `{"state":2}`, "state", `{"state":2}`},
		{"top level wins", `{"state":1,"data":{"state":0}}`, "state", `{"state":1,"data":{"state":0}}`},
		{"page", `{"list":[{"lockId":1}],"pageNo":1,"pages":1,"total":1}`, "list", `{"list":[{"lockId":1}],"pageNo":1,"pages":1,"total":1}`},
		{"wrapped page", `{"code":200,"data":{"list":[],"total":0}}`, "list", `{"list":[],"total":0}`},
		{"data as list", `{"code":200,"data":[{"lockId":1}]}`, "list", `{"list":[{"lockId":1}]}`},
		{"bare array", `[{"lockId":1}]`, "list", `{"list":[{"lockId":1}]}`},
		{"field missing", `{"code":200,"data":{"other":1}}`, "state", ``},
		{"data null", `{"code":200,"data":null}`, "state", ``},
		{"empty body", ``, "state", ``},
		{"whitespace body", " \n\t", "state", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload, err := parseEnvelope("/v3/x", 200, []byte(tt.body))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			got := string(pick(payload, tt.field))
			if got != tt.want {
				t.Errorf("pick %q: got %s, want %s", tt.field, got, tt.want)
			}
		})
	}
}

func TestParseEnvelopeMalformed(t *testing.T) {
	for _, body := range []string{
		`<html><body>nginx</body></html>`,
		`{"errcode":0,"list":[{"lockId":`,
		`success`,
		`{"errcode":"abc"}`,
		`{"errcode":{"x":1}}`,
	} {
		_, err := parseEnvelope("/v3/lock/list", 200, []byte(body))
		if !errors.Is(err, ErrMalformedResponse) {
			t.Errorf("body %q: got %v, want ErrMalformedResponse", body, err)
		}
		if err != nil && !strings.Contains(err.Error(), "/v3/lock/list") {
			t.Errorf("body %q: error %q does not name the path", body, err)
		}
	}
}

func TestAPIErrorTemporary(t *testing.T) {
	tests := []struct {
		err  APIError
		want bool
	}{
		{APIError{HTTPStatus: 502}, true},
		{APIError{HTTPStatus: 500}, true},
		{APIError{HTTPStatus: 200, Code: 90000}, true},
		{APIError{HTTPStatus: 200, Code: -3003}, true},
		{APIError{HTTPStatus: 404}, false},
		{APIError{HTTPStatus: 200, Code: -4043}, false},
	}
	for _, tt := range tests {
		if got := tt.err.Temporary(); got != tt.want {
			t.Errorf("%v: got %v, want %v", &tt.err, got, tt.want)
		}
	}
}

func TestFlexInt(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		set     bool
		wantErr bool
	}{
		{`12`, 12, true, false},
		{`"31536000"`, 31536000, true, false},
		{`" 20 "`, 20, true, false},
		{`12.0`, 12, true, false},
		{`true`, 1, true, false},
		{`false`, 0, true, false},
		{`null`, 0, false, false},
		{`""`, 0, false, false},
		{`"abc"`, 0, false, true},
		{`{}`, 0, false, true},
		{`1e400`, 0, false, true},
	}
	for _, tt := range tests {
		var f flexInt
		err := json.Unmarshal([]byte(tt.in), &f)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: got error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if f.Int() != tt.want || f.set != tt.set {
			t.Errorf("%s: got %d (set %v), want %d (set %v)", tt.in, f.Int(), f.set, tt.want, tt.set)
		}
	}
}

func TestFlexBool(t *testing.T) {
	tests := []struct {
		in   string
		want *bool
	}{
		{`1`, ptr(true)}, {`0`, ptr(false)}, {`"1"`, ptr(true)}, {`"0"`, ptr(false)},
		{`true`, ptr(true)}, {`"false"`, ptr(false)}, {`null`, nil},
	}
	for _, tt := range tests {
		var f flexBool
		if err := json.Unmarshal([]byte(tt.in), &f); err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		got := f.Ptr()
		if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("%s: got %v, want %v", tt.in, fmtPtr(got), fmtPtr(tt.want))
		}
	}
}

func ptr[T any](v T) *T { return &v }

func fmtPtr(b *bool) string {
	if b == nil {
		return "nil"
	}
	if *b {
		return "true"
	}
	return "false"
}

func TestCleanUsername(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice_3f2a9c1b", "alice"},
		{"alice_3F2A9C1B77aa", "alice"},
		{"Card A", "Card A"},
		{"front_door", "front_door"},
		{"bob_1234567", "bob_1234567"}, // too short for a hash
		{"carol_deadbeefxyz", "carol_deadbeefxyz"},
		{"_deadbeef00", "_deadbeef00"},
		{"dave_deadbeef_cafebabe", "dave_deadbeef_cafebabe"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := cleanUsername(tt.in); got != tt.want {
			t.Errorf("cleanUsername(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHasFeature(t *testing.T) {
	tests := []struct {
		fv   string
		bit  int
		want bool
	}{
		{"F44D5D3F7F5", 8, true},
		{"F44D5D3F7F5", 56, false},
		{"100000000000000", 56, true},
		{"0x100000000000000", 56, true},
		{"", 56, false},
		{"zz", 1, false},
	}
	for _, tt := range tests {
		if got := hasFeature(tt.fv, tt.bit); got != tt.want {
			t.Errorf("hasFeature(%q, %d) = %v, want %v", tt.fv, tt.bit, got, tt.want)
		}
	}
}
