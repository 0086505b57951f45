package brokertest

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// connack sends an MQTT 3.1.1 CONNECT over conn and returns the broker's
// reply (a CONNACK is 0x20 0x02 flags code).
func connack(t *testing.T, conn net.Conn) []byte {
	t.Helper()
	const id = "brokertest"
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 30, 0, byte(len(id))}
	body = append(body, id...)
	pkt := append([]byte{0x10, byte(len(body))}, body...)
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(pkt); err != nil {
		t.Fatalf("write CONNECT: %v", err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("read CONNACK: %v", err)
	}
	return got
}

// mqttHandshake dials addr and checks that an MQTT broker accepts a
// connection there.
func mqttHandshake(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial broker: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if got, want := connack(t, conn), []byte{0x20, 0x02, 0x00, 0x00}; !bytes.Equal(got, want) {
		t.Fatalf("CONNACK = % x, want % x", got, want)
	}
}

func TestStartSpeaksMQTT(t *testing.T) {
	b := Start(t)
	if !strings.HasPrefix(b.URL(), "tcp://") {
		t.Errorf("URL() = %q, want tcp://...", b.URL())
	}
	mqttHandshake(t, b.Addr())
}

func TestStopRestartKeepsAddress(t *testing.T) {
	b := Start(t)
	if !b.CanRestart() {
		t.Skip("broker cannot be restarted")
	}
	before := b.URL()
	b.Stop(t)
	if conn, err := net.Dial("tcp", b.Addr()); err == nil {
		_ = conn.Close()
		t.Fatal("broker still accepts connections after Stop")
	}
	b.Restart(t)
	if got := b.URL(); got != before {
		t.Errorf("URL() after Restart = %q, want %q", got, before)
	}
	mqttHandshake(t, b.Addr())
}

func TestProxyForwardsAndCuts(t *testing.T) {
	b := Start(t)
	p := NewProxy(t, b)
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL(), "tcp://"))
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if got, want := connack(t, conn), []byte{0x20, 0x02, 0x00, 0x00}; !bytes.Equal(got, want) {
		t.Fatalf("CONNACK through proxy = % x, want % x", got, want)
	}
	p.Cut()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read after Cut returned %d bytes, want an error", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection still open after Cut")
	}
}

func TestLocalConfig(t *testing.T) {
	got := localConfig(18830, "state")
	for _, want := range []string{
		"listener 18830 127.0.0.1\n",
		"allow_anonymous true\n",
		"persistence true\n",
		"persistence_location state/\n",
		"autosave_interval 1800\n",
		"log_dest stderr\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("localConfig lacks %q; got:\n%s", want, got)
		}
	}
}

func TestContainerFallback(t *testing.T) {
	b, reason := startContainer(t)
	if b == nil {
		if reason == "" {
			t.Fatal("startContainer returned neither a broker nor a reason")
		}
		t.Skipf("docker unavailable: %s", reason)
	}
	mqttHandshake(t, b.Addr())
}
