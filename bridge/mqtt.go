package bridge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
)

// This is the only file of the project that imports paho.

// ErrNotConnected is returned by Publish while the broker connection is down.
// Nothing is queued: the caller decides what survives an outage.
var ErrNotConnected = errors.New("mqtt not connected")

// Defaults of MQTTOptions.
const (
	defaultClientID             = "sifely2mqtt"
	defaultOnlinePayload        = "online"
	defaultOfflinePayload       = "offline"
	defaultConnectTimeout       = 10 * time.Second
	defaultMaxReconnectInterval = 10 * time.Second

	mqttKeepAlive       = 30 * time.Second
	initialRetryBackoff = time.Second
	// closeBudget bounds the goodbye (unsubscribe, offline) at Close.
	closeBudget = 750 * time.Millisecond
	// disconnectQuiesceMillis is paho's Disconnect quiesce time.
	disconnectQuiesceMillis = 250
)

// MQTTOptions configure the broker connection.
type MQTTOptions struct {
	// URL of the broker: tcp://, ssl://, ws:// or wss:// (mqtt:// and
	// mqtts:// are aliases of tcp:// and ssl://). A missing port defaults
	// to 1883 (tcp) or 8883 (ssl).
	URL string
	// Username and Password authenticate to the broker; both optional.
	Username string
	Password sifely.Secret
	// CAFile is a PEM bundle of CAs trusted for ssl:// and wss:// (the
	// system pool when empty). CertFile and KeyFile are an optional client
	// certificate and its key (both or neither).
	CAFile, CertFile, KeyFile string
	// ClientID identifies the session (default "sifely2mqtt").
	ClientID string
	// WillTopic, when set, gets OnlinePayload (retained, QoS 1) after each
	// connect, OfflinePayload at Close, and OfflinePayload as the MQTT will
	// when the connection is lost.
	WillTopic string
	// OnlinePayload and OfflinePayload default to "online" and "offline".
	OnlinePayload, OfflinePayload string
	// ConnectTimeout bounds one connection attempt (default 10s).
	ConnectTimeout time.Duration
	// MaxReconnectInterval caps the exponential backoff between connection
	// attempts (default 10s), which bounds how long after the broker's
	// return the session is back.
	MaxReconnectInterval time.Duration
	// Logger receives connection events (component=mqtt); nil discards.
	Logger *slog.Logger
	// InOrder delivers messages to handlers one at a time, in the order the
	// broker sent them, instead of concurrently. Observers that check order
	// (tests, benchmarks) set it; the bridge does not need it.
	InOrder bool
}

// Message is one received MQTT message.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
	// Duplicate is the DUP flag: the broker may have delivered it before.
	Duplicate bool
}

type subscription struct {
	qos byte
	h   func(Message)
}

// MQTTClient is the bridge's MQTT session: a clean session that restores
// its subscriptions and announces itself online on every connect, and never
// queues messages while the broker is away.
type MQTTClient struct {
	opts   MQTTOptions
	broker string // URL without password, for logs
	log    *slog.Logger
	client mqtt.Client

	// connected is signalled (without blocking, coalescing) by paho's
	// on-connect handler; the run goroutine sets the session up.
	connected chan struct{}

	mu         sync.Mutex
	subs       map[string]subscription
	onConnect  []func()
	ready      chan struct{} // closed while the session is set up
	readyShut  bool          // ready is closed
	started    bool
	closed     bool
	cancel     context.CancelFunc
	goroutines sync.WaitGroup // run and subscribe goroutines; Add under mu while !closed
	handlers   sync.WaitGroup // message handler calls in flight; Add under mu while !closed
}

// NewMQTTClient validates o (URL scheme, TLS files) and returns a client
// that is not yet connected; call Subscribe and OnConnect, then Start.
func NewMQTTClient(o MQTTOptions) (*MQTTClient, error) {
	o = o.withDefaults()
	broker, tlsWanted, err := brokerURL(o.URL)
	if err != nil {
		return nil, err
	}
	var tlsConf *tls.Config
	switch {
	case tlsWanted:
		if tlsConf, err = loadTLS(o.CAFile, o.CertFile, o.KeyFile); err != nil {
			return nil, err
		}
	case o.CAFile != "" || o.CertFile != "" || o.KeyFile != "":
		return nil, fmt.Errorf("mqtt url %s: ca_file, cert_file and key_file need an ssl:// or wss:// url", broker.Redacted())
	}

	c := &MQTTClient{
		opts:      o,
		broker:    broker.Redacted(),
		log:       o.Logger.With("component", "mqtt"),
		connected: make(chan struct{}, 1),
		subs:      map[string]subscription{},
		ready:     make(chan struct{}),
	}

	po := mqtt.NewClientOptions().
		AddBroker(broker.String()).
		SetClientID(o.ClientID).
		SetCleanSession(true).
		SetOrderMatters(o.InOrder).
		SetResumeSubs(false).
		SetStore(noStore{}).
		SetKeepAlive(mqttKeepAlive).
		SetConnectTimeout(o.ConnectTimeout).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(o.MaxReconnectInterval).
		// The first connection is retried by run with capped exponential
		// backoff that Close can interrupt; paho's ConnectRetry sleeps a fixed
		// interval and would queue publishes made before the first connect.
		SetConnectRetry(false).
		SetOnConnectHandler(c.pahoConnected).
		SetConnectionLostHandler(c.pahoLost).
		SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) {
			c.log.Debug("mqtt reconnecting", "broker", c.broker)
		})
	if o.Username != "" {
		po.SetUsername(o.Username)
	}
	if !o.Password.IsZero() {
		po.SetPassword(o.Password.Reveal())
	}
	if tlsConf != nil {
		po.SetTLSConfig(tlsConf)
	}
	if o.WillTopic != "" {
		po.SetBinaryWill(o.WillTopic, []byte(o.OfflinePayload), 1, true)
	}
	c.client = mqtt.NewClient(po)
	return c, nil
}

func (o MQTTOptions) withDefaults() MQTTOptions {
	if o.ClientID == "" {
		o.ClientID = defaultClientID
	}
	if o.OnlinePayload == "" {
		o.OnlinePayload = defaultOnlinePayload
	}
	if o.OfflinePayload == "" {
		o.OfflinePayload = defaultOfflinePayload
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = defaultConnectTimeout
	}
	if o.MaxReconnectInterval <= 0 {
		o.MaxReconnectInterval = defaultMaxReconnectInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// brokerURL parses raw, maps the mqtt:// and mqtts:// aliases, adds the
// default port and reports whether the scheme uses TLS.
func brokerURL(raw string) (u *url.URL, useTLS bool, err error) {
	if raw == "" {
		return nil, false, errors.New("mqtt url is empty")
	}
	u, err = url.Parse(raw)
	if err != nil {
		return nil, false, fmt.Errorf("mqtt url: %w", err)
	}
	port := ""
	switch u.Scheme {
	case "tcp", "mqtt":
		u.Scheme, port = "tcp", "1883"
	case "ssl", "mqtts":
		u.Scheme, port, useTLS = "ssl", "8883", true
	case "ws":
	case "wss":
		useTLS = true
	default:
		return nil, false, fmt.Errorf("mqtt url %s: scheme %q is not one of tcp, ssl, ws, wss (or mqtt, mqtts)", u.Redacted(), u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, false, fmt.Errorf("mqtt url %s: no host", u.Redacted())
	}
	if port != "" && u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return u, useTLS, nil
}

// loadTLS builds the TLS configuration: caFile's CAs (the system pool when
// empty) and an optional client certificate.
func loadTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt ca_file %s: no PEM certificate found", caFile)
		}
		conf.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt cert_file %s / key_file %s: %w", certFile, keyFile, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	case certFile != "":
		return nil, fmt.Errorf("mqtt cert_file %s: key_file is missing", certFile)
	case keyFile != "":
		return nil, fmt.Errorf("mqtt key_file %s: cert_file is missing", keyFile)
	}
	return conf, nil
}

// Subscribe remembers filter and subscribes to it on every connect (the
// session is clean: the broker keeps nothing). h runs on paho's goroutine and
// must return quickly; a panic in h is recovered and logged. A later
// Subscribe to the same filter replaces the earlier one.
func (c *MQTTClient) Subscribe(filter string, qos byte, h func(Message)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	s := subscription{qos: qos, h: h}
	c.subs[filter] = s
	if !c.started || !c.client.IsConnectionOpen() {
		return // the next connect subscribes
	}
	tok := c.client.Subscribe(filter, qos, c.dispatch(h))
	c.goroutines.Go(func() {
		if err := c.await(context.Background(), tok); err != nil {
			c.log.Warn("mqtt subscribe", "topic", filter, "err", err)
		}
	})
}

// OnConnect registers f, called after each (re)connect once subscriptions
// are restored and the online payload is published. f runs on a goroutine
// the client owns (one call at a time) and that Close joins.
func (c *MQTTClient) OnConnect(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onConnect = append(c.onConnect, f)
}

// Start begins connecting in the background and returns at once: the
// daemon runs while the broker is down. Attempts back off exponentially up
// to MaxReconnectInterval. Cancelling ctx or calling Close stops the
// background work.
func (c *MQTTClient) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return errors.New("mqtt start: client closed")
	case c.started:
		return errors.New("mqtt start: already started")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mqtt start: %w", err)
	}
	ctx, c.cancel = context.WithCancel(ctx)
	c.started = true
	c.goroutines.Go(func() { c.run(ctx) })
	return nil
}

// WaitConnected blocks until the session is set up (connected, subscribed,
// online published) or ctx ends.
func (c *MQTTClient) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		ready, closed := c.ready, c.closed
		c.mu.Unlock()
		if closed {
			return errors.New("wait for mqtt connection: client closed")
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return fmt.Errorf("wait for mqtt connection: %w", ctx.Err())
		}
		if c.client.IsConnectionOpen() {
			return nil
		}
		// The connection dropped and paho has not told pahoLost yet.
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for mqtt connection: %w", ctx.Err())
		}
	}
}

// Connected reports whether the broker connection is up.
func (c *MQTTClient) Connected() bool { return c.client.IsConnectionOpen() }

// Publish sends payload to topic. It fails at once with ErrNotConnected while
// the connection is down (nothing is queued), and otherwise waits for the
// broker's acknowledgement (QoS 1, 2) or the write (QoS 0), or for ctx.
func (c *MQTTClient) Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	if !c.client.IsConnectionOpen() {
		return ErrNotConnected
	}
	if err := c.await(ctx, c.client.Publish(topic, qos, retain, payload)); err != nil {
		if errors.Is(err, mqtt.ErrNotConnected) {
			return ErrNotConnected
		}
		return fmt.Errorf("mqtt publish %s: %w", topic, err)
	}
	return nil
}

// Close ends the session: it unsubscribes, publishes OfflinePayload
// (retained) to WillTopic if connected, disconnects and joins the client's
// goroutines. It takes well under a second unless ctx is shorter.
func (c *MQTTClient) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	filters := make([]string, 0, len(c.subs))
	for f := range c.subs {
		filters = append(filters, f)
	}
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	sort.Strings(filters)

	var errs []error
	if c.client.IsConnectionOpen() {
		bye, stop := context.WithTimeout(ctx, closeBudget)
		if len(filters) > 0 {
			if err := c.await(bye, c.client.Unsubscribe(filters...)); err != nil {
				c.log.Warn("mqtt unsubscribe", "err", err)
			}
		}
		if c.opts.WillTopic != "" {
			err := c.await(bye, c.client.Publish(c.opts.WillTopic, 1, true, []byte(c.opts.OfflinePayload)))
			if err != nil {
				errs = append(errs, fmt.Errorf("mqtt publish offline: %w", err))
			}
		}
		stop()
	}
	c.client.Disconnect(disconnectQuiesceMillis)
	c.log.Info("mqtt closed", "broker", c.broker)

	joined := make(chan struct{})
	go func() { // ends when the joined goroutines and handlers end
		c.goroutines.Wait()
		c.handlers.Wait()
		close(joined)
	}()
	select {
	case <-joined:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("mqtt close: wait for handlers: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

// noStore is a paho Store that keeps nothing. paho's store exists to resend
// unacknowledged messages after a reconnect, which is the queue the bridge
// must not have (a publish cut off by an outage fails by its context); and
// paho's resend on reconnect races with publishes made as the connection
// comes up (the online payload), sending them twice.
type noStore struct{}

func (noStore) Open()                             {}
func (noStore) Put(string, packets.ControlPacket) {}
func (noStore) Get(string) packets.ControlPacket  { return nil }
func (noStore) All() []string                     { return nil }
func (noStore) Del(string)                        {}
func (noStore) Close()                            {}
func (noStore) Reset()                            {}

// run connects with capped exponential backoff (paho's auto-reconnect takes
// over after the first success) and sets the session up after every connect.
func (c *MQTTClient) run(ctx context.Context) {
	if !c.connect(ctx) {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.connected:
			c.setUp(ctx)
		}
	}
}

// connect makes the first connection; it reports false when ctx ended
// first.
func (c *MQTTClient) connect(ctx context.Context) bool {
	backoff := initialRetryBackoff
	for {
		err := c.await(ctx, c.client.Connect())
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.log.Warn("mqtt connect", "broker", c.broker, "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		backoff = min(2*backoff, c.opts.MaxReconnectInterval)
	}
}

// setUp restores the subscriptions, publishes the online payload, marks the
// session ready and calls the OnConnect functions.
func (c *MQTTClient) setUp(ctx context.Context) {
	c.mu.Lock()
	subs := make(map[string]subscription, len(c.subs))
	for f, s := range c.subs {
		subs[f] = s
	}
	callbacks := append([]func(){}, c.onConnect...)
	c.mu.Unlock()

	for filter, s := range subs {
		if err := c.await(ctx, c.client.Subscribe(filter, s.qos, c.dispatch(s.h))); err != nil {
			c.log.Warn("mqtt subscribe", "topic", filter, "err", err)
		}
	}
	if c.opts.WillTopic != "" {
		if err := c.Publish(ctx, c.opts.WillTopic, 1, true, []byte(c.opts.OnlinePayload)); err != nil {
			c.log.Warn("mqtt publish online", "topic", c.opts.WillTopic, "err", err)
		}
	}
	if ctx.Err() != nil || !c.client.IsConnectionOpen() {
		return // lost again; the next connect sets up anew
	}
	c.mu.Lock()
	if !c.readyShut {
		close(c.ready)
		c.readyShut = true
	}
	c.mu.Unlock()
	c.log.Info("mqtt session ready", "broker", c.broker, "subscriptions", len(subs))

	for _, f := range callbacks {
		c.safely("on connect", f)
	}
}

// pahoConnected is paho's on-connect handler: it hands off to run.
func (c *MQTTClient) pahoConnected(mqtt.Client) {
	c.log.Info("mqtt connected", "broker", c.broker, "client_id", c.opts.ClientID)
	select {
	case c.connected <- struct{}{}:
	default: // a set-up is already pending
	}
}

// pahoLost is paho's connection-lost handler; paho reconnects by itself.
func (c *MQTTClient) pahoLost(_ mqtt.Client, err error) {
	c.log.Warn("mqtt connection lost", "broker", c.broker, "err", err)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readyShut {
		c.ready = make(chan struct{})
		c.readyShut = false
	}
}

// dispatch adapts h to paho: it tracks the call for Close, converts the
// message and recovers a panic.
func (c *MQTTClient) dispatch(h func(Message)) mqtt.MessageHandler {
	return func(_ mqtt.Client, m mqtt.Message) {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		c.handlers.Add(1)
		c.mu.Unlock()
		defer c.handlers.Done()
		msg := Message{
			Topic:     m.Topic(),
			Payload:   append([]byte(nil), m.Payload()...),
			Retained:  m.Retained(),
			Duplicate: m.Duplicate(),
		}
		c.safely("message handler", func() { h(msg) }, "topic", msg.Topic)
	}
}

// safely calls f and logs a panic with its stack instead of crashing.
func (c *MQTTClient) safely(what string, f func(), attrs ...any) {
	defer func() {
		if r := recover(); r != nil {
			attrs = append(attrs, "what", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			c.log.Error("mqtt handler panicked", attrs...)
		}
	}()
	f()
}

// await waits for tok or ctx, never with a bare Wait.
func (c *MQTTClient) await(ctx context.Context, tok mqtt.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
