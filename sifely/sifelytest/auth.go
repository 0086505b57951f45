package sifelytest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// passwordOK reports whether sent is the account password as MD5 hex, or
// in plain text when plain is allowed.
func (s *Server) passwordOK(sent string, plain bool) bool {
	if sent == "" {
		return false
	}
	if strings.EqualFold(sent, md5Hex(s.opts.Password)) {
		return true
	}
	return plain && sent == s.opts.Password
}

func (s *Server) clientIDOK(sent string) bool {
	return s.opts.ClientID == "" || sent == s.opts.ClientID
}

// issueLocked makes a new legacy access token and refresh token. s.mu must
// be held.
func (s *Server) issueLocked() (access, refresh string) {
	claims, _ := json.Marshal(map[string]any{"sub": s.opts.Account, "iat": s.now().Unix(), "jti": randomHex(4)})
	access = "eyJhbGciOiJIUzUxMiJ9." + base64.RawURLEncoding.EncodeToString(claims) + "." + randomHex(24)
	refresh = "rt-" + randomHex(20)
	s.access[access] = s.now().Add(s.opts.TokenTTL)
	s.refresh[refresh] = true
	return access, refresh
}

// login serves both logins on /system/smart/login: the Open API one with a
// JSON body {account, password(md5)}, and the legacy one with query
// parameters client_id, username, password (whatever the body).
func (s *Server) login(x *exchange) {
	if strings.Contains(x.r.Header.Get("Content-Type"), "json") && x.param("username") == "" {
		s.openAPILogin(x)
		return
	}
	if !s.clientIDOK(x.param("client_id")) {
		x.code = 10001
		x.json(http.StatusOK, map[string]any{"code": 10001, "msg": "invalid client_id"})
		return
	}
	if x.param("username") != s.opts.Account || !s.passwordOK(x.param("password"), true) {
		x.code = 10007
		x.json(http.StatusOK, map[string]any{"code": 10007, "msg": "Invalid account or password"})
		return
	}
	s.mu.Lock()
	access, refresh := s.issueLocked()
	s.mu.Unlock()
	x.wrapped(map[string]any{
		"token":        access,
		"refreshToken": refresh,
		"expires_in":   strconv.FormatInt(int64(s.opts.TokenTTL.Seconds()), 10),
	})
}

func (s *Server) openAPILogin(x *exchange) {
	var req struct {
		Account  string `json:"account"`
		Password string `json:"password"`
	}
	body, err := io.ReadAll(io.LimitReader(x.r.Body, 1<<16))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		x.spring(http.StatusBadRequest, fmt.Sprintf("JSON parse error: %v", err))
		return
	}
	if req.Account != s.opts.Account || !s.passwordOK(req.Password, false) {
		x.code = 10007
		x.json(http.StatusUnauthorized, map[string]any{"code": 10007, "msg": "Invalid account or password"})
		return
	}
	data := map[string]any{
		"clientToken": s.apiKey,
		"clientId":    "cli_" + s.clientID[:8],
		"account":     s.opts.Account,
		"plan":        "DEVELOPER",
	}
	if s.opts.OpenAPILoginUnwrapped {
		x.json(http.StatusOK, data)
		return
	}
	x.wrapped(data)
}

// loginByGuest serves the legacy clientId discovery: a form body with
// username and password (MD5).
func (s *Server) loginByGuest(x *exchange) {
	if x.param("username") != s.opts.Account {
		x.spring(http.StatusInternalServerError, "user does not exist")
		return
	}
	if !s.passwordOK(x.param("password"), false) {
		x.code = 401
		x.json(http.StatusUnauthorized, map[string]any{"code": 401, "msg": "Authentication failed"})
		return
	}
	s.mu.Lock()
	access, _ := s.issueLocked()
	s.mu.Unlock()
	x.wrapped(map[string]any{
		"clientId":    s.clientID,
		"sifelyToken": access,
		"username":    s.opts.Account,
	})
}

// oauthToken serves the legacy refresh: unwrapped OAuth-style answers, and
// the old refresh token is used up.
func (s *Server) oauthToken(x *exchange) {
	if !s.clientIDOK(x.param("client_id")) {
		x.fail(10001, "invalid client_id")
		return
	}
	if gt := x.param("grant_type"); gt != "refresh_token" {
		x.fail(-3, "invalid parameter: grant_type")
		return
	}
	rt := x.param("refresh_token")
	s.mu.Lock()
	if !s.refresh[rt] {
		s.mu.Unlock()
		x.fail(10011, "invalid refresh_token")
		return
	}
	delete(s.refresh, rt)
	access, refresh := s.issueLocked()
	s.mu.Unlock()
	x.json(http.StatusOK, map[string]any{
		"access_token":  access,
		"refresh_token": refresh,
		"expires_in":    int64(s.opts.TokenTTL.Seconds()),
		"uid":           1,
		"scope":         "user,key,room",
	})
}
