package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/sifely2mqtt/sifely2mqtt/bridge"
	"github.com/sifely2mqtt/sifely2mqtt/sifely"
	"github.com/sifely2mqtt/sifely2mqtt/sifely/sifelytest"
)

// runOptions are the command-line choices runDaemon needs besides the
// config.
type runOptions struct {
	Demo    bool
	Version string
	Stdout  io.Writer
	// Ready, if not nil, is called once the daemon serves (tests use it).
	Ready func(addrs daemonAddrs)
	// DemoActivity is the interval of the demo's scripted lock activity
	// (default 2 minutes).
	DemoActivity time.Duration
}

// daemonAddrs are the addresses the daemon listens on, once bound.
type daemonAddrs struct {
	Webhook string
	HTTP    string
}

// demoAccount and demoPassword are the simulated cloud's credentials in
// -demo mode; they protect nothing.
const (
	demoAccount  = "demo@example.com"
	demoPassword = "demo-password"
)

// runDaemon wires the cloud client, the MQTT session, the bridge and the
// HTTP servers, and runs them until ctx ends.
func runDaemon(ctx context.Context, cfg Config, opts runOptions, logger *slog.Logger) error {
	stateDir := cfg.StateDir
	metrics := bridge.NewMetrics()
	cloudOpts := sifely.Options{
		BaseURL:  cfg.Sifely.BaseURL,
		Account:  cfg.Sifely.Account,
		Password: cfg.Sifely.Password,
		APIKey:   cfg.Sifely.APIKey,
		ClientID: cfg.Sifely.ClientID,
		Budget: sifely.Budget{
			PerMinute: cfg.Sifely.Budget.PerMinute,
			PerHour:   cfg.Sifely.Budget.PerHour,
			PerDay:    cfg.Sifely.Budget.PerDay,
		},
		Logger: logger.With("component", "sifely"),
		OnCall: metrics.ObserveCloudCall,
	}
	// The webhook listener is bound first: in demo mode the simulated
	// cloud pushes to it, as the real cloud would.
	webhookSecret := cfg.Webhook.Secret
	webhookListen := cfg.Webhook.Listen
	if opts.Demo && webhookListen == "" {
		webhookListen = "127.0.0.1:0"
		webhookSecret = sifely.Secret(randomToken())
	}
	var webhookLn net.Listener
	if webhookListen != "" {
		ln, err := net.Listen("tcp", webhookListen)
		if err != nil {
			return fmt.Errorf("webhook.listen: %w", err)
		}
		webhookLn = ln
		defer ln.Close()
	}
	var sim *sifelytest.Server
	if opts.Demo {
		simOpts := sifelytest.Options{
			Account:        demoAccount,
			Password:       demoPassword,
			Locks:          sifelytest.DemoLocks(),
			CommandLatency: 1500 * time.Millisecond,
			StateLatency:   200 * time.Millisecond,
			Logger:         logger.With("component", "demo-cloud"),
		}
		if webhookLn != nil {
			_, port, _ := net.SplitHostPort(webhookLn.Addr().String())
			simOpts.WebhookURL = "http://127.0.0.1:" + port + "/webhook/" + webhookSecret.Reveal()
		}
		sim = sifelytest.NewServer(simOpts)
		defer sim.Close()
		cloudOpts = sifely.Options{BaseURL: sim.URL(), Account: demoAccount, Password: demoPassword,
			Logger: cloudOpts.Logger, OnCall: cloudOpts.OnCall}
		dir, err := os.MkdirTemp("", "sifely2mqtt-demo-")
		if err != nil {
			return fmt.Errorf("demo state dir: %w", err)
		}
		defer os.RemoveAll(dir)
		stateDir = dir
		logger.Info("demo mode: using the built-in simulated cloud", "locks", len(sifelytest.DemoLocks()))
	}
	if stateDir != "" {
		if err := os.MkdirAll(stateDir, 0o700); err != nil {
			return fmt.Errorf("state_dir: %w", err)
		}
		cloudOpts.TokenFile = filepath.Join(stateDir, "token.json")
	}
	cloud, err := sifely.New(cloudOpts)
	if err != nil {
		return fmt.Errorf("sifely: %w", err)
	}

	mqtt, err := bridge.NewMQTTClient(bridge.MQTTOptions{
		URL:       cfg.MQTT.URL,
		Username:  cfg.MQTT.Username,
		Password:  cfg.MQTT.Password,
		CAFile:    cfg.MQTT.CAFile,
		CertFile:  cfg.MQTT.CertFile,
		KeyFile:   cfg.MQTT.KeyFile,
		ClientID:  cfg.MQTT.ClientID,
		WillTopic: cfg.MQTT.BaseTopic + "/bridge/state",
		Logger:    logger,
	})
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}

	lockSettings := map[int64]bridge.LockSettings{}
	for key, lc := range cfg.Locks {
		id, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return fmt.Errorf("locks.%s: not a lock id", key)
		}
		lockSettings[id] = bridge.LockSettings{DenyUnlock: !lc.Unlock, Code: lc.Code}
	}

	var webhook *bridge.WebhookHandler
	bopts := bridge.Options{
		BaseTopic:       cfg.MQTT.BaseTopic,
		DiscoveryPrefix: cfg.MQTT.DiscoveryPrefix,
		Version:         opts.Version,
		Schedule:        bridge.Schedule{State: cfg.Poll.State, Locks: cfg.Poll.Locks, Records: cfg.Poll.Records},
		Locks:           lockSettings,
		StateDir:        stateDir,
		DailyBudget:     cfg.Sifely.Budget.PerDay,
		Metrics:         metrics,
		Logger:          logger,
	}
	if webhookLn != nil {
		bopts.Webhook = func() bridge.WebhookStats { return webhook.Stats() }
	}
	br, err := bridge.New(bopts, cloud, mqtt)
	if err != nil {
		return err
	}

	var servers []*http.Server
	var addrs daemonAddrs
	if webhookLn != nil {
		webhook = bridge.NewWebhookHandler(bridge.WebhookOptions{
			Secret:  webhookSecret,
			Logger:  logger.With("component", "webhook"),
			Metrics: metrics,
		}, br.HandleNotification)
		srv := bridge.NewWebhookServer(webhookListen, webhook)
		go func() { _ = srv.Serve(webhookLn) }()
		addrs.Webhook = webhookLn.Addr().String()
		servers = append(servers, srv)
		logger.Info("webhook server listening", "addr", addrs.Webhook)
	}
	if cfg.HTTP.Listen != "" {
		health := func() error {
			if !mqtt.Connected() {
				return errors.New("mqtt not connected")
			}
			return br.Healthy()
		}
		h := bridge.NewHTTPHandler(health, metrics)
		srv, addr, err := listen(cfg.HTTP.Listen, &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second})
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return fmt.Errorf("http.listen: %w", err)
		}
		addrs.HTTP = addr
		servers = append(servers, srv)
		logger.Info("http server listening", "addr", addr)
	}

	var wg sync.WaitGroup
	// Stop intake first: the HTTP servers close as soon as ctx ends.
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		for _, s := range servers {
			if err := s.Shutdown(sctx); err != nil {
				s.Close()
			}
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		notifySystemd(ctx, logger, br.Healthy)
	}()
	if sim != nil {
		every := opts.DemoActivity
		if every <= 0 {
			every = 2 * time.Minute
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			demoActivity(ctx, sim, every)
		}()
	}
	if opts.Ready != nil {
		opts.Ready(addrs)
	}
	logger.Info("sifely2mqtt started", "version", opts.Version, "base_topic", cfg.MQTT.BaseTopic)
	err = br.Run(ctx)
	wg.Wait()
	if err != nil {
		return err
	}
	logger.Info("sifely2mqtt stopped")
	return nil
}

// listen binds addr and serves srv on it in the background.
func listen(addr string, srv *http.Server) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	go func() { _ = srv.Serve(ln) }()
	return srv, ln.Addr().String(), nil
}

// notifySystemd tells systemd the service is ready and feeds its watchdog
// while ctx lasts and healthy says the bridge is alive; outside systemd it
// does nothing.
func notifySystemd(ctx context.Context, logger *slog.Logger, healthy func() error) {
	if ok, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		logger.Warn("sd_notify", "err", err)
	} else if !ok {
		return
	}
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		<-ctx.Done()
		_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
		return
	}
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := healthy(); err != nil {
				logger.Error("not feeding the systemd watchdog", "err", err)
				continue
			}
			_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		case <-ctx.Done():
			_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
			return
		}
	}
}

// randomToken returns 32 hex characters from crypto/rand.
func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// demoActivity scripts life on the demo locks so that a new user sees
// activity events, last unlock and state changes arrive through the
// webhook: every interval someone unlocks a door with a passcode, and the
// lock auto-locks a little later.
func demoActivity(ctx context.Context, sim *sifelytest.Server, every time.Duration) {
	locks := sifelytest.DemoLocks()
	users := []string{"Cleaner", "Guest 204", "Dog walker", "Owner"}
	types := []int{4, 7, 8, 4} // passcode, IC card, fingerprint, passcode
	for i := 0; ; i++ {
		select {
		case <-time.After(every):
		case <-ctx.Done():
			return
		}
		l := locks[i%len(locks)]
		sim.AddRecord(sifelytest.RecordSpec{LockID: l.ID, RecordType: types[i%len(types)], Success: true, Username: users[i%len(users)]})
		select {
		case <-time.After(min(every/2, 10*time.Second)):
		case <-ctx.Done():
			return
		}
		sim.AddRecord(sifelytest.RecordSpec{LockID: l.ID, RecordType: 45, Success: true})
	}
}
