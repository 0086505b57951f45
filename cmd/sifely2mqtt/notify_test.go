package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/internal/brokertest"
)

// The systemd unit is Type=notify with a watchdog: the daemon must say
// READY=1 once it serves, feed the watchdog, and say STOPPING=1 at
// shutdown, or systemd kills it.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000") // 200 ms: fed every 100 ms
	t.Setenv("WATCHDOG_PID", "")

	broker := brokertest.Start(t)
	cfg := DefaultConfig()
	cfg.MQTT.URL = broker.URL()
	cfg.MQTT.BaseTopic = "notifytest"
	cfg.MQTT.ClientID = "notifytest"
	cfg.HTTP.Listen = ""
	cfg.StateDir = t.TempDir()

	got := make(chan string, 64)
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runDaemon(ctx, cfg, runOptions{Demo: true, Version: "test", Stdout: io.Discard},
			newLogger(LogConfig{Level: "error", Format: "text"}, io.Discard))
	}()
	wait := func(want string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case msg := <-got:
				if strings.Contains(msg, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q from the daemon", want)
			}
		}
	}
	wait("READY=1")
	wait("WATCHDOG=1")
	wait("WATCHDOG=1")
	cancel()
	wait("STOPPING=1")
	if err := <-done; err != nil {
		t.Fatalf("runDaemon: %v", err)
	}
}
