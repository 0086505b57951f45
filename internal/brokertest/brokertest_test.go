package brokertest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// connectPacket is an MQTT 3.1.1 CONNECT with a clean session and, when
// user is not empty, a username and password.
func connectPacket(user, pass string) []byte {
	const id = "brokertest"
	flags := byte(0x02)
	if user != "" {
		flags |= 0xC0
	}
	field := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, flags, 0, 30}, field(id)...)
	if user != "" {
		body = append(body, field(user)...)
		body = append(body, field(pass)...)
	}
	return append([]byte{0x10, byte(len(body))}, body...)
}

// tryConnack sends a CONNECT over conn and returns the broker's reply (a
// CONNACK is 0x20 0x02 flags code).
func tryConnack(conn net.Conn, user, pass string) ([]byte, error) {
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	if _, err := conn.Write(connectPacket(user, pass)); err != nil {
		return nil, fmt.Errorf("write CONNECT: %w", err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(conn, got); err != nil {
		return nil, fmt.Errorf("read CONNACK: %w", err)
	}
	return got, nil
}

// connack sends an anonymous CONNECT over conn and returns the broker's
// reply.
func connack(t *testing.T, conn net.Conn) []byte {
	t.Helper()
	got, err := tryConnack(conn, "", "")
	if err != nil {
		t.Fatal(err)
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
	b.RequireRestart(t)
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

// Return codes of an MQTT 3.1.1 CONNACK.
const (
	connAccepted       = 0x00
	connBadCredentials = 0x04
	connNotAuthorized  = 0x05
)

// dialTLS opens a TLS connection to b trusting only b's CA, with an
// optional client certificate.
func dialTLS(t *testing.T, b *Broker, cert *tls.Certificate) *tls.Conn {
	t.Helper()
	ca, err := os.ReadFile(b.CAFile())
	if err != nil {
		t.Fatalf("read CAFile: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("CAFile %s holds no PEM certificate", b.CAFile())
	}
	conf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	conn, err := tls.Dial("tcp", b.Addr(), conf)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", b.Addr(), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func TestStartWithZeroOptionsIsStart(t *testing.T) {
	b := StartWith(t, Options{})
	if !strings.HasPrefix(b.URL(), "tcp://") {
		t.Errorf("URL() = %q, want tcp://...", b.URL())
	}
	if got := b.CAFile(); got != "" {
		t.Errorf("CAFile() = %q, want empty without TLS", got)
	}
	mqttHandshake(t, b.Addr())
}

func TestStartWithTLS(t *testing.T) {
	b := StartWith(t, Options{TLS: true})
	if want := "ssl://" + b.Addr(); b.URL() != want {
		t.Errorf("URL() = %q, want %q", b.URL(), want)
	}
	conn := dialTLS(t, b, nil)
	if got, want := connack(t, conn), []byte{0x20, 0x02, 0x00, connAccepted}; !bytes.Equal(got, want) {
		t.Fatalf("CONNACK over TLS = % x, want % x", got, want)
	}

	// The listener speaks only TLS: plain MQTT gets no CONNACK.
	plain, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Close() })
	if got, err := tryConnack(plain, "", ""); err == nil {
		t.Fatalf("plain CONNECT to the TLS listener got % x, want an error", got)
	}
}

func TestStartWithTLSSurvivesRestart(t *testing.T) {
	b := StartWith(t, Options{TLS: true})
	b.Restart(t)
	conn := dialTLS(t, b, nil)
	if got, want := connack(t, conn), []byte{0x20, 0x02, 0x00, connAccepted}; !bytes.Equal(got, want) {
		t.Fatalf("CONNACK over TLS after Restart = % x, want % x", got, want)
	}
}

func TestStartWithUsers(t *testing.T) {
	b := StartWith(t, Options{Users: map[string]string{
		"bridge": "pa ss:word",
		"other":  "x",
	}})
	tests := []struct {
		name, user, pass string
		wantOK           bool
	}{
		{"right password", "bridge", "pa ss:word", true},
		{"second user", "other", "x", true},
		{"wrong password", "bridge", "pa ss:wor", false},
		{"unknown user", "nobody", "x", false},
		{"anonymous", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", b.Addr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			got, err := tryConnack(conn, tt.user, tt.pass)
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != 0x20 || got[1] != 0x02 {
				t.Fatalf("reply = % x, want a CONNACK", got)
			}
			code := got[3]
			if tt.wantOK && code != connAccepted {
				t.Errorf("CONNACK code = %#x, want accepted", code)
			}
			if !tt.wantOK && code != connBadCredentials && code != connNotAuthorized {
				t.Errorf("CONNACK code = %#x, want %#x or %#x", code, connBadCredentials, connNotAuthorized)
			}
		})
	}
}

func TestStartWithClientCerts(t *testing.T) {
	b := StartWith(t, Options{TLS: true, ClientCerts: true})
	certFile, keyFile := b.ClientCert(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	conn := dialTLS(t, b, &cert)
	if got, want := connack(t, conn), []byte{0x20, 0x02, 0x00, connAccepted}; !bytes.Equal(got, want) {
		t.Fatalf("CONNACK with a client certificate = % x, want % x", got, want)
	}

	// Without a certificate the broker ends the handshake; with TLS 1.3 the
	// client learns it at its first read.
	ca, err := os.ReadFile(b.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	bare, err := tls.Dial("tcp", b.Addr(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		return // rejected during the handshake
	}
	t.Cleanup(func() { _ = bare.Close() })
	if got, err := tryConnack(bare, "", ""); err == nil {
		t.Fatalf("CONNECT without a client certificate got % x, want an error", got)
	}
}

func TestSecuredConfig(t *testing.T) {
	got := securedConfig(18830, "state", security{
		caFile: "ca.pem", certFile: "server.pem", keyFile: "server-key.pem",
		requireCert: true, passwordFile: "passwd",
	})
	for _, want := range []string{
		"listener 18830 127.0.0.1\n",
		"cafile ca.pem\n",
		"certfile server.pem\n",
		"keyfile server-key.pem\n",
		"require_certificate true\n",
		"allow_anonymous false\n",
		"password_file passwd\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("securedConfig lacks %q; got:\n%s", want, got)
		}
	}
	if strings.Contains(got, "allow_anonymous true") {
		t.Errorf("securedConfig with a password file allows anonymous access:\n%s", got)
	}
}

func TestWritePasswordFileRejectsBadUsers(t *testing.T) {
	for _, users := range []map[string]string{
		{"": "x"},
		{"a:b": "x"},
		{"a": "line\nbreak"},
	} {
		if err := writePasswordFile("mosquitto_passwd", t.TempDir()+"/passwd", users); err == nil {
			t.Errorf("writePasswordFile(%q) = nil, want an error", users)
		}
	}
}
