package bridge

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/internal/brokertest"
	"github.com/sifely2mqtt/sifely2mqtt/sifely"
)

// These tests run the client against a real Mosquitto configured for TLS,
// passwords and client certificates (see brokertest.StartWith).

// loggedClient builds a client like newMQTT whose debug log, as JSON lines,
// goes to the returned buffer.
func loggedClient(t *testing.T, url string, edit func(*MQTTOptions)) (*MQTTClient, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	c := newMQTT(t, url, func(o *MQTTOptions) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		if edit != nil {
			edit(o)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	})
	return c, logs
}

// roundTrip checks that c, already connected, receives its own message
// through the broker.
func roundTrip(t *testing.T, c *MQTTClient) {
	t.Helper()
	topic := uniqueTopic(t)
	in := newInbox()
	c.Subscribe(topic, 1, in.put)
	// Subscribe after connect completes in the background; a retained
	// message reaches the subscription whenever it lands.
	publish(t, c, topic, true, "hello over the wire")
	in.expect(t, topic, "hello over the wire")
}

// refusedConnect starts c, which the broker must refuse, and waits for the
// refusal in its log: a "mqtt connect" warning whose error mentions one of
// reasons. It then checks that c reports no connection.
func refusedConnect(t *testing.T, c *MQTTClient, logs *syncBuffer, reasons ...string) {
	t.Helper()
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	var line string
	until(t, "connect refused and logged", func() bool {
		for l := range strings.SplitSeq(logs.String(), "\n") {
			if strings.Contains(l, `"msg":"mqtt connect"`) {
				line = l
				return true
			}
		}
		return false
	})
	t.Logf("refusal logged: %s", line)
	found := false
	for _, r := range reasons {
		found = found || strings.Contains(strings.ToLower(line), strings.ToLower(r))
	}
	if !found {
		t.Errorf("connect failure logged as %s; want an error mentioning one of %q", line, reasons)
	}
	if c.Connected() {
		t.Error("Connected() = true after the broker refused the connection")
	}
	// Never connected, WaitConnected can only end with its context.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := c.WaitConnected(ctx); err == nil {
		t.Error("WaitConnected = nil for a refused connection")
	}
}

// expectNothing checks that in holds no message. Call it after a message
// that would reach in has demonstrably been delivered elsewhere.
func expectNothing(t *testing.T, in inbox) {
	t.Helper()
	select {
	case m := <-in:
		t.Errorf("got message on %s (%q), want none", m.Topic, m.Payload)
	default:
	}
}

func TestMQTTOverTLS(t *testing.T) {
	b := brokertest.StartWith(t, brokertest.Options{TLS: true})
	if !strings.HasPrefix(b.URL(), "ssl://") {
		t.Fatalf("broker URL = %q, want ssl://", b.URL())
	}
	tests := []struct{ name, url string }{
		{"ssl", b.URL()},
		{"mqtts alias", "mqtts://" + b.Addr()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := loggedClient(t, tt.url, func(o *MQTTOptions) { o.CAFile = b.CAFile() })
			start(t, c)
			roundTrip(t, c)
		})
	}
}

func TestMQTTTLSRejectsUntrustedServer(t *testing.T) {
	b := brokertest.StartWith(t, brokertest.Options{TLS: true})
	otherCA, _ := writeSelfSigned(t, t.TempDir())
	tests := []struct {
		name    string
		url     string
		caFile  string
		reasons []string // one of them is in the logged error
	}{
		// A CA that did not issue the broker's certificate.
		{"other CA", b.URL(), otherCA, []string{"x509: certificate signed by unknown authority"}},
		// The system pool does not hold the test's CA.
		{"system pool", b.URL(), "", []string{"x509: certificate signed by unknown authority"}},
		// Plain MQTT to a TLS listener: the broker drops the connection,
		// or it times out.
		{"plain tcp", "tcp://" + b.Addr(), "", []string{"network error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := uniqueTopic(t)

			bad, logs := loggedClient(t, tt.url, func(o *MQTTOptions) {
				o.CAFile = tt.caFile
				o.ConnectTimeout = 2 * time.Second // plain tcp waits for a CONNACK that never comes
			})
			badIn := newInbox()
			bad.Subscribe(topic, 1, badIn.put)
			refusedConnect(t, bad, logs, tt.reasons...)

			// A trusted client's retained message reaches the trusted
			// subscriber, and never the untrusted one.
			good, _ := loggedClient(t, b.URL(), func(o *MQTTOptions) { o.CAFile = b.CAFile() })
			goodIn := newInbox()
			good.Subscribe(topic, 1, goodIn.put)
			start(t, good)
			publish(t, good, topic, true, "for trusted clients")
			goodIn.expect(t, topic, "for trusted clients")
			expectNothing(t, badIn)
			if bad.Connected() {
				t.Error("untrusting client connected")
			}
		})
	}
}

func TestMQTTPasswordAuthentication(t *testing.T) {
	const (
		user     = "bridge"
		password = "correct horse: battery staple"
		wrong    = "correct horse: battery stapler"
	)
	b := brokertest.StartWith(t, brokertest.Options{Users: map[string]string{user: password}})
	tests := []struct {
		name       string
		user, pass string
		wantOK     bool
	}{
		{"right password", user, password, true},
		{"wrong password", user, wrong, false},
		{"unknown user", "intruder", password, false},
		{"no credentials", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, logs := loggedClient(t, b.URL(), func(o *MQTTOptions) {
				o.Username = tt.user
				o.Password = sifely.Secret(tt.pass)
			})
			if tt.wantOK {
				start(t, c)
				roundTrip(t, c)
			} else {
				in := newInbox()
				c.Subscribe(uniqueTopic(t), 1, in.put)
				refusedConnect(t, c, logs, "not authorized", "not authorised", "bad user name or password")
				expectNothing(t, in)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if err := c.Close(ctx); err != nil {
				t.Errorf("Close: %v", err)
			}
			got := logs.String()
			for _, secret := range []string{password, wrong, "battery staple"} {
				if strings.Contains(got, secret) {
					t.Errorf("log contains the password %q:\n%s", secret, got)
				}
			}
		})
	}
}

func TestMQTTClientCertificate(t *testing.T) {
	const user, password = "bridge", "s3cret"
	b := brokertest.StartWith(t, brokertest.Options{
		TLS:         true,
		ClientCerts: true,
		Users:       map[string]string{user: password},
	})
	certFile, keyFile := b.ClientCert(t)
	tests := []struct {
		name              string
		certFile, keyFile string
		wantOK            bool
	}{
		{"with certificate", certFile, keyFile, true},
		{"without certificate", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, logs := loggedClient(t, b.URL(), func(o *MQTTOptions) {
				o.CAFile, o.CertFile, o.KeyFile = b.CAFile(), tt.certFile, tt.keyFile
				o.Username, o.Password = user, password
			})
			if tt.wantOK {
				start(t, c)
				roundTrip(t, c)
				return
			}
			// The broker aborts the handshake; TLS 1.3 reports it at the
			// first read or write.
			refusedConnect(t, c, logs, "certificate required", "network error")
		})
	}
}
