package sifely

import "errors"

// Webhook notify types (TTLock callback notifyType).
const (
	NotifyRecords     = 1 // lock records
	NotifyGateway     = 2 // gateway online/offline
	NotifyWiFiLock    = 3 // WiFi lock online/offline
	NotifyWiFiFailure = 4 // WiFi async request failure
	NotifyDoorSensor  = 7 // standalone door sensor
)

// Errors ParseWebhook reports for bodies it cannot use.
var (
	// ErrEmptyWebhook is a body with nothing in it, such as the test request
	// the cloud sends when the webhook URL is saved. Answer it with success.
	ErrEmptyWebhook = errors.New("empty webhook body")
	// ErrUnknownWebhook is a well-formed body that is not a known push.
	ErrUnknownWebhook = errors.New("unknown webhook body")
)

// Notification is one webhook push, decoded.
type Notification struct {
	NotifyType int
	LockID     int64 // the lock the push is about; 0 for gateway pushes
	LockMAC    string
	Records    []Record // NotifyRecords
	// Gateway is set for NotifyGateway.
	Gateway *GatewayStatus
	// Online is set for NotifyWiFiLock.
	Online *bool
}

// GatewayStatus is a gateway online/offline push.
type GatewayStatus struct {
	ID     int64
	MAC    string
	Name   string
	Online bool
}
