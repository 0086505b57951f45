package bridge

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/internal/brokertest"
)

// mqttWait bounds every wait for the broker in these tests: generous, so a
// slow machine does not fail them.
const mqttWait = 20 * time.Second

// uniqueTopic returns a topic prefix no other test (or earlier run against an
// external broker) uses.
func uniqueTopic(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("sifely2mqtt-test/%s/%d", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano())
}

// syncBuffer is a bytes.Buffer safe for concurrent slog writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newMQTT builds a client for url with a unique client id and closes it in
// cleanup; its log is shown when the test fails. edit may adjust the options.
func newMQTT(t *testing.T, url string, edit func(*MQTTOptions)) *MQTTClient {
	t.Helper()
	logs := &syncBuffer{}
	o := MQTTOptions{
		URL:      url,
		ClientID: fmt.Sprintf("test-%d", time.Now().UnixNano()),
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&o)
	}
	c, err := NewMQTTClient(o)
	if err != nil {
		t.Fatalf("NewMQTTClient: %v", err)
	}
	t.Cleanup(func() { // runs after Close below
		if t.Failed() {
			t.Logf("log of client %s:\n%s", o.ClientID, logs)
		}
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// start starts c and waits until its session is set up.
func start(t *testing.T, c *MQTTClient) {
	t.Helper()
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitConnected(t, c)
}

func waitConnected(t *testing.T, c *MQTTClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), mqttWait)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatalf("WaitConnected: %v", err)
	}
}

// inbox collects messages from a subscription without ever blocking paho.
type inbox chan Message

func newInbox() inbox { return make(inbox, 256) }

func (in inbox) put(m Message) {
	select {
	case in <- m:
	default:
	}
}

// next returns the next message on topic, skipping others.
func (in inbox) next(t *testing.T, topic string) Message {
	t.Helper()
	timer := time.NewTimer(mqttWait)
	defer timer.Stop()
	for {
		select {
		case m := <-in:
			if m.Topic == topic {
				return m
			}
		case <-timer.C:
			t.Fatalf("no message on %s within %v", topic, mqttWait)
		}
	}
}

// expect waits for the next message on topic and checks its payload.
func (in inbox) expect(t *testing.T, topic, payload string) Message {
	t.Helper()
	m := in.next(t, topic)
	if got := string(m.Payload); got != payload {
		t.Fatalf("message on %s = %q, want %q", topic, got, payload)
	}
	return m
}

// until polls cond until it holds; it is for state paho changes on its own
// goroutines without telling us.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(mqttWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, mqttWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func publish(t *testing.T, c *MQTTClient, topic string, retain bool, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), mqttWait)
	defer cancel()
	if err := c.Publish(ctx, topic, 1, retain, []byte(payload)); err != nil {
		t.Fatalf("Publish %s: %v", topic, err)
	}
}

func TestMQTTRoundTrip(t *testing.T) {
	b := brokertest.Start(t)
	topic := uniqueTopic(t)
	in := newInbox()
	sub := newMQTT(t, b.URL(), nil)
	sub.Subscribe(topic+"/#", 1, in.put)
	start(t, sub)
	pub := newMQTT(t, b.URL(), nil)
	start(t, pub)

	for _, qos := range []byte{0, 1, 2} {
		want := fmt.Sprintf("hello qos %d", qos)
		ctx, cancel := context.WithTimeout(t.Context(), mqttWait)
		err := pub.Publish(ctx, topic+"/a", qos, false, []byte(want))
		cancel()
		if err != nil {
			t.Fatalf("Publish qos %d: %v", qos, err)
		}
		got := in.expect(t, topic+"/a", want)
		if got.Retained {
			t.Errorf("live message qos %d: Retained = true, want false", qos)
		}
	}
}

func TestMQTTSubscribeAfterConnect(t *testing.T) {
	b := brokertest.Start(t)
	topic := uniqueTopic(t)
	sub := newMQTT(t, b.URL(), nil)
	start(t, sub)
	pub := newMQTT(t, b.URL(), nil)
	start(t, pub)

	// A subscription made while connected is live at once (the retained
	// message proves the broker processed it) and not only after the next
	// connect.
	publish(t, pub, topic, true, "ready")
	in := newInbox()
	sub.Subscribe(topic, 1, in.put)
	in.expect(t, topic, "ready")
	publish(t, pub, topic, false, "later")
	in.expect(t, topic, "later")
}

func TestMQTTRetainedFlag(t *testing.T) {
	b := brokertest.Start(t)
	topic := uniqueTopic(t)
	pub := newMQTT(t, b.URL(), nil)
	start(t, pub)
	publish(t, pub, topic, true, "kept")
	t.Cleanup(func() { // clear the retained message on an external broker
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = pub.Publish(ctx, topic, 1, true, nil)
	})

	in := newInbox()
	sub := newMQTT(t, b.URL(), nil)
	sub.Subscribe(topic, 1, in.put)
	start(t, sub)
	if got := in.expect(t, topic, "kept"); !got.Retained {
		t.Errorf("message delivered on subscribe: Retained = false, want true")
	}
	publish(t, pub, topic, false, "live")
	if got := in.expect(t, topic, "live"); got.Retained {
		t.Errorf("live message: Retained = true, want false")
	}
}

func TestMQTTWillOnConnectionLoss(t *testing.T) {
	b := brokertest.Start(t)
	proxy := brokertest.NewProxy(t, b)
	will := uniqueTopic(t) + "/bridge/state"

	in := newInbox()
	watcher := newMQTT(t, b.URL(), nil)
	watcher.Subscribe(will, 1, in.put)
	start(t, watcher)

	connects := make(chan struct{}, 10)
	c := newMQTT(t, proxy.URL(), func(o *MQTTOptions) { o.WillTopic = will })
	c.OnConnect(func() { connects <- struct{}{} })
	start(t, c)
	in.expect(t, will, "online")
	receive(t, connects, "first OnConnect")

	// The link breaks without an MQTT DISCONNECT: only the broker's will
	// can say "offline".
	proxy.Cut()
	if got := in.next(t, will); string(got.Payload) != "offline" {
		t.Fatalf("after the connection broke: %s = %q, want the will %q", will, got.Payload, "offline")
	}

	// paho reconnects by itself; the session comes back online.
	in.expect(t, will, "online")
	receive(t, connects, "OnConnect after reconnect")
	waitConnected(t, c)
}

// receive waits for one value on ch.
func receive(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(mqttWait):
		t.Fatalf("%s: not within %v", what, mqttWait)
	}
}

func TestMQTTClosePublishesOfflineRetained(t *testing.T) {
	b := brokertest.Start(t)
	will := uniqueTopic(t) + "/bridge/state"

	in := newInbox()
	watcher := newMQTT(t, b.URL(), nil)
	watcher.Subscribe(will, 1, in.put)
	start(t, watcher)

	c := newMQTT(t, b.URL(), func(o *MQTTOptions) {
		o.WillTopic = will
		o.OnlinePayload, o.OfflinePayload = "up", "down"
	})
	start(t, c)
	in.expect(t, will, "up")

	if err := c.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	in.expect(t, will, "down")
	if c.Connected() {
		t.Error("Connected() = true after Close")
	}
	if err := c.Publish(t.Context(), will, 1, false, []byte("x")); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Publish after Close = %v, want ErrNotConnected", err)
	}
	if err := c.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.WaitConnected(t.Context()); err == nil {
		t.Error("WaitConnected after Close: got nil error, want one")
	}

	// Retained: a newcomer learns the bridge is offline.
	late := newInbox()
	newcomer := newMQTT(t, b.URL(), nil)
	newcomer.Subscribe(will, 1, late.put)
	start(t, newcomer)
	if got := late.expect(t, will, "down"); !got.Retained {
		t.Error("offline payload seen by a newcomer: Retained = false, want true")
	}
}

func TestMQTTSurvivesBrokerRestart(t *testing.T) {
	b := brokertest.Start(t)
	b.RequireRestart(t)
	topic := uniqueTopic(t)

	in := newInbox()
	sub := newMQTT(t, b.URL(), nil)
	sub.Subscribe(topic+"/cmd", 1, in.put)
	start(t, sub)

	var connects atomic.Int32
	connected := make(chan struct{}, 10)
	pub := newMQTT(t, b.URL(), func(o *MQTTOptions) { o.WillTopic = topic + "/state" })
	pub.OnConnect(func() {
		connects.Add(1)
		connected <- struct{}{}
	})
	start(t, pub)
	receive(t, connected, "first OnConnect")
	publish(t, pub, topic+"/cmd", false, "before")
	in.expect(t, topic+"/cmd", "before")
	publish(t, pub, topic+"/kept", true, "persisted")

	b.Stop(t)
	until(t, "publisher notices the broker is gone", func() bool { return !pub.Connected() })
	if err := pub.Publish(t.Context(), topic+"/cmd", 1, false, []byte("lost")); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Publish while the broker is down = %v, want ErrNotConnected", err)
	}

	b.Restart(t)
	// The design promises commands work again within 15 s of the broker's
	// return (MaxReconnectInterval 10 s).
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	for _, c := range []*MQTTClient{pub, sub} {
		if err := c.WaitConnected(ctx); err != nil {
			t.Fatalf("WaitConnected after restart: %v", err)
		}
	}
	receive(t, connected, "OnConnect after restart")
	if got := connects.Load(); got != 2 {
		t.Errorf("OnConnect calls = %d, want 2", got)
	}
	// sub's clean session lost its subscription with the broker: this
	// arrives only because it was restored on reconnect.
	publish(t, pub, topic+"/cmd", false, "after")
	in.expect(t, topic+"/cmd", "after")

	// Retained messages survive a restart, as with a real broker.
	kept := newInbox()
	late := newMQTT(t, b.URL(), nil)
	late.Subscribe(topic+"/kept", 1, kept.put)
	start(t, late)
	if got := kept.expect(t, topic+"/kept", "persisted"); !got.Retained {
		t.Error("retained message after restart: Retained = false")
	}
}

func TestMQTTStartWhileBrokerDown(t *testing.T) {
	b := brokertest.Start(t)
	b.RequireRestart(t)
	b.Stop(t)
	c := newMQTT(t, b.URL(), nil)
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("Start with the broker down: %v", err)
	}
	if c.Connected() {
		t.Fatal("Connected() = true with the broker down")
	}
	if err := c.Publish(t.Context(), "x", 0, false, nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Publish with the broker down = %v, want ErrNotConnected", err)
	}
	b.Restart(t)
	waitConnected(t, c)
	if err := c.Start(t.Context()); err == nil {
		t.Error("second Start: got nil error, want one")
	}
}

func TestMQTTHandlerPanicIsRecovered(t *testing.T) {
	b := brokertest.Start(t)
	topic := uniqueTopic(t)
	var logs syncBuffer
	in := newInbox()
	sub := newMQTT(t, b.URL(), func(o *MQTTOptions) { o.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	sub.Subscribe(topic, 1, func(m Message) {
		if string(m.Payload) == "boom" {
			panic("handler exploded")
		}
		in.put(m)
	})
	start(t, sub)
	pub := newMQTT(t, b.URL(), nil)
	start(t, pub)

	publish(t, pub, topic, false, "boom")
	publish(t, pub, topic, false, "fine")
	in.expect(t, topic, "fine")
	until(t, "panic logged", func() bool { return strings.Contains(logs.String(), "handler exploded") })
	got := logs.String()
	for _, want := range []string{`"msg":"mqtt handler panicked"`, `"component":"mqtt"`, `"stack":"goroutine`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s; got:\n%s", want, got)
		}
	}
}

func TestMQTTNeverLogsPassword(t *testing.T) {
	b := brokertest.Start(t)
	const password = "hunter2-very-secret"
	var logs syncBuffer
	// Without a password file Mosquitto accepts any credentials.
	c := newMQTT(t, b.URL(), func(o *MQTTOptions) {
		o.Username = "user"
		o.Password = password
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	start(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := logs.String()
	if !strings.Contains(got, "mqtt session ready") {
		t.Fatalf("log lacks the connect line; got:\n%s", got)
	}
	if strings.Contains(got, password) {
		t.Errorf("log contains the password:\n%s", got)
	}
}

func TestMQTTPublishBeforeStart(t *testing.T) {
	c, err := NewMQTTClient(MQTTOptions{URL: "tcp://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(t.Context(), "a", 1, false, []byte("x")); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Publish before Start = %v, want ErrNotConnected", err)
	}
	if c.Connected() {
		t.Error("Connected() = true before Start")
	}
	if err := c.Close(t.Context()); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
	if err := c.Start(t.Context()); err == nil {
		t.Error("Start after Close: got nil error, want one")
	}
}

func TestMQTTWaitConnectedHonoursContext(t *testing.T) {
	c, err := NewMQTTClient(MQTTOptions{URL: "tcp://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.WaitConnected(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitConnected(cancelled) = %v, want context.Canceled", err)
	}
}

func TestBrokerURL(t *testing.T) {
	tests := []struct {
		in, want string
		tls      bool
	}{
		{"tcp://broker", "tcp://broker:1883", false},
		{"tcp://broker:1884", "tcp://broker:1884", false},
		{"mqtt://broker", "tcp://broker:1883", false},
		{"ssl://broker", "ssl://broker:8883", true},
		{"mqtts://broker:9883", "ssl://broker:9883", true},
		{"ws://broker:9001/mqtt", "ws://broker:9001/mqtt", false},
		{"wss://broker/mqtt", "wss://broker/mqtt", true},
		{"tcp://[::1]", "tcp://[::1]:1883", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, useTLS, err := brokerURL(tt.in)
			if err != nil {
				t.Fatalf("brokerURL: %v", err)
			}
			if got := u.String(); got != tt.want {
				t.Errorf("url = %q, want %q", got, tt.want)
			}
			if useTLS != tt.tls {
				t.Errorf("tls = %v, want %v", useTLS, tt.tls)
			}
		})
	}
}

func TestNewMQTTClientErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing-ca.pem")
	tests := []struct {
		name string
		opts MQTTOptions
		want []string // substrings of the error
	}{
		{"empty url", MQTTOptions{}, []string{"mqtt url", "empty"}},
		{"bad scheme", MQTTOptions{URL: "http://broker:1883"}, []string{`"http"`, "tcp, ssl, ws, wss"}},
		{"no scheme", MQTTOptions{URL: "broker:1883"}, []string{"scheme"}},
		{"no host", MQTTOptions{URL: "tcp://"}, []string{"no host"}},
		{"missing ca file", MQTTOptions{URL: "ssl://broker", CAFile: missing}, []string{"ca_file", missing}},
		{"ca file not pem", MQTTOptions{URL: "ssl://broker", CAFile: notPEM}, []string{"ca_file", notPEM, "no PEM"}},
		{"cert without key", MQTTOptions{URL: "ssl://broker", CertFile: notPEM}, []string{"key_file is missing"}},
		{"key without cert", MQTTOptions{URL: "wss://broker/mqtt", KeyFile: notPEM}, []string{"cert_file is missing"}},
		{"bad key pair", MQTTOptions{URL: "ssl://broker", CertFile: notPEM, KeyFile: missing}, []string{"cert_file", notPEM, "key_file", missing}},
		{"tls files on plain tcp", MQTTOptions{URL: "tcp://broker", CAFile: notPEM}, []string{"ssl://"}},
		{"password stays hidden", MQTTOptions{URL: "gopher://user:pw-secret@broker"}, []string{"gopher"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewMQTTClient(tt.opts)
			if err == nil {
				t.Fatalf("NewMQTTClient(%+v) = %v, nil; want an error", tt.opts, c)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "pw-secret") {
				t.Errorf("error %q reveals the URL's password", err)
			}
		})
	}
}

func TestLoadTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)

	conf, err := loadTLS(certFile, certFile, keyFile)
	if err != nil {
		t.Fatalf("loadTLS: %v", err)
	}
	if conf.RootCAs == nil || conf.RootCAs.Equal(x509.NewCertPool()) {
		t.Error("RootCAs empty, want the CA file's certificate")
	}
	if got := len(conf.Certificates); got != 1 {
		t.Errorf("client certificates = %d, want 1", got)
	}

	conf, err = loadTLS("", "", "")
	if err != nil {
		t.Fatalf("loadTLS without files: %v", err)
	}
	if conf.RootCAs != nil || len(conf.Certificates) != 0 {
		t.Error("without files: want the system pool and no client certificate")
	}

	if _, err := NewMQTTClient(MQTTOptions{URL: "ssl://broker", CAFile: certFile, CertFile: certFile, KeyFile: keyFile}); err != nil {
		t.Errorf("NewMQTTClient with valid TLS files: %v", err)
	}
}

// writeSelfSigned writes a self-signed certificate and its key as PEM files.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sifely2mqtt test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
