package sifelytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// WebhookStyle is the body style of a webhook push.
type WebhookStyle int

const (
	// WebhookForm is TTLock's callback: application/x-www-form-urlencoded
	// with records as a JSON array string.
	WebhookForm WebhookStyle = iota
	// WebhookJSON is a JSON object with records as an array.
	WebhookJSON
)

type hookJob struct {
	contentType string
	body        []byte
}

// enqueueLocked queues a push to Options.WebhookURL. s.mu must be held.
func (s *Server) enqueueLocked(j hookJob) {
	s.hookQueue = append(s.hookQueue, j)
	select {
	case s.hookWake <- struct{}{}:
	default:
	}
}

// postLoop delivers queued pushes one at a time, in order, until Close.
func (s *Server) postLoop() {
	defer s.poster.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.hookWake:
		}
		for {
			s.mu.Lock()
			if len(s.hookQueue) == 0 || s.ctx.Err() != nil {
				s.mu.Unlock()
				break
			}
			j := s.hookQueue[0]
			s.hookQueue = s.hookQueue[1:]
			s.mu.Unlock()
			status, body, err := s.post(s.ctx, s.opts.WebhookURL, j)
			switch {
			case err != nil:
				s.logger.Warn("webhook push failed", "err", err)
			case status != http.StatusOK || body != "success":
				s.logger.Warn("webhook push refused", "status", status, "body", truncate(body, 200))
			}
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (s *Server) post(ctx context.Context, target string, j hookJob) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(j.body))
	if err != nil {
		return 0, "", fmt.Errorf("build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", j.contentType)
	resp, err := s.hookHTTP.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return resp.StatusCode, string(b), fmt.Errorf("read webhook answer: %w", err)
	}
	return resp.StatusCode, string(b), nil
}

// PostWebhook sends a TTLock-style notifyType 1 push of recs for lockID to
// url, in either body style, and returns the receiver's status and body.
// Records are sent as given (a zero LockID takes lockID); they are not
// stored.
func (s *Server) PostWebhook(ctx context.Context, url string, style WebhookStyle, lockID int64, recs ...RecordSpec) (status int, body string, err error) {
	s.mu.Lock()
	mac := ""
	if l := s.locks[lockID]; l != nil {
		mac = l.MAC
	}
	s.mu.Unlock()
	for i := range recs {
		if recs[i].LockID == 0 {
			recs[i].LockID = lockID
		}
	}
	ct, b := recordsPush(style, lockID, mac, s.opts.Account, recs)
	return s.post(ctx, url, hookJob{contentType: ct, body: b})
}

// PostGatewayWebhook sends a TTLock-style notifyType 2 push (gateway online
// or offline) to url and returns the receiver's status and body.
func (s *Server) PostGatewayWebhook(ctx context.Context, url string, style WebhookStyle, gatewayID int64, online bool) (int, string, error) {
	g := &gateway{id: gatewayID}
	ct, b := gatewayPush(style, gatewayID, g.name(), g.mac(), online)
	return s.post(ctx, url, hookJob{contentType: ct, body: b})
}

// recordsPush builds a notifyType 1 body. Webhook records carry lockMac
// and no recordId.
func recordsPush(style WebhookStyle, lockID int64, mac, admin string, recs []RecordSpec) (contentType string, body []byte) {
	items := make([]map[string]any, len(recs))
	for i, r := range recs {
		m := recordJSON(r)
		delete(m, "recordId")
		m["lockMac"] = mac
		items[i] = m
	}
	records, _ := json.Marshal(items)
	if style == WebhookJSON {
		b, _ := json.Marshal(map[string]any{
			"notifyType": 1,
			"lockId":     lockID,
			"lockMac":    mac,
			"admin":      admin,
			"records":    json.RawMessage(records),
		})
		return "application/json", b
	}
	v := url.Values{}
	v.Set("notifyType", "1")
	v.Set("lockId", strconv.FormatInt(lockID, 10))
	v.Set("lockMac", mac)
	v.Set("admin", admin)
	v.Set("records", string(records))
	return "application/x-www-form-urlencoded", []byte(v.Encode())
}

// gatewayPush builds a notifyType 2 body.
func gatewayPush(style WebhookStyle, id int64, name, mac string, online bool) (contentType string, body []byte) {
	if style == WebhookJSON {
		b, _ := json.Marshal(map[string]any{
			"notifyType":     2,
			"gatewayId":      id,
			"gatewayName":    name,
			"gatewayMac":     mac,
			"gatewayVersion": 3,
			"networkName":    "HomeWiFi",
			"isOnline":       boolInt(online),
		})
		return "application/json", b
	}
	v := url.Values{}
	v.Set("notifyType", "2")
	v.Set("gatewayId", strconv.FormatInt(id, 10))
	v.Set("gatewayName", name)
	v.Set("gatewayMac", mac)
	v.Set("gatewayVersion", "3")
	v.Set("networkName", "HomeWiFi")
	v.Set("isOnline", strconv.Itoa(boolInt(online)))
	return "application/x-www-form-urlencoded", []byte(v.Encode())
}
