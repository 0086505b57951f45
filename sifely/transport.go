package sifely

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"
)

// maxBodySize bounds an answer the client reads.
const maxBodySize = 4 << 20

// maxAttempts is how often a retryable call is tried.
const maxAttempts = 3

// request is one HTTP request to the cloud.
type request struct {
	method      string
	path        string
	query       url.Values
	body        []byte
	contentType string
	// command makes the request use the command budget and timeout.
	command bool
	// token is sent in the Authorization header when not empty.
	token string
}

// retryPolicy says which failures a call may be repeated after.
type retryPolicy int

const (
	// retryTransient repeats reads and lock after server errors, timeouts,
	// network errors and a busy gateway.
	retryTransient retryPolicy = iota
	// retryNotRun repeats unlock only when the cloud said it did not run
	// it: gateway busy, or a network error before the request went out.
	retryNotRun
)

// errAttemptTimeout marks a request that hit its own timeout (not the
// caller's context).
var errAttemptTimeout = errors.New("request timed out")

// call sends req with a valid token, renewing the token once when the cloud
// refuses it and retrying as policy allows.
//
// The repeat after an auth error holds for unlock too: the cloud checks the
// token before it looks at the lock, so a refused token means the unlock was
// never passed to the gateway, and repeating it cannot open the door twice.
func (c *Client) call(ctx context.Context, req request, policy retryPolicy) (json.RawMessage, error) {
	reauthed := false
	for attempt := 1; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		req.token = tok
		payload, sent, err := c.do(ctx, req)
		if err == nil {
			return payload, nil
		}
		if errors.Is(err, ErrUnauthorized) && !reauthed && c.opts.APIKey.IsZero() {
			reauthed = true
			c.invalidate(tok)
			attempt--
			continue
		}
		if attempt >= maxAttempts || ctx.Err() != nil || !retryable(policy, err, sent) {
			return nil, err
		}
		delay := c.backoff(attempt)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return nil, err
		}
		c.log.Warn("cloud call retrying", "path", req.path, "attempt", attempt, "delay", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// retryable reports whether a failed request may be repeated under policy.
// sent tells whether the request (its headers at least) reached the wire.
func retryable(policy retryPolicy, err error, sent bool) bool {
	if errors.Is(err, ErrGatewayBusy) {
		return true
	}
	if policy == retryNotRun {
		return !sent && isNetworkError(err)
	}
	if errors.Is(err, errAttemptTimeout) || isNetworkError(err) {
		return true
	}
	var ae *APIError
	return errors.As(err, &ae) && ae.Temporary()
}

// isNetworkError reports whether err is a transport failure (no answer).
func isNetworkError(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// backoff returns the jittered pause before retry number attempt (1-based).
func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.RetryBackoff << (attempt - 1)
	return d/2 + rand.N(d/2+1)
}

// do sends one request: it waits for budget, sends, and parses the answer.
// sent reports whether the request reached the wire.
func (c *Client) do(ctx context.Context, req request) (payload json.RawMessage, sent bool, err error) {
	if err := c.lim.wait(ctx, req.command); err != nil {
		return nil, false, fmt.Errorf("%s: %w", req.path, err)
	}
	timeout := c.opts.CallTimeout
	if req.command && !isAuthPath(req.path) {
		timeout = c.opts.CommandTimeout
	}
	actx, cancel := context.WithTimeoutCause(ctx, timeout, errAttemptTimeout)
	defer cancel()

	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	})
	u := c.opts.BaseURL + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(actx, req.method, u, body)
	if err != nil {
		return nil, false, fmt.Errorf("%s: build request: %w", req.path, redactURLError(err, c.opts.BaseURL+req.path))
	}
	hreq.Header.Set("Accept", "application/json")
	switch {
	case req.contentType != "":
		hreq.Header.Set("Content-Type", req.contentType)
	case req.method == http.MethodPost:
		hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if req.token != "" {
		hreq.Header.Set("Authorization", authHeader(req.token))
	}

	c.stats.calls.Add(1)
	start := time.Now()
	resp, err := c.http.Do(hreq)
	if err != nil {
		err = c.transportError(ctx, actx, req.path, err)
		c.recordResult(err)
		c.observe(req.path, err)
		c.log.Debug("cloud request", "method", req.method, "path", req.path,
			"duration_ms", time.Since(start).Milliseconds(), "err", err)
		return nil, wrote.Load(), err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize))
	if err != nil {
		err = c.transportError(ctx, actx, req.path, err)
		c.recordResult(err)
		c.observe(req.path, err)
		c.log.Debug("cloud request", "method", req.method, "path", req.path, "status", resp.StatusCode,
			"duration_ms", time.Since(start).Milliseconds(), "err", err)
		return nil, true, err
	}
	payload, err = parseEnvelope(req.path, resp.StatusCode, raw)
	attrs := []any{"method", req.method, "path", req.path, "status", resp.StatusCode,
		"duration_ms", time.Since(start).Milliseconds()}
	var ae *APIError
	if errors.As(err, &ae) {
		attrs = append(attrs, "code", ae.Code)
	}
	c.log.Debug("cloud request", attrs...)
	c.recordResult(err)
	c.observe(req.path, err)
	if errors.Is(err, ErrRateLimited) {
		c.stats.rateLimited.Add(1)
		pause := rateLimitPause
		if ae != nil && ae.Code == 30007 {
			pause = quotaPause
		}
		c.lim.pause(pause)
		c.log.Warn("cloud rate limit hit, pausing calls", "path", req.path, "pause", pause)
	}
	return payload, true, err
}

// observe reports a finished request to Options.OnCall, if set.
func (c *Client) observe(path string, err error) {
	if c.opts.OnCall != nil {
		c.opts.OnCall(path, err)
	}
}

// isAuthPath reports whether path is a login or refresh endpoint.
func isAuthPath(path string) bool {
	return path == pathLogin || path == pathLoginByGuest || path == pathOAuthToken
}

// transportError describes a request that got no (complete) answer, without
// the query string, which may hold credentials.
func (c *Client) transportError(ctx, actx context.Context, path string, err error) error {
	err = redactURLError(err, c.opts.BaseURL+path)
	if ctx.Err() == nil && errors.Is(context.Cause(actx), errAttemptTimeout) {
		return fmt.Errorf("%s: %w: %w", path, errAttemptTimeout, err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// redactURLError replaces the URL in a *url.Error by safe, which carries no
// query string.
func redactURLError(err error, safe string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: safe, Err: ue.Err}
	}
	return err
}

// send is one request without a token and without retries (logins).
func (c *Client) send(ctx context.Context, req request) (json.RawMessage, error) {
	payload, _, err := c.do(ctx, req)
	return payload, err
}
