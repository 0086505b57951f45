package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    commandRequest
		wantErr bool
	}{
		{"plain lock", "LOCK", commandRequest{Action: actionLock}, false},
		{"plain unlock", "UNLOCK", commandRequest{Action: actionUnlock}, false},
		{"lower case and spaces", "  unlock\n", commandRequest{Action: actionUnlock}, false},
		{"json", `{"action":"unlock","id":"r1","code":"1234"}`, commandRequest{Action: actionUnlock, ID: "r1", Code: "1234"}, false},
		{"json upper action from HA template", `{"action":"LOCK","code":""}`, commandRequest{Action: actionLock}, false},
		{"json numeric id and code", `{"action":"lock","id":7,"code":1234}`, commandRequest{Action: actionLock, ID: "7", Code: "1234"}, false},
		{"json missing action", `{"id":"x"}`, commandRequest{}, true},
		{"json bad action", `{"action":"explode"}`, commandRequest{}, true},
		{"json broken", `{"action":`, commandRequest{}, true},
		{"open unsupported", "OPEN", commandRequest{}, true},
		{"empty", "", commandRequest{}, true},
		{"garbage", "\x00\xff", commandRequest{}, true},
		{"too long", strings.Repeat("x", maxCommandPayload+1), commandRequest{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCommand([]byte(tt.payload))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseCommand(%q) err = %v, wantErr %v", tt.payload, err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, errBadPayload) {
					t.Errorf("err = %v, want errBadPayload", err)
				}
				return
			}
			if got != tt.want {
				t.Errorf("parseCommand(%q) = %+v, want %+v", tt.payload, got, tt.want)
			}
		})
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"LOCK", "UNLOCK", `{"action":"unlock","id":"1","code":"1234"}`, `{"action":null}`, "{", "open"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := parseCommand(payload)
		if err != nil {
			if !errors.Is(err, errBadPayload) {
				t.Fatalf("error %v is not errBadPayload", err)
			}
			if !utf8.ValidString(err.Error()) && utf8.Valid(payload) {
				t.Fatalf("error text not UTF-8")
			}
			return
		}
		if req.Action != actionLock && req.Action != actionUnlock {
			t.Fatalf("accepted action %q", req.Action)
		}
	})
}

func TestErrorClassAndNotRun(t *testing.T) {
	tests := []struct {
		err    error
		class  string
		notRun bool
	}{
		{fmt.Errorf("unlock: %w", sifely.ErrGatewayBusy), "gateway_busy", true},
		{sifely.ErrGatewayOffline, "gateway_offline", true},
		{sifely.ErrNoGateway, "no_gateway", true},
		{sifely.ErrRemoteUnlockDisabled, "remote_unlock_disabled", true},
		{sifely.ErrBudgetExhausted, "rate_limited", true},
		{sifely.ErrUnauthorized, "unauthorized", true},
		// Frozen: the cloud answered, but the lock cannot move: JAMMED.
		{sifely.ErrFrozen, "frozen", false},
		// The outcome of a timeout or an unknown error is unknown: never
		// "not run".
		{fmt.Errorf("unlock: %w", context.DeadlineExceeded), "timeout", false},
		{errors.New("x"), "cloud_error", false},
	}
	for _, tt := range tests {
		if got := errorClass(tt.err); got != tt.class {
			t.Errorf("errorClass(%v) = %q, want %q", tt.err, got, tt.class)
		}
		if got := notRun(tt.err); got != tt.notRun {
			t.Errorf("notRun(%v) = %t, want %t", tt.err, got, tt.notRun)
		}
	}
}

func TestObserveNeverGoesBackInTime(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	m := &lockModel{}
	if !m.observe(StateLocked, t0) {
		t.Fatal("first observation refused")
	}
	if m.observe(StateUnlocked, t0.Add(-time.Second)) {
		t.Error("an older observation replaced a newer one")
	}
	if got := m.published(); got != StateLocked {
		t.Errorf("published = %q, want LOCKED", got)
	}
	if m.observe(StateUnknown, t0.Add(time.Second)) {
		t.Error("an unknown state was taken as an observation")
	}
	m.transition, m.transitionAt = StateJammed, t0.Add(2*time.Second)
	m.observe(StateLocked, t0.Add(time.Second))
	if m.published() != StateJammed {
		t.Error("an observation older than the jam cleared it")
	}
	m.observe(StateUnlocked, t0.Add(3*time.Second))
	if m.published() != StateUnlocked {
		t.Errorf("published = %q, want UNLOCKED after a newer observation", m.published())
	}
	m.transition = StateUnlocking
	m.observe(StateLocked, t0.Add(4*time.Second))
	if m.published() != StateUnlocking {
		t.Error("a poll replaced the transitional state of a command in flight")
	}
}
