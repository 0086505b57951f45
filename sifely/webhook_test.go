package sifely

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

const formCT = "application/x-www-form-urlencoded"

// ttlockForm is the reconstructed TTLock callback of sifely-api.md 4.2.
func ttlockForm() string {
	v := url.Values{}
	v.Set("notifyType", "1")
	v.Set("lockId", "7252408")
	v.Set("lockMac", "16:72:4C:CC:01:C4")
	v.Set("admin", "owner@example.com")
	v.Set("records", `[{"lockId":7252408,"lockMac":"16:72:4C:CC:01:C4","recordType":7,"recordTypeFromLock":17,`+
		`"success":1,"username":"Card A","keyboardPwd":"1234567","lockDate":1680810186000,`+
		`"serverDate":1680810180029,"electricQuantity":93}]`)
	return v.Encode()
}

func TestParseWebhookRecords(t *testing.T) {
	want := Record{
		LockID: 7252408, LockMAC: "16:72:4C:CC:01:C4", Type: 7, TypeFromLock: 17, Success: true,
		Username: "Card A", LockDate: time.UnixMilli(1680810186000), ServerDate: time.UnixMilli(1680810180029), Battery: 93,
	}
	tests := []struct {
		name, ct, body string
	}{
		{"ttlock form", formCT, ttlockForm()},
		{"json records array", "application/json", `{"notifyType":1,"lockId":7252408,"lockMac":"16:72:4C:CC:01:C4","records":[` +
			`{"recordType":7,"recordTypeFromLock":17,"success":1,"username":"Card A","keyboardPwd":"1234567",` +
			`"lockDate":1680810186000,"serverDate":1680810180029,"electricQuantity":93}]}`},
		{"json records string, numbers as strings", "application/json; charset=utf-8", `{"notifyType":"1","lockId":"7252408","lockMac":"16:72:4C:CC:01:C4",` +
			`"records":"[{\"lockId\":\"7252408\",\"recordType\":\"7\",\"recordTypeFromLock\":\"17\",\"success\":\"1\",\"username\":\"Card A\",` +
			`\"lockDate\":\"1680810186000\",\"serverDate\":\"1680810180029\",\"electricQuantity\":\"93\"}]"}`},
		{"json under data, no notifyType", "application/json", `{"event":"lock","data":{"lockId":7252408,"lockMac":"16:72:4C:CC:01:C4","records":[` +
			`{"recordType":7,"recordTypeFromLock":17,"success":true,"username":"Card A","lockDate":1680810186000,"serverDate":1680810180029,"electricQuantity":93}]}}`},
		{"json sniffed without content type", "", `{"lockId":7252408,"lockMac":"16:72:4C:CC:01:C4","records":[` +
			`{"recordType":7,"recordTypeFromLock":17,"success":1,"username":"Card A","lockDate":1680810186000,"serverDate":1680810180029,"electricQuantity":93}]}`},
		{"form with wrong content type", "text/plain", ttlockForm()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ParseWebhook(tt.ct, []byte(tt.body))
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			if n.NotifyType != NotifyRecords || n.LockID != 7252408 || n.LockMAC != "16:72:4C:CC:01:C4" {
				t.Errorf("got type %d lock %d mac %q, want 1 7252408 16:72:4C:CC:01:C4", n.NotifyType, n.LockID, n.LockMAC)
			}
			if len(n.Records) != 1 {
				t.Fatalf("got %d records, want 1", len(n.Records))
			}
			got := n.Records[0]
			if !got.LockDate.Equal(want.LockDate) || !got.ServerDate.Equal(want.ServerDate) {
				t.Errorf("dates: got %v %v, want %v %v", got.LockDate, got.ServerDate, want.LockDate, want.ServerDate)
			}
			got.LockDate, got.ServerDate = want.LockDate, want.ServerDate
			if got != want {
				t.Errorf("record:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseWebhookOthers(t *testing.T) {
	t.Run("gateway form", func(t *testing.T) {
		n, err := ParseWebhook(formCT, []byte("notifyType=2&gatewayId=42&gatewayName=G2_000042&gatewayMac=AA%3ABB&isOnline=0"))
		if err != nil {
			t.Fatal(err)
		}
		want := GatewayStatus{ID: 42, MAC: "AA:BB", Name: "G2_000042", Online: false}
		if n.NotifyType != NotifyGateway || n.Gateway == nil || *n.Gateway != want {
			t.Errorf("got %+v %+v, want gateway %+v", n, n.Gateway, want)
		}
	})
	t.Run("gateway json online true", func(t *testing.T) {
		n, err := ParseWebhook("application/json", []byte(`{"notifyType":2,"gatewayId":"42","gatewayMac":"AA:BB","isOnline":true}`))
		if err != nil {
			t.Fatal(err)
		}
		if n.Gateway == nil || !n.Gateway.Online || n.Gateway.ID != 42 {
			t.Errorf("got %+v, want gateway 42 online", n.Gateway)
		}
	})
	t.Run("wifi lock", func(t *testing.T) {
		n, err := ParseWebhook(formCT, []byte("notifyType=3&lockId=7&lockMac=M&lockAlias=Front&isOnline=1"))
		if err != nil {
			t.Fatal(err)
		}
		if n.NotifyType != NotifyWiFiLock || n.LockID != 7 || n.Online == nil || !*n.Online {
			t.Errorf("got %+v, want wifi lock 7 online", n)
		}
	})
	t.Run("records inherit and cap", func(t *testing.T) {
		var b strings.Builder
		b.WriteString(`{"lockId":9,"lockMac":"MM","records":[`)
		for i := range MaxWebhookRecords + 5 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"recordType":12,"success":1,"lockDate":%d}`, 1700000000000+i)
		}
		b.WriteString(`]}`)
		n, err := ParseWebhook("application/json", []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(n.Records); got != MaxWebhookRecords {
			t.Errorf("got %d records, want %d", got, MaxWebhookRecords)
		}
		if r := n.Records[0]; r.LockID != 9 || r.LockMAC != "MM" || r.Battery != -1 {
			t.Errorf("got %+v, want lock 9 mac MM battery -1", r)
		}
	})
}

func TestParseWebhookRejects(t *testing.T) {
	tests := []struct {
		name, ct, body string
		want           error // nil: any non-sentinel error
	}{
		{"empty", formCT, "", ErrEmptyWebhook},
		{"whitespace", "application/json", " \r\n ", ErrEmptyWebhook},
		{"empty object", "application/json", "{}", ErrEmptyWebhook},
		{"empty object no type", "", " {} ", ErrEmptyWebhook},
		{"unknown json", "application/json", `{"hello":"world"}`, ErrUnknownWebhook},
		{"unknown notify type", formCT, "notifyType=99&lockId=1", ErrUnknownWebhook},
		{"json array", "application/json", `[1,2]`, ErrUnknownWebhook},
		{"record push without records", formCT, "notifyType=1&lockId=1", ErrUnknownWebhook},
		{"unknown form", formCT, "foo=bar", ErrUnknownWebhook},
		{"broken json", "application/json", `{"notifyType":1,`, nil},
		{"broken records string", formCT, "notifyType=1&records=%5B%7B", nil},
		{"records not array", "application/json", `{"notifyType":1,"records":{"a":1}}`, nil},
		{"record not object", "application/json", `{"notifyType":1,"records":[1]}`, nil},
		{"bad number", formCT, "notifyType=abc", nil},
		{"bad form escape", formCT, "notifyType=%zz", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ParseWebhook(tt.ct, []byte(tt.body))
			if err == nil {
				t.Fatalf("got %+v, want an error", n)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if tt.want == nil && (errors.Is(err, ErrEmptyWebhook) || errors.Is(err, ErrUnknownWebhook)) {
				t.Errorf("got %v, want a descriptive syntax error", err)
			}
		})
	}
}
