package sifely

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MaxWebhookRecords caps the records ParseWebhook keeps from one push.
const MaxWebhookRecords = 1000

// webhookJSON is every field of every notify type ParseWebhook reads.
// Secret fields (keyboardPwd inside records) have no field here.
type webhookJSON struct {
	NotifyType  flexInt         `json:"notifyType"`
	LockID      flexInt         `json:"lockId"`
	LockMac     flexString      `json:"lockMac"`
	Records     json.RawMessage `json:"records"`
	GatewayID   flexInt         `json:"gatewayId"`
	GatewayName flexString      `json:"gatewayName"`
	GatewayMac  flexString      `json:"gatewayMac"`
	IsOnline    flexBool        `json:"isOnline"`
	Data        json.RawMessage `json:"data"`
}

// ParseWebhook decodes a webhook push body of the given Content-Type
// (form-encoded or JSON; the body is sniffed when the type says neither).
// It is lenient: numbers may come as strings, fields may sit under "data",
// records may be a JSON array or a string holding one, and a push with
// records but no notifyType is a record push. Records without their own
// lockId or lockMac take the push's. It returns ErrEmptyWebhook for a body
// with nothing in it (the cloud's test request), ErrUnknownWebhook for a
// well-formed body that is no known push, and a descriptive error for a
// broken one.
func ParseWebhook(contentType string, body []byte) (Notification, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return Notification{}, ErrEmptyWebhook
	}
	ct := strings.ToLower(contentType)
	isJSON := strings.Contains(ct, "json") || body[0] == '{' || body[0] == '['
	if strings.Contains(ct, "x-www-form-urlencoded") && body[0] != '{' && body[0] != '[' {
		isJSON = false
	}
	var w webhookJSON
	var err error
	if isJSON {
		w, err = decodeWebhookJSON(body)
	} else {
		w, err = decodeWebhookForm(body)
	}
	if err != nil {
		return Notification{}, err
	}
	return w.notification()
}

// decodeWebhookJSON reads a JSON push, taking the fields from "data" when
// they are not at the top level.
func decodeWebhookJSON(body []byte) (webhookJSON, error) {
	if body[0] != '{' {
		if json.Valid(body) {
			return webhookJSON{}, fmt.Errorf("webhook body is a JSON %s, not an object: %w", jsonKind(body[0]), ErrUnknownWebhook)
		}
		return webhookJSON{}, errors.New("webhook body is not valid JSON")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return webhookJSON{}, fmt.Errorf("webhook body is not valid JSON: %w", err)
	}
	if len(top) == 0 {
		return webhookJSON{}, ErrEmptyWebhook
	}
	obj := body
	if !hasAnyKey(top, "notifyType", "records", "lockId", "gatewayId") {
		if data := bytes.TrimSpace(top["data"]); len(data) > 0 && data[0] == '{' {
			obj = data
		}
	}
	var w webhookJSON
	if err := json.Unmarshal(obj, &w); err != nil {
		return webhookJSON{}, fmt.Errorf("webhook body: %w", err)
	}
	return w, nil
}

// jsonKind names the JSON value starting with b.
func jsonKind(b byte) string {
	switch b {
	case '[':
		return "array"
	case '"':
		return "string"
	default:
		return "scalar"
	}
}

// hasAnyKey reports whether m has one of keys.
func hasAnyKey(m map[string]json.RawMessage, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// decodeWebhookForm reads a TTLock-style form push.
func decodeWebhookForm(body []byte) (webhookJSON, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return webhookJSON{}, fmt.Errorf("webhook form body: %w", err)
	}
	if len(vals) == 0 {
		return webhookJSON{}, ErrEmptyWebhook
	}
	var w webhookJSON
	fields := []struct {
		key string
		dst json.Unmarshaler
	}{
		{"notifyType", &w.NotifyType}, {"lockId", &w.LockID}, {"lockMac", &w.LockMac},
		{"gatewayId", &w.GatewayID}, {"gatewayName", &w.GatewayName},
		{"gatewayMac", &w.GatewayMac}, {"isOnline", &w.IsOnline},
	}
	for _, f := range fields {
		v := strings.TrimSpace(vals.Get(f.key))
		if v == "" {
			continue
		}
		q, _ := json.Marshal(v)
		if err := f.dst.UnmarshalJSON(q); err != nil {
			return webhookJSON{}, fmt.Errorf("webhook field %s: %w", f.key, err)
		}
	}
	if r := strings.TrimSpace(vals.Get("records")); r != "" {
		w.Records = json.RawMessage(r)
		if !json.Valid(w.Records) {
			return webhookJSON{}, errors.New("webhook field records is not valid JSON")
		}
	}
	return w, nil
}

// notification turns the decoded fields into a Notification.
func (w webhookJSON) notification() (Notification, error) {
	records, err := webhookRecords(w.Records)
	if err != nil {
		return Notification{}, err
	}
	nt := int(w.NotifyType.Int())
	if !w.NotifyType.set {
		switch {
		case records != nil:
			nt = NotifyRecords
		case w.GatewayID.Int() != 0 && w.IsOnline.set:
			nt = NotifyGateway
		case w.LockID.Int() != 0 && w.IsOnline.set:
			nt = NotifyWiFiLock
		}
	}
	n := Notification{NotifyType: nt, LockID: w.LockID.Int(), LockMAC: string(w.LockMac)}
	switch nt {
	case NotifyRecords:
		if records == nil {
			return Notification{}, fmt.Errorf("record push without records: %w", ErrUnknownWebhook)
		}
		n.Records = make([]Record, 0, len(records))
		for _, rj := range records {
			r := rj.record()
			if r.LockID == 0 {
				r.LockID = n.LockID
			}
			if r.LockMAC == "" {
				r.LockMAC = n.LockMAC
			}
			n.Records = append(n.Records, r)
		}
		if n.LockID == 0 && len(n.Records) > 0 {
			n.LockID = n.Records[0].LockID
		}
	case NotifyGateway:
		if w.GatewayID.Int() == 0 && w.GatewayMac == "" {
			return Notification{}, fmt.Errorf("gateway push without gateway: %w", ErrUnknownWebhook)
		}
		n.LockID = 0
		n.Gateway = &GatewayStatus{
			ID:     w.GatewayID.Int(),
			MAC:    string(w.GatewayMac),
			Name:   string(w.GatewayName),
			Online: w.IsOnline.v,
		}
	case NotifyWiFiLock:
		if n.LockID == 0 {
			return Notification{}, fmt.Errorf("wifi lock push without lock: %w", ErrUnknownWebhook)
		}
		n.Online = w.IsOnline.Ptr()
	case NotifyWiFiFailure, NotifyDoorSensor:
		// Known pushes the bridge has no use for yet.
	default:
		return Notification{}, fmt.Errorf("notify type %d: %w", nt, ErrUnknownWebhook)
	}
	return n, nil
}

// webhookRecords decodes records given as a JSON array or as a string
// holding one, keeping at most MaxWebhookRecords. It returns nil when there
// are no records at all.
func webhookRecords(raw json.RawMessage) ([]recordJSON, error) {
	raw = bytes.TrimSpace(raw)
	if !present(raw) {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("webhook records: %w", err)
		}
		raw = bytes.TrimSpace([]byte(s))
		if len(raw) == 0 {
			return nil, nil
		}
	}
	if raw[0] != '[' {
		return nil, errors.New("webhook records is not a JSON array")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("webhook records: %w", err)
	}
	if len(items) > MaxWebhookRecords {
		items = items[:MaxWebhookRecords]
	}
	out := make([]recordJSON, 0, len(items))
	for i, it := range items {
		var r recordJSON
		if err := json.Unmarshal(it, &r); err != nil {
			return nil, fmt.Errorf("webhook record %d: %w", i, err)
		}
		out = append(out, r)
	}
	return out, nil
}
