package bridge

import (
	"testing"
	"time"
)

func TestHealthyDetectsAStalledLoop(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	b, err := New(Options{Now: func() time.Time { return now }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Healthy(); err != nil {
		t.Errorf("before Run: %v", err)
	}
	b.heartbeat.Store(now.UnixNano())
	now = now.Add(14 * time.Second)
	if err := b.Healthy(); err != nil {
		t.Errorf("14 s after a round: %v", err)
	}
	now = now.Add(2 * time.Second)
	if err := b.Healthy(); err == nil {
		t.Error("16 s after the last round (3 intervals of 5 s): healthy")
	}
}
