package sifely

import (
	"errors"
	"fmt"
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

func (e *APIError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("sifely %s: code %d: %s", e.Path, e.Code, e.Message)
	}
	return fmt.Sprintf("sifely %s: http %d: %s", e.Path, e.HTTPStatus, e.Message)
}
