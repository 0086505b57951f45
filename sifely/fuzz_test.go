package sifely

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParseEnvelope feeds the envelope parser arbitrary answers: it must
// never panic, and a success must carry valid JSON or nothing.
func FuzzParseEnvelope(f *testing.F) {
	f.Add(200, []byte(`{"errcode":0,"errmsg":"none error message"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		payload, err := parseEnvelope("/v3/lock/list", status, body)
		if err != nil {
			var ae *APIError
			if errors.As(err, &ae) && ae.Path != "/v3/lock/list" {
				t.Errorf("APIError path %q", ae.Path)
			}
			if errors.As(err, &ae) || errors.Is(err, ErrMalformedResponse) {
				return
			}
			t.Fatalf("error %v is neither *APIError nor ErrMalformedResponse", err)
		}
		if status != 200 {
			t.Fatalf("status %d gave no error", status)
		}
		if payload != nil && !json.Valid(payload) {
			t.Fatalf("payload %q is not valid JSON", payload)
		}
		for _, field := range []string{"list", "state", "lockId", "token"} {
			if obj := pick(payload, field); obj != nil && !json.Valid(obj) {
				t.Fatalf("pick %q gave invalid JSON %q", field, obj)
			}
		}
		var items []lockJSON
		_ = decodeList("/v3/lock/list", payload, &items)
		var recs []recordJSON
		_ = decodeList("/v3/lockRecord/list", payload, &recs)
	})
}

// FuzzParseWebhook feeds ParseWebhook arbitrary bodies: it must never
// panic, and what it accepts must be a known push within the record cap.
func FuzzParseWebhook(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", []byte("notifyType=1&lockId=1&records=%5B%5D"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		n, err := ParseWebhook(contentType, body)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		switch n.NotifyType {
		case NotifyRecords, NotifyGateway, NotifyWiFiLock, NotifyWiFiFailure, NotifyDoorSensor:
		default:
			t.Fatalf("accepted notify type %d", n.NotifyType)
		}
		if len(n.Records) > MaxWebhookRecords {
			t.Fatalf("%d records over the cap", len(n.Records))
		}
		if n.NotifyType == NotifyGateway && n.Gateway == nil {
			t.Fatal("gateway push without gateway")
		}
		for _, r := range n.Records {
			_ = r.Outcome()
		}
	})
}
