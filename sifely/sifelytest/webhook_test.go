package sifelytest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// push is one webhook request a receiver got.
type push struct {
	contentType string
	form        url.Values     // form pushes
	obj         map[string]any // JSON pushes
}

// receiver is an httptest webhook endpoint that answers "success".
type receiver struct {
	url    string
	mu     sync.Mutex
	pushes []push
	got    chan struct{}
	seen   int // signals of got consumed by wait
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rx := &receiver{got: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p := push{contentType: r.Header.Get("Content-Type")}
		if p.contentType == "application/json" {
			_ = json.Unmarshal(body, &p.obj)
		} else {
			p.form, _ = url.ParseQuery(string(body))
		}
		rx.mu.Lock()
		rx.pushes = append(rx.pushes, p)
		rx.mu.Unlock()
		_, _ = io.WriteString(w, "success")
		rx.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	rx.url = srv.URL + "/webhook/secret"
	return rx
}

// wait returns the first n pushes (from one goroutine), failing the test if they do not come.
func (rx *receiver) wait(t *testing.T, n int) []push {
	t.Helper()
	for ; rx.seen < n; rx.seen++ {
		select {
		case <-rx.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("webhook pushes did not arrive")
		}
	}
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return append([]push(nil), rx.pushes[:n]...)
}

func decodeRecords(t *testing.T, p push) []map[string]any {
	t.Helper()
	var recs []map[string]any
	if p.form != nil {
		if err := json.Unmarshal([]byte(p.form.Get("records")), &recs); err != nil {
			t.Fatalf("records is not a JSON array string: %v", err)
		}
		return recs
	}
	raw, _ := p.obj["records"].([]any)
	for _, r := range raw {
		m, _ := r.(map[string]any)
		recs = append(recs, m)
	}
	return recs
}

func TestWebhookPushesRecords(t *testing.T) {
	tests := []struct {
		name            string
		style           WebhookStyle
		wantContentType string
	}{
		{"form", WebhookForm, "application/x-www-form-urlencoded"},
		{"json", WebhookJSON, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rx := newReceiver(t)
			opts := baseOptions()
			opts.WebhookURL = rx.url
			opts.WebhookStyle = tt.style
			s := New(t, opts)
			for i := range 3 {
				s.AddRecord(RecordSpec{LockID: 7100002, RecordType: 4, RecordTypeFromLock: 4, Success: true, Username: "Guest", KeyboardPwd: string(rune('1' + i))})
			}
			a := do(t, s, request{method: http.MethodPost, path: "/v3/lock/lock", query: q("lockId", "7100002"), auth: "sk-test-key"})
			if a.num("errcode") != 0 {
				t.Fatalf("lock: %s", a.body)
			}
			pushes := rx.wait(t, 4)
			for i, p := range pushes {
				if p.contentType != tt.wantContentType {
					t.Errorf("push %d content type = %q, want %q", i, p.contentType, tt.wantContentType)
				}
				var notifyType, lockID, mac any
				if p.form != nil {
					notifyType, lockID, mac = p.form.Get("notifyType"), p.form.Get("lockId"), p.form.Get("lockMac")
					if p.form.Get("admin") != testAccount {
						t.Errorf("admin = %q", p.form.Get("admin"))
					}
				} else {
					notifyType, lockID, mac = p.obj["notifyType"], p.obj["lockId"], p.obj["lockMac"]
				}
				if notifyType != "1" && notifyType != 1.0 {
					t.Errorf("notifyType = %v", notifyType)
				}
				if lockID != "7100002" && lockID != 7100002.0 {
					t.Errorf("lockId = %v", lockID)
				}
				if mac != "C1:22:33:44:55:02" {
					t.Errorf("lockMac = %v", mac)
				}
				recs := decodeRecords(t, p)
				if len(recs) != 1 {
					t.Fatalf("push %d has %d records, want 1", i, len(recs))
				}
				if _, ok := recs[0]["recordId"]; ok {
					t.Errorf("webhook record carries recordId")
				}
				if recs[0]["lockMac"] != "C1:22:33:44:55:02" || recs[0]["success"] != 1.0 {
					t.Errorf("record = %v", recs[0])
				}
				if i < 3 && recs[0]["keyboardPwd"] != string(rune('1'+i)) {
					t.Errorf("push %d out of order: keyboardPwd %v", i, recs[0]["keyboardPwd"])
				}
				if i == 3 && recs[0]["recordType"] != 11.0 {
					t.Errorf("command push recordType = %v, want 11", recs[0]["recordType"])
				}
			}
		})
	}
}

func TestPostWebhook(t *testing.T) {
	tests := []struct {
		name  string
		style WebhookStyle
	}{
		{"form", WebhookForm},
		{"json", WebhookJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rx := newReceiver(t)
			s := New(t, baseOptions())
			when := time.UnixMilli(1680810186000)
			status, body, err := s.PostWebhook(t.Context(), rx.url, tt.style, 7100001,
				RecordSpec{RecordType: 7, RecordTypeFromLock: 17, Success: true, Username: "Card A", KeyboardPwd: "1234567", LockDate: when, ServerDate: when, Battery: 93})
			if err != nil || status != 200 || body != "success" {
				t.Fatalf("PostWebhook = %d %q %v", status, body, err)
			}
			recs := decodeRecords(t, rx.wait(t, 1)[0])
			want := map[string]any{"lockId": 7100001.0, "recordType": 7.0, "recordTypeFromLock": 17.0, "lockDate": 1680810186000.0, "electricQuantity": 93.0, "username": "Card A"}
			for k, v := range want {
				if recs[0][k] != v {
					t.Errorf("%s = %v, want %v", k, recs[0][k], v)
				}
			}
			if len(s.Records(7100001)) != 0 {
				t.Errorf("PostWebhook stored the record")
			}

			status, _, err = s.PostGatewayWebhook(t.Context(), rx.url, tt.style, 9, false)
			if err != nil || status != 200 {
				t.Fatalf("PostGatewayWebhook = %d %v", status, err)
			}
			p := rx.wait(t, 2)[1]
			if p.form != nil && (p.form.Get("notifyType") != "2" || p.form.Get("isOnline") != "0") {
				t.Errorf("gateway push = %v", p.form)
			}
			if p.obj != nil && (p.obj["notifyType"] != 2.0 || p.obj["gatewayId"] != 9.0 || p.obj["isOnline"] != 0.0) {
				t.Errorf("gateway push = %v", p.obj)
			}
		})
	}
}
