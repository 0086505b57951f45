package sifely

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Auth endpoints (sifely-api.md 2).
const (
	pathLogin        = "/system/smart/login"
	pathLoginByGuest = "/system/smart/loginByGuest"
	pathOAuthToken   = "/system/smart/oauthToken"
)

// Token lifetimes.
const (
	refreshMargin    = 5 * time.Minute // refresh this long before expiry
	defaultTokenLife = time.Hour       // when the cloud does not say
	apiKeyLife       = 10 * 365 * day  // sk- keys do not expire
)

// token is the credential the client sends, and how to renew it.
type token struct {
	Access    string    `json:"access_token"`
	Refresh   string    `json:"refresh_token,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	ClientID  string    `json:"client_id,omitempty"`
}

// tokenCache is the TokenFile's content. BaseURL and Account tie it to the
// configuration it was made for.
type tokenCache struct {
	BaseURL string `json:"base_url"`
	Account string `json:"account"`
	token
}

// header returns the Authorization header value for the token: raw for an
// Open API "sk-" key, else "Bearer <token>".
func authHeader(tok string) string {
	if strings.HasPrefix(tok, "sk-") {
		return tok
	}
	return "Bearer " + tok
}

// md5Hex returns the lowercase hex MD5 of s, the form the cloud wants
// passwords in.
func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// isOpenAPI reports whether the base URL is the Open API host.
func (c *Client) isOpenAPI() bool {
	return c.opts.OpenAPI || strings.Contains(c.opts.BaseURL, "cus-openapi")
}

// accessToken returns a token valid for at least refreshMargin, logging in
// or refreshing as needed. Concurrent callers share one login or refresh.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	if !c.opts.APIKey.IsZero() {
		return c.opts.APIKey.Reveal(), nil
	}
	if tok, ok := c.validToken(); ok {
		return tok, nil
	}
	// DoChan runs the renewal in a goroutine of singleflight's, so that a
	// caller whose context ends can stop waiting while the others still get
	// the result. That goroutine is bounded by its own timeout below.
	ch := c.flight.DoChan("auth", func() (any, error) {
		// The flight runs on its own: one caller giving up must not
		// cancel the renewal the others wait for.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*c.opts.CallTimeout+c.opts.CommandTimeout)
		defer cancel()
		if tok, ok := c.validToken(); ok {
			return tok, nil
		}
		return c.renew(fctx)
	})
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	}
}

// validToken returns the current token when it is not near expiry.
func (c *Client) validToken() (string, bool) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.tok.Access == "" || !c.now().Add(refreshMargin).Before(c.tok.ExpiresAt) {
		return "", false
	}
	return c.tok.Access, true
}

// invalidate marks tok as refused by the cloud, so the next accessToken
// renews it. A token already replaced is left alone: of many calls refused
// at once, only the first causes a renewal.
func (c *Client) invalidate(tok string) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.tok.Access == tok {
		c.tok.ExpiresAt = time.Time{}
	}
}

// renew refreshes the token when there is a refresh token, and logs in
// when there is none or the cloud refuses it.
func (c *Client) renew(ctx context.Context) (string, error) {
	c.tokMu.Lock()
	old := c.tok
	c.tokMu.Unlock()

	if old.Refresh != "" && !strings.HasPrefix(old.Access, "sk-") {
		tok, err := c.refresh(ctx, old)
		if err == nil {
			c.setToken(tok)
			return tok.Access, nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrRateLimited) || errors.Is(err, ErrBudgetExhausted) {
			return "", err
		}
		c.log.Warn("token refresh refused, logging in", "err", err)
	}
	tok, err := c.login(ctx)
	if err != nil {
		return "", err
	}
	c.setToken(tok)
	return tok.Access, nil
}

// setToken installs tok and writes it to the token cache.
func (c *Client) setToken(tok token) {
	c.tokMu.Lock()
	c.tok = tok
	c.tokMu.Unlock()
	if err := c.saveToken(tok); err != nil {
		c.log.Warn("token cache not written", "err", err)
	}
}

// login runs the login chain of the configured cloud generation.
func (c *Client) login(ctx context.Context) (token, error) {
	c.stats.logins.Add(1)
	if c.isOpenAPI() {
		return c.loginOpenAPI(ctx)
	}
	return c.loginLegacy(ctx)
}

// loginOpenAPI logs in on the Open API host and returns its permanent
// "sk-" client token.
func (c *Client) loginOpenAPI(ctx context.Context) (token, error) {
	body, err := json.Marshal(map[string]string{
		"account":  c.opts.Account,
		"password": md5Hex(c.opts.Password.Reveal()),
	})
	if err != nil {
		return token{}, fmt.Errorf("login: %w", err)
	}
	payload, err := c.send(ctx, request{method: http.MethodPost, path: pathLogin,
		body: body, contentType: "application/json", command: true})
	if err != nil {
		return token{}, fmt.Errorf("login: %w", err)
	}
	var v struct {
		ClientToken string     `json:"clientToken"`
		Token       string     `json:"token"`
		ClientID    flexString `json:"clientId"`
	}
	obj := pick(payload, "clientToken")
	if obj == nil {
		obj = pick(payload, "token")
	}
	if obj == nil || json.Unmarshal(obj, &v) != nil {
		return token{}, fmt.Errorf("login %s: no client token: %w", pathLogin, ErrMalformedResponse)
	}
	access := v.ClientToken
	if access == "" {
		access = v.Token
	}
	if access == "" {
		return token{}, fmt.Errorf("login %s: empty client token: %w", pathLogin, ErrMalformedResponse)
	}
	life := apiKeyLife
	if !strings.HasPrefix(access, "sk-") {
		life = defaultTokenLife
	}
	return token{Access: access, ExpiresAt: c.now().Add(life), ClientID: string(v.ClientID)}, nil
}

// loginLegacy logs in on the legacy host: loginByGuest to learn the client
// ID when none is configured, then /system/smart/login with the MD5 of the
// password, and once more with the plain password if the cloud refuses the
// MD5 as a bad credential (some accounts want it plain).
func (c *Client) loginLegacy(ctx context.Context) (token, error) {
	clientID := c.opts.ClientID
	var guestToken string
	if clientID == "" {
		c.tokMu.Lock()
		clientID = c.tok.ClientID
		c.tokMu.Unlock()
	}
	if clientID == "" {
		id, tok, err := c.loginByGuest(ctx)
		switch {
		case err == nil:
			clientID, guestToken = id, tok
		case isCredentialError(err), errors.Is(err, ErrRateLimited), errors.Is(err, ErrBudgetExhausted), ctx.Err() != nil:
			return token{}, fmt.Errorf("login by guest: %w", err)
		default:
			c.log.Warn("login by guest failed, logging in without client id", "err", err)
		}
	}
	if clientID == "" && guestToken != "" {
		// No client ID to log in or refresh with: the guest token works
		// for v3 calls on its own (as the Hubitat driver uses it).
		return token{Access: guestToken, ExpiresAt: c.now().Add(defaultTokenLife)}, nil
	}
	plain := c.plainPassword.Load()
	tok, err := c.loginLegacyOnce(ctx, clientID, plain)
	if err != nil && !plain && isCredentialError(err) {
		c.log.Warn("login with hashed password refused, trying plain text")
		tok, err = c.loginLegacyOnce(ctx, clientID, true)
		if err == nil {
			c.plainPassword.Store(true)
		}
	}
	if err != nil {
		return token{}, err
	}
	return tok, nil
}

// isCredentialError reports whether err says the account or password is
// wrong.
func isCredentialError(err error) bool {
	return errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrUnauthorized)
}

// loginByGuest learns the account's client ID (and a guest token).
func (c *Client) loginByGuest(ctx context.Context) (clientID, tok string, err error) {
	form := url.Values{
		"username": {c.opts.Account},
		"password": {md5Hex(c.opts.Password.Reveal())},
	}
	payload, err := c.send(ctx, request{method: http.MethodPost, path: pathLoginByGuest,
		body: []byte(form.Encode()), contentType: "application/x-www-form-urlencoded", command: true})
	if err != nil {
		return "", "", err
	}
	var v struct {
		ClientID    flexString `json:"clientId"`
		SifelyToken string     `json:"sifelyToken"`
	}
	obj := pick(payload, "clientId")
	if obj == nil {
		obj = pick(payload, "sifelyToken")
	}
	if obj == nil || json.Unmarshal(obj, &v) != nil {
		return "", "", fmt.Errorf("%s: no client id: %w", pathLoginByGuest, ErrMalformedResponse)
	}
	return string(v.ClientID), v.SifelyToken, nil
}

// loginLegacyOnce is one /system/smart/login call.
func (c *Client) loginLegacyOnce(ctx context.Context, clientID string, plain bool) (token, error) {
	pw := c.opts.Password.Reveal()
	if !plain {
		pw = md5Hex(pw)
	}
	q := url.Values{"client_id": {clientID}, "username": {c.opts.Account}, "password": {pw}}
	payload, err := c.send(ctx, request{method: http.MethodPost, path: pathLogin, query: q, command: true})
	if err != nil {
		return token{}, fmt.Errorf("login: %w", err)
	}
	tok, err := c.decodeToken(pathLogin, payload)
	if err != nil {
		return token{}, fmt.Errorf("login: %w", err)
	}
	tok.ClientID = clientID
	return tok, nil
}

// refresh renews a legacy token with its refresh token.
func (c *Client) refresh(ctx context.Context, old token) (token, error) {
	c.stats.refreshes.Add(1)
	clientID := c.opts.ClientID
	if clientID == "" {
		clientID = old.ClientID
	}
	q := url.Values{"client_id": {clientID}, "grant_type": {"refresh_token"}, "refresh_token": {old.Refresh}}
	payload, err := c.send(ctx, request{method: http.MethodPost, path: pathOAuthToken, query: q, command: true})
	if err != nil {
		return token{}, fmt.Errorf("refresh token: %w", err)
	}
	tok, err := c.decodeToken(pathOAuthToken, payload)
	if err != nil {
		return token{}, fmt.Errorf("refresh token: %w", err)
	}
	if tok.Refresh == "" {
		tok.Refresh = old.Refresh
	}
	tok.ClientID = clientID
	return tok, nil
}

// decodeToken reads a login or refresh answer in any of its shapes:
// token/refreshToken or access_token/refresh_token, wrapped in data or
// not, expires_in as a number or a string.
func (c *Client) decodeToken(path string, payload json.RawMessage) (token, error) {
	var obj json.RawMessage
	for _, f := range []string{"access_token", "token", "accessToken", "sifelyToken"} {
		if obj = pick(payload, f); obj != nil {
			break
		}
	}
	var v struct {
		AccessToken  string  `json:"access_token"`
		Token        string  `json:"token"`
		AccessToken2 string  `json:"accessToken"`
		SifelyToken  string  `json:"sifelyToken"`
		RefreshToken string  `json:"refresh_token"`
		Refresh2     string  `json:"refreshToken"`
		ExpiresIn    flexInt `json:"expires_in"`
		ExpiresIn2   flexInt `json:"expiresIn"`
	}
	if obj == nil || json.Unmarshal(obj, &v) != nil {
		return token{}, fmt.Errorf("%s: no token in answer: %w", path, ErrMalformedResponse)
	}
	t := token{Access: firstNonEmpty(v.AccessToken, v.Token, v.AccessToken2, v.SifelyToken),
		Refresh: firstNonEmpty(v.RefreshToken, v.Refresh2)}
	if t.Access == "" {
		return token{}, fmt.Errorf("%s: empty token: %w", path, ErrMalformedResponse)
	}
	life := time.Duration(v.ExpiresIn.Or(v.ExpiresIn2.Or(0))) * time.Second
	if life <= 0 {
		life = defaultTokenLife
	}
	if strings.HasPrefix(t.Access, "sk-") {
		life = apiKeyLife
	}
	t.ExpiresAt = c.now().Add(life)
	return t, nil
}

// firstNonEmpty returns the first non-empty string.
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// loadToken reads the token cache, if any. A missing file is normal; a
// corrupt one or one for another account is ignored with a warning.
func (c *Client) loadToken() {
	if c.opts.TokenFile == "" || !c.opts.APIKey.IsZero() {
		return
	}
	b, err := os.ReadFile(c.opts.TokenFile)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		c.log.Warn("token cache not read", "err", err)
		return
	}
	var tc tokenCache
	if err := json.Unmarshal(b, &tc); err != nil || tc.Access == "" {
		c.log.Warn("token cache corrupt, ignoring it", "file", c.opts.TokenFile)
		return
	}
	if tc.BaseURL != c.opts.BaseURL || tc.Account != c.opts.Account {
		c.log.Info("token cache is for another account, ignoring it")
		return
	}
	c.tok = tc.token
	c.log.Debug("token cache loaded", "expires_at", tc.ExpiresAt)
}

// saveToken writes the token cache atomically: a temporary file in the same
// directory, synced, then renamed over the old one, mode 0600.
func (c *Client) saveToken(tok token) error {
	if c.opts.TokenFile == "" {
		return nil
	}
	b, err := json.Marshal(tokenCache{BaseURL: c.opts.BaseURL, Account: c.opts.Account, token: tok})
	if err != nil {
		return fmt.Errorf("encode token cache: %w", err)
	}
	return writeFileAtomic(c.opts.TokenFile, b, 0o600)
}

// writeFileAtomic replaces name with data so that a reader sees either the
// old or the new content, never a part.
func writeFileAtomic(name string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("chmod temp file: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write temp file: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync temp file: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close temp file: %w", err)
	}
	if err = os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("rename temp file: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
