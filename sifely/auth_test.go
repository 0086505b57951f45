package sifely_test

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
	"github.com/sifely2mqtt/sifely2mqtt/sifely/sifelytest"
)

func TestLegacyLoginLearnsClientID(t *testing.T) {
	srv := newSim(t, func(o *sifelytest.Options) { o.ClientID = "cid-1234" })
	c, _ := newClient(t, srv, nil)
	if _, err := c.LockDetail(t.Context(), 7100001); err != nil {
		t.Fatal(err)
	}
	if got := srv.Calls("/system/smart/loginByGuest"); got != 1 {
		t.Errorf("loginByGuest calls: got %d, want 1", got)
	}
	if got := srv.Calls("/system/smart/login"); got != 1 {
		t.Errorf("login calls: got %d, want 1", got)
	}
}

func TestLegacyLoginWithClientID(t *testing.T) {
	srv := newSim(t, func(o *sifelytest.Options) { o.ClientID = "cid-1234" })
	c, _ := newClient(t, srv, func(o *sifely.Options) { o.ClientID = "cid-1234" })
	if _, err := c.LockDetail(t.Context(), 7100001); err != nil {
		t.Fatal(err)
	}
	if got := srv.Calls("/system/smart/loginByGuest"); got != 0 {
		t.Errorf("loginByGuest calls: got %d, want 0", got)
	}
}

func TestBadPassword(t *testing.T) {
	srv := newSim(t, nil)
	c, _ := newClient(t, srv, func(o *sifely.Options) { o.ClientID = srv.ClientID(); o.Password = "wrong" })
	_, err := c.LockDetail(t.Context(), 7100001)
	if !errors.Is(err, sifely.ErrBadCredentials) {
		t.Fatalf("got %v, want ErrBadCredentials", err)
	}
	// MD5 first, then the plain text once.
	if got := srv.Calls("/system/smart/login"); got != 2 {
		t.Errorf("login calls: got %d, want 2", got)
	}
}

// TestLegacyLoginPlainFallback: an account whose login wants the plain
// password gets it after the MD5 is refused, and keeps getting it.
func TestLegacyLoginPlainFallback(t *testing.T) {
	var logins atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /system/smart/login", func(w http.ResponseWriter, r *http.Request) {
		logins.Add(1)
		if r.URL.Query().Get("password") != password {
			w.Write([]byte(`{"code":10007,"msg":"Invalid account or password"}`))
			return
		}
		w.Write([]byte(`{"code":200,"message":"Operation success!","data":{"token":"jwt-1","refreshToken":"rt-1","expires_in":"31536000"}}`))
	})
	mux.HandleFunc("GET /v3/lock/queryOpenState", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer jwt-1" {
			w.Write([]byte(`{"errcode":10004,"errmsg":"invalid token"}`))
			return
		}
		w.Write([]byte(`{"state":1}`))
	})
	mux.HandleFunc("GET /v3/gateway/listByLock", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"list":[]}`))
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	c, err := sifely.New(sifely.Options{BaseURL: hs.URL, Account: account, Password: password, ClientID: "cid",
		Budget: sifely.Budget{PerMinute: 1000}, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.OpenState(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if st != sifely.StateUnlocked {
		t.Errorf("got %v, want unlocked", st)
	}
	if got := logins.Load(); got != 2 {
		t.Errorf("logins: got %d, want 2 (md5, then plain)", got)
	}
}

// TestRefreshBeforeExpiry: a token near expiry by the client's clock is
// refreshed, once, however many callers need it at that moment.
func TestRefreshBeforeExpiry(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	srv := newSim(t, func(o *sifelytest.Options) { o.TokenTTL = time.Hour })
	c, _ := newClient(t, srv, func(o *sifely.Options) { o.Now = now })
	if _, err := c.LockDetail(t.Context(), 7100001); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(56 * time.Minute)) // inside the 5 min margin
	runConcurrently(t, 50, func() error {
		_, err := c.LockDetail(t.Context(), 7100001)
		return err
	})
	if got := srv.Calls("/system/smart/oauthToken"); got != 1 {
		t.Errorf("refreshes: got %d, want 1", got)
	}
	if got := srv.Calls("/system/smart/login"); got != 1 {
		t.Errorf("logins: got %d, want 1", got)
	}
	if got := c.Stats().Refreshes; got != 1 {
		t.Errorf("stats refreshes: got %d, want 1", got)
	}
}

// TestSingleFlightRefreshOnAuthError: 50 callers whose token the cloud
// refuses cause exactly one refresh, and all succeed.
func TestSingleFlightRefreshOnAuthError(t *testing.T) {
	srv := newSim(t, nil)
	c, _ := newClient(t, srv, nil)
	if _, err := c.LockDetail(t.Context(), 7100001); err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	runConcurrently(t, 50, func() error {
		_, err := c.LockDetail(t.Context(), 7100001)
		return err
	})
	if got := srv.Calls("/system/smart/oauthToken"); got != 1 {
		t.Errorf("refreshes: got %d, want 1", got)
	}
	if got := srv.Calls("/system/smart/login"); got != 1 {
		t.Errorf("logins: got %d, want 1", got)
	}
}

// runConcurrently runs fn n times at once and fails on any error.
func runConcurrently(t *testing.T, n int, fn func() error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			errs <- fn()
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestReloginWhenRefreshRefused(t *testing.T) {
	srv := newSim(t, nil)
	c, _ := newClient(t, srv, nil)
	if _, err := c.LockDetail(t.Context(), 7100001); err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	srv.Inject("/system/smart/oauthToken", sifelytest.Fault{Code: 10011, Message: "invalid refresh_token"})
	if _, err := c.LockDetail(t.Context(), 7100001); err != nil {
		t.Fatal(err)
	}
	if got := srv.Calls("/system/smart/login"); got != 2 {
		t.Errorf("logins: got %d, want 2", got)
	}
}

func TestUnlockRepeatedAfterAuthError(t *testing.T) {
	srv := newSim(t, nil)
	c, _ := newClient(t, srv, nil)
	// Learn the lock's gateway first, so that the unlock is the first
	// call with the expired token.
	if _, err := c.OpenState(t.Context(), 7100001); err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	if err := c.Unlock(t.Context(), 7100001); err != nil {
		t.Fatal(err)
	}
	if got := srv.Calls("/v3/lock/unlock"); got != 2 {
		t.Errorf("unlock calls: got %d, want 2 (refused token, then the unlock)", got)
	}
}

func TestOpenAPILogin(t *testing.T) {
	for _, unwrapped := range []bool{false, true} {
		srv := newSim(t, func(o *sifelytest.Options) { o.OpenAPILoginUnwrapped = unwrapped })
		c, _ := newClient(t, srv, func(o *sifely.Options) { o.OpenAPI = true })
		if _, err := c.LockDetail(t.Context(), 7100001); err != nil {
			t.Fatalf("unwrapped %v: %v", unwrapped, err)
		}
		if err := c.Lock(t.Context(), 7100001); err != nil {
			t.Fatalf("unwrapped %v: %v", unwrapped, err)
		}
		if got := srv.Calls("/system/smart/login"); got != 1 {
			t.Errorf("unwrapped %v: logins: got %d, want 1", unwrapped, got)
		}
		if got := srv.Calls("/system/smart/oauthToken") + srv.Calls("/system/smart/loginByGuest"); got != 0 {
			t.Errorf("unwrapped %v: legacy auth calls: got %d, want 0", unwrapped, got)
		}
	}
}

func TestOpenAPIBadPassword(t *testing.T) {
	srv := newSim(t, nil)
	c, _ := newClient(t, srv, func(o *sifely.Options) { o.OpenAPI = true; o.Password = "wrong" })
	_, err := c.LockDetail(t.Context(), 7100001)
	if !errors.Is(err, sifely.ErrBadCredentials) {
		t.Errorf("got %v, want ErrBadCredentials", err)
	}
}

func TestAPIKeyNeedsNoLogin(t *testing.T) {
	srv := newSim(t, nil)
	c, _ := newClient(t, srv, func(o *sifely.Options) {
		o.Account, o.Password, o.APIKey = "", "", sifely.Secret(srv.APIKey())
	})
	if _, err := c.Locks(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Unlock(t.Context(), 7100003); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/system/smart/login", "/system/smart/loginByGuest", "/system/smart/oauthToken"} {
		if got := srv.Calls(p); got != 0 {
			t.Errorf("%s calls: got %d, want 0", p, got)
		}
	}
	bad, _ := newClient(t, srv, func(o *sifely.Options) { o.APIKey = "sk-wrong" })
	if _, err := bad.LockDetail(t.Context(), 7100001); !errors.Is(err, sifely.ErrUnauthorized) {
		t.Errorf("wrong key: got %v, want ErrUnauthorized", err)
	}
}

func TestPaymentRequired(t *testing.T) {
	srv := newSim(t, nil)
	srv.Inject("/v3/lock/list", sifelytest.Fault{HTTPStatus: 402, Message: "subscription inactive"})
	c, _ := newClient(t, srv, func(o *sifely.Options) { o.APIKey = sifely.Secret(srv.APIKey()) })
	_, err := c.Locks(t.Context())
	if !errors.Is(err, sifely.ErrPaymentRequired) {
		t.Errorf("got %v, want ErrPaymentRequired", err)
	}
}

// TestSecretsNeverLogged runs login, refresh, calls and errors with canary
// credentials and looks for them, their MD5 and the tokens in the debug log
// and in every error.
func TestSecretsNeverLogged(t *testing.T) {
	const canaryPassword = "canary-pw-5f3e9b1c"
	const canaryKey = "sk-canary-key-8d2a7e40"
	sum := md5.Sum([]byte(canaryPassword))
	// The simulator's tokens: "eyJhbGci..." JWTs and "rt-<40 hex>".
	canaries := []string{canaryPassword, hex.EncodeToString(sum[:]), canaryKey, "eyJhbGci"}
	refreshToken := regexp.MustCompile(`rt-[0-9a-f]{40}`)

	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// Legacy: login, refresh, re-login, calls, errors.
	srv := newSim(t, func(o *sifelytest.Options) { o.Password = canaryPassword; o.APIKey = canaryKey })
	c, logs := newClient(t, srv, func(o *sifely.Options) { o.Password = canaryPassword })
	ctx := t.Context()
	_, err := c.Locks(ctx)
	check(err)
	srv.ExpireTokens()
	_, err = c.LockDetail(ctx, 7100001)
	check(err)
	srv.ExpireTokens()
	srv.Inject("/system/smart/oauthToken", sifelytest.Fault{Code: 10011, Message: "invalid refresh_token"})
	check(c.Unlock(ctx, 7100001))
	srv.Inject("/v3/lock/lock", sifelytest.Fault{HTTPStatus: 502, Times: 5})
	check(c.Lock(ctx, 7100001))
	srv.Inject("/v3/lock/unlock", sifelytest.Fault{Malformed: true})
	check(c.Unlock(ctx, 7100001))
	_, err = c.OpenState(ctx, 1)
	check(err)
	wrong, wrongLogs := newClient(t, srv, func(o *sifely.Options) { o.Password = canaryPassword + "x" })
	_, err = wrong.LockDetail(ctx, 7100001)
	check(err)
	// Open API login and a raw key.
	oa, oaLogs := newClient(t, srv, func(o *sifely.Options) { o.Password = canaryPassword; o.OpenAPI = true })
	_, err = oa.Records(ctx, 7100001, time.Time{})
	check(err)
	key, keyLogs := newClient(t, srv, func(o *sifely.Options) { o.APIKey = canaryKey })
	srv.Inject("/v3/lock/detail", sifelytest.Fault{HTTPStatus: 401, Message: "Unauthorized"})
	_, err = key.LockDetail(ctx, 7100001)
	check(err)
	// A cloud that cannot be reached: the transport error must not carry
	// the login URL's query string.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	down, err := sifely.New(sifely.Options{BaseURL: dead.URL, Account: account, Password: canaryPassword, ClientID: "cid",
		Budget: sifely.Budget{PerMinute: 1000}, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = down.LockDetail(ctx, 1)
	if err == nil {
		t.Fatal("unreachable cloud: got no error")
	}
	check(err)
	if len(errs) < 5 {
		t.Fatalf("got only %d errors; the test does not exercise error paths", len(errs))
	}

	all := logs.String() + wrongLogs.String() + oaLogs.String() + keyLogs.String()
	if !strings.Contains(all, "/system/smart/oauthToken") || !strings.Contains(all, "/system/smart/login") {
		t.Fatal("debug log has no auth requests; the test does not exercise them")
	}
	if m := refreshToken.FindString(all); m != "" {
		t.Errorf("log contains refresh token %q", m)
	}
	for _, canary := range canaries {
		if strings.Contains(all, canary) {
			t.Errorf("log contains %q", canary)
		}
		for _, err := range errs {
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error %q contains %q", err, canary)
			}
		}
		if s := c.Stats().LastError; strings.Contains(s, canary) {
			t.Errorf("stats last error %q contains %q", s, canary)
		}
	}
}
