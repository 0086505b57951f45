package sifely

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors callers branch on with errors.Is. An *APIError whose code
// means one of these matches it.
var (
	ErrUnauthorized         = errors.New("unauthorized")
	ErrPaymentRequired      = errors.New("developer plan required")
	ErrRateLimited          = errors.New("rate limited")
	ErrGatewayBusy          = errors.New("gateway busy")
	ErrGatewayOffline       = errors.New("gateway offline")
	ErrNoGateway            = errors.New("lock has no gateway")
	ErrRemoteUnlockDisabled = errors.New("remote unlock disabled")
	ErrFrozen               = errors.New("lock frozen")
	ErrLockNotFound         = errors.New("lock not found")
	ErrLockOffline          = errors.New("lock offline")
	ErrBadCredentials       = errors.New("bad account or password")
	ErrBudgetExhausted      = errors.New("call budget exhausted")
	ErrMalformedResponse    = errors.New("malformed response")
)

// APIError is an error the cloud reported: an HTTP status other than 200, or
// a business error code in the body.
type APIError struct {
	HTTPStatus int    // 200 when the error came in the body
	Code       int    // errcode or code; 0 when the HTTP status is the error
	Message    string // errmsg, msg or message
	Path       string // the endpoint, e.g. "/v3/lock/unlock"
}

// Error describes the failure with the endpoint and the cloud's code or
// HTTP status.
func (e *APIError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("sifely %s: code %d: %s", e.Path, e.Code, e.Message)
	}
	return fmt.Sprintf("sifely %s: http %d: %s", e.Path, e.HTTPStatus, e.Message)
}

// Is reports whether the error means target: an HTTP status or cloud error
// code that stands for one of the package's sentinel errors matches it, so
// callers can use errors.Is and still reach the code with errors.As.
func (e *APIError) Is(target error) bool {
	s := e.sentinel()
	return s != nil && s == target
}

// Temporary reports whether the cloud failed in a way worth retrying a read
// for: a server error (5xx or 90000) or a busy gateway.
func (e *APIError) Temporary() bool {
	return e.HTTPStatus >= 500 || e.Code == 90000 || e.Code == -3003
}

// codeErrors maps cloud error codes (sifely-api.md 1.5) to sentinels.
var codeErrors = map[int]error{
	10003: ErrUnauthorized,
	10004: ErrUnauthorized,
	10011: ErrUnauthorized, // invalid refresh token: log in again
	10007: ErrBadCredentials,
	30006: ErrRateLimited,
	30007: ErrRateLimited,
	429:   ErrRateLimited,
	401:   ErrUnauthorized,
	403:   ErrUnauthorized,
	402:   ErrPaymentRequired,
	-3003: ErrGatewayBusy,
	-3002: ErrGatewayOffline,
	-2012: ErrNoGateway,
	-4043: ErrRemoteUnlockDisabled,
	-3046: ErrRemoteUnlockDisabled,
	-2025: ErrFrozen,
	-1003: ErrLockNotFound,
	-3036: ErrLockOffline,
	-3037: ErrLockOffline,
}

// authTexts are messages the cloud uses for a missing, expired or revoked
// token whatever code it puts beside them.
var authTexts = []string{
	"token expired", "invalid token", "unauthorized", "authentication failed",
}

// sentinel returns the sentinel error e stands for, or nil.
func (e *APIError) sentinel() error {
	if s, ok := codeErrors[e.Code]; ok {
		return s
	}
	switch e.HTTPStatus {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusPaymentRequired:
		return ErrPaymentRequired
	case http.StatusTooManyRequests:
		return ErrRateLimited
	}
	msg := strings.ToLower(e.Message)
	for _, t := range authTexts {
		if strings.Contains(msg, t) {
			return ErrUnauthorized
		}
	}
	if strings.Contains(msg, "offline") {
		return ErrGatewayOffline
	}
	return nil
}
