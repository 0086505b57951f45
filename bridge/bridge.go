package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/sifely2mqtt/sifely2mqtt/discovery"
	"github.com/sifely2mqtt/sifely2mqtt/sifely"
)

// Cloud is what the bridge needs from the Sifely cloud.
type Cloud interface {
	Locks(ctx context.Context) ([]sifely.Lock, error)
	LockDetail(ctx context.Context, lockID int64) (sifely.LockDetail, error)
	OpenState(ctx context.Context, lockID int64) (sifely.OpenState, error)
	Lock(ctx context.Context, lockID int64) error
	Unlock(ctx context.Context, lockID int64) error
	Records(ctx context.Context, lockID int64, since time.Time) ([]sifely.Record, error)
	Gateways(ctx context.Context, lockID int64) ([]sifely.Gateway, error)
	Stats() sifely.Stats
}

var _ Cloud = (*sifely.Client)(nil)

// Broker is what the bridge needs from the MQTT session.
type Broker interface {
	Subscribe(filter string, qos byte, h func(Message))
	OnConnect(f func())
	Start(ctx context.Context) error
	Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error
	Connected() bool
	Close(ctx context.Context) error
}

var _ Broker = (*MQTTClient)(nil)

// LockSettings are the per-lock settings of the config's locks section.
type LockSettings struct {
	// DenyUnlock refuses UNLOCK commands (config unlock: false).
	DenyUnlock bool
	// Code, when set, must come with every UNLOCK command.
	Code sifely.Secret
}

// Schedule holds the cron specs of the polls (robfig/cron, with
// descriptors such as "@every 5m").
type Schedule struct {
	State   string
	Locks   string
	Records string
}

// Options configure a Bridge.
type Options struct {
	BaseTopic       string // default "sifely2mqtt"
	DiscoveryPrefix string // default "homeassistant"
	Version         string
	SupportURL      string

	Schedule Schedule
	Locks    map[int64]LockSettings
	StateDir string // empty: state kept in memory only

	// CommandTimeout bounds a command from receipt to the cloud's answer
	// (default 45s). A transitional state never outlives it.
	CommandTimeout time.Duration
	// VerifyDelay is the wait before the open-state read that confirms a
	// command (default 5s).
	VerifyDelay time.Duration
	// PollSpacing is the largest pause between two locks' calls within a
	// poll, spreading polls over time (default 2s).
	PollSpacing time.Duration
	// AnnounceDelay is the largest random delay before re-announcing after
	// Home Assistant's birth message (default 5s).
	AnnounceDelay time.Duration
	// RecordsLookback is how far before the newest seen record the catch-up
	// asks again, for records the gateway uploaded late (default 1h).
	RecordsLookback time.Duration
	// PushFollowUp is the wait after a webhook push before the records
	// poll that confirms it (default 15s).
	PushFollowUp time.Duration
	// SaveInterval is how often the state file is written while it has
	// changes, and bridge/info refreshed (default 5s).
	SaveInterval time.Duration
	// OutboxSize bounds the events kept while the broker is down (default 10000).
	OutboxSize int

	// DailyBudget is the cloud client's daily call budget, used to warn
	// when the poll schedule cannot fit in it; 0 skips the check.
	DailyBudget int

	Webhook func() WebhookStats // webhook status for bridge/info; nil = off
	Metrics *Metrics            // may be nil
	Logger  *slog.Logger
	Now     func() time.Time
}

func (o *Options) setDefaults() {
	if o.BaseTopic == "" {
		o.BaseTopic = "sifely2mqtt"
	}
	if o.DiscoveryPrefix == "" {
		o.DiscoveryPrefix = "homeassistant"
	}
	if o.Schedule.State == "" {
		o.Schedule.State = "@every 5m"
	}
	if o.Schedule.Locks == "" {
		o.Schedule.Locks = "@every 1h"
	}
	if o.Schedule.Records == "" {
		o.Schedule.Records = "@every 10m"
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 45 * time.Second
	}
	if o.VerifyDelay <= 0 {
		o.VerifyDelay = 5 * time.Second
	}
	if o.PollSpacing < 0 {
		o.PollSpacing = 0
	} else if o.PollSpacing == 0 {
		o.PollSpacing = 2 * time.Second
	}
	if o.AnnounceDelay <= 0 {
		o.AnnounceDelay = 5 * time.Second
	}
	if o.RecordsLookback <= 0 {
		o.RecordsLookback = time.Hour
	}
	if o.PushFollowUp <= 0 {
		o.PushFollowUp = 15 * time.Second
	}
	if o.SaveInterval <= 0 {
		o.SaveInterval = 5 * time.Second
	}
	if o.OutboxSize <= 0 {
		o.OutboxSize = 10000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.SupportURL == "" {
		o.SupportURL = "https://github.com/sifely2mqtt/sifely2mqtt"
	}
}

// Bridge connects the cloud and the broker. Create it with New and run it
// with Run.
type Bridge struct {
	opts   Options
	cloud  Cloud
	broker Broker
	log    *slog.Logger
	t      topics
	pub    *publisher
	store  *store
	sched  schedules // the polls' parsed schedules

	// ctx is Run's context, for work started from MQTT handlers.
	ctx context.Context
	wg  sync.WaitGroup

	// saveMu orders writes of the state file.
	saveMu sync.Mutex

	mu           sync.Mutex
	locks        map[int64]*lockModel
	cloudErr     error
	lastInfo     []byte
	recordsNow   map[int64]bool    // locks with a records poll running or due
	gatewayState map[int64]bool    // gateway ID → online, from pushes
	gatewaysOf   map[int64][]int64 // lock ID → its gateway IDs, learned on demand
	started      time.Time
	dirty        bool // the store has changes not yet saved

	// heartbeat is when the saver loop last got through a round (unix ns):
	// a stale one means the bridge is stuck.
	heartbeat atomic.Int64

	intake  chan sifely.Notification
	stopped chan struct{} // closed when Run returns: pushes are refused
	synced  chan struct{} // closed once the first lock list is loaded
	// syncOnce closes synced.
	syncOnce sync.Once
	// missing counts consecutive lock-list polls that lacked a known lock.
	missing map[int64]int
}

// New checks opts and returns a bridge. Nothing starts until Run.
func New(opts Options, cloud Cloud, broker Broker) (*Bridge, error) {
	opts.setDefaults()
	var errs []error
	parser := cronParser()
	var sched schedules
	for _, s := range []struct {
		key  string
		spec string
		dst  *cron.Schedule
	}{
		{"poll.state", opts.Schedule.State, &sched.state},
		{"poll.locks", opts.Schedule.Locks, &sched.locks},
		{"poll.records", opts.Schedule.Records, &sched.records},
	} {
		parsed, err := parseSpec(parser, s.spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.key, err))
		}
		*s.dst = parsed
	}
	if err := discovery.Validate(discovery.Options{DiscoveryPrefix: opts.DiscoveryPrefix, BaseTopic: opts.BaseTopic}); err != nil {
		errs = append(errs, err)
	}
	st, err := openStore(opts.StateDir)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	log := opts.Logger.With("component", "bridge")
	return &Bridge{
		opts:         opts,
		cloud:        cloud,
		broker:       broker,
		log:          log,
		t:            topics{base: opts.BaseTopic},
		pub:          newPublisher(broker, log, opts.OutboxSize),
		store:        st,
		sched:        sched,
		locks:        map[int64]*lockModel{},
		recordsNow:   map[int64]bool{},
		gatewayState: map[int64]bool{},
		gatewaysOf:   map[int64][]int64{},
		intake:       make(chan sifely.Notification, 1024),
		stopped:      make(chan struct{}),
		synced:       make(chan struct{}),
		missing:      map[int64]int{},
	}, nil
}

// cronParser parses standard five-field specs and descriptors such as
// "@every 5m", like the config validation does.
func cronParser() cron.Parser {
	return cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
}

// schedules are the parsed cron specs of the polls.
type schedules struct{ state, locks, records cron.Schedule }

// parseSpec parses a cron spec, turning a parser panic into an error.
func parseSpec(p cron.Parser, spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bad cron spec %q: %v", spec, r)
		}
	}()
	s, err = p.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("bad cron spec %q: %w", spec, err)
	}
	return s, nil
}

// Run connects to the broker, discovers the locks, polls on the schedule
// and serves commands until ctx ends; then it shuts down cleanly: intake
// stops, "offline" is published and the session is closed.
func (b *Bridge) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer close(b.stopped)
	b.mu.Lock()
	b.ctx = runCtx
	b.started = b.opts.Now()
	b.heartbeat.Store(b.started.UnixNano())
	b.mu.Unlock()

	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		b.pub.run(pubCtx)
	}()

	b.broker.Subscribe(b.t.setFilter(), 1, b.onCommand)
	b.broker.Subscribe(b.opts.DiscoveryPrefix+"/status", 1, b.onHAStatus)
	b.broker.OnConnect(b.onConnect)
	if err := b.broker.Start(runCtx); err != nil {
		stopPub()
		<-pubDone
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("start mqtt: %w", err)
	}

	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		b.runIntake(runCtx)
	}()
	go func() {
		defer b.wg.Done()
		b.runSaver(runCtx)
	}()

	c := cron.New(
		cron.WithChain(cron.Recover(cronLogger{b.log}), cron.SkipIfStillRunning(cronLogger{b.log})),
	)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		// The first lock list is fetched until it succeeds; the schedules
		// start once the locks are known.
		b.initialSync(runCtx)
		if runCtx.Err() != nil {
			return
		}
		c.Schedule(b.sched.state, cron.FuncJob(func() { b.pollStates(runCtx) }))
		c.Schedule(b.sched.locks, cron.FuncJob(func() { b.pollLocks(runCtx) }))
		c.Schedule(b.sched.records, cron.FuncJob(func() { b.pollRecords(runCtx) }))
		c.Start()
	}()

	<-ctx.Done()
	b.log.Info("shutting down")
	// Stop intake: no new polls; in-flight work gets its context cancelled.
	cancel()
	stopped := c.Stop()
	select {
	case <-stopped.Done():
	case <-time.After(2 * time.Second):
		b.log.Warn("poll still running at shutdown")
	}
	waitTimeout(&b.wg, 2*time.Second)

	// Publish what is queued, then offline, then disconnect.
	closeCtx, closeCancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer closeCancel()
	stopPub()
	<-pubDone
	b.pub.drain(closeCtx)
	if err := b.broker.Close(closeCtx); err != nil {
		b.log.Warn("mqtt close", "err", err)
	}
	if err := b.saveStore(); err != nil {
		b.log.Error("save state", "err", err)
	}
	return nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}

// go runs f in a goroutine owned by the bridge, recovering a panic.
func (b *Bridge) goSafe(name string, f func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				b.log.Error("panic", "in", name, "panic", r, "stack", stack())
			}
		}()
		f()
	}()
}

// onConnect republishes everything after each (re)connect.
func (b *Bridge) onConnect() {
	b.log.Info("mqtt connected, announcing", "locks", b.lockCount())
	b.announceAll(b.ctx)
	b.pub.flushOutbox(b.ctx)
}

// onHAStatus re-announces after Home Assistant's birth message, after a
// short random delay so that many bridges do not answer at once.
func (b *Bridge) onHAStatus(m Message) {
	if strings.TrimSpace(string(m.Payload)) != "online" {
		return
	}
	delay := time.Duration(rand.Int64N(int64(b.opts.AnnounceDelay)))
	b.goSafe("announce", func() {
		select {
		case <-time.After(delay):
		case <-b.ctx.Done():
			return
		}
		b.log.Info("home assistant online, announcing")
		b.announceAll(b.ctx)
	})
}

func (b *Bridge) lockCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.locks)
}

// sortedIDs returns the known lock IDs in order. Call with b.mu held.
func (b *Bridge) sortedIDs() []int64 {
	ids := make([]int64, 0, len(b.locks))
	for id := range b.locks {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// announceAll publishes discovery and every retained state of every lock,
// and the bridge info.
func (b *Bridge) announceAll(ctx context.Context) {
	b.mu.Lock()
	ids := b.sortedIDs()
	b.mu.Unlock()
	for _, id := range ids {
		b.publishDiscovery(ctx, id, true)
		b.publishLock(ctx, id, true)
	}
	b.publishInfo(ctx, true)
}

// discoveryLock builds the discovery description of a lock. Call with
// b.mu held.
func (b *Bridge) discoveryLock(m *lockModel) discovery.Lock {
	d := discovery.Lock{
		ID:         m.info.ID,
		Alias:      m.info.Alias,
		MAC:        m.info.MAC,
		HasGateway: m.info.HasGateway,
		EventTypes: sifely.EventTypes,
	}
	if d.Alias == "" {
		d.Alias = m.info.Name
	}
	if m.detail != nil {
		d.Model = m.detail.ModelNum
		d.Firmware = m.detail.FirmwareRevision
		d.Hardware = m.detail.HardwareRevision
	}
	if s, ok := b.opts.Locks[m.info.ID]; ok && !s.Code.IsZero() {
		d.CodeFormat = codeFormat
	}
	return d
}

// codeFormat is the regular expression HA's code dialog checks.
const codeFormat = `^\d{4,12}$`

// publishDiscovery publishes a lock's discovery config; force sends it
// even when unchanged.
func (b *Bridge) publishDiscovery(ctx context.Context, id int64, force bool) {
	b.mu.Lock()
	m, ok := b.locks[id]
	if !ok {
		b.mu.Unlock()
		return
	}
	d := b.discoveryLock(m)
	b.mu.Unlock()
	payload, err := discovery.Payload(discovery.Options{
		DiscoveryPrefix: b.opts.DiscoveryPrefix,
		BaseTopic:       b.opts.BaseTopic,
		Version:         b.opts.Version,
		SupportURL:      b.opts.SupportURL,
	}, d)
	if err != nil {
		b.log.Error("build discovery", "lock_id", id, "err", err)
		return
	}
	b.pub.send(ctx, outMsg{topic: discovery.Topic(b.opts.DiscoveryPrefix, id), payload: payload, retain: true, force: force})
}

// attributes is the JSON of <base>/<id>/attributes.
type attributes struct {
	Alias            string      `json:"alias"`
	Name             string      `json:"name,omitempty"`
	MAC              string      `json:"mac,omitempty"`
	Model            string      `json:"model,omitempty"`
	Firmware         string      `json:"firmware,omitempty"`
	Hardware         string      `json:"hardware,omitempty"`
	HasGateway       bool        `json:"has_gateway"`
	GatewayOnline    bool        `json:"gateway_online"`
	Battery          *int        `json:"battery,omitempty"`
	LastUnlock       *unlockInfo `json:"last_unlock"`
	LastUnlockUser   string      `json:"last_unlock_user,omitempty"`
	LastUnlockMethod string      `json:"last_unlock_method,omitempty"`
	LastSeen         string      `json:"last_seen,omitempty"`
	ReadOnly         bool        `json:"read_only"`
}

// isoTime formats t as ISO-8601 with a numeric offset.
func isoTime(t time.Time) string { return t.Format("2006-01-02T15:04:05.000-07:00") }

// publishLock publishes every retained topic of one lock from the model;
// force sends even the unchanged ones.
func (b *Bridge) publishLock(ctx context.Context, id int64, force bool) {
	b.mu.Lock()
	m, ok := b.locks[id]
	if !ok {
		b.mu.Unlock()
		return
	}
	msgs := b.lockMessages(m)
	b.mu.Unlock()
	for _, msg := range msgs {
		msg.force = force
		b.pub.send(ctx, msg)
	}
}

// lockMessages returns the retained messages of a lock. Call with b.mu held.
func (b *Bridge) lockMessages(m *lockModel) []outMsg {
	id := m.info.ID
	avail := "offline"
	if m.available {
		avail = "online"
	}
	msgs := []outMsg{
		{topic: b.t.lock(id, "availability"), payload: []byte(avail), retain: true},
		{topic: b.t.lock(id, "attributes"), payload: b.attributesJSON(m), retain: true},
		{topic: b.t.lock(id, "state"), payload: []byte(m.published()), retain: true},
	}
	if m.battery >= 0 {
		msgs = append(msgs, outMsg{topic: b.t.lock(id, "battery"), payload: fmt.Appendf(nil, "%d", m.battery), retain: true})
	}
	if m.lastUnlock != nil {
		msgs = append(msgs, outMsg{topic: b.t.lock(id, "last_unlock"), payload: []byte(isoTime(m.lastUnlock.Time)), retain: true})
	}
	return msgs
}

// attributesJSON builds the attributes payload. Call with b.mu held.
func (b *Bridge) attributesJSON(m *lockModel) []byte {
	a := attributes{
		Alias:         m.info.Alias,
		Name:          m.info.Name,
		MAC:           m.info.MAC,
		HasGateway:    m.info.HasGateway,
		GatewayOnline: m.info.HasGateway && m.gatewayOnline,
		LastUnlock:    m.lastUnlock,
		ReadOnly:      b.opts.Locks[m.info.ID].DenyUnlock,
	}
	if m.detail != nil {
		a.Model = m.detail.ModelNum
		a.Firmware = m.detail.FirmwareRevision
		a.Hardware = m.detail.HardwareRevision
	}
	if m.battery >= 0 {
		bat := m.battery
		a.Battery = &bat
	}
	if m.lastUnlock != nil {
		a.LastUnlockUser = m.lastUnlock.User
		a.LastUnlockMethod = m.lastUnlock.Method
	}
	if !m.lastSeen.IsZero() {
		a.LastSeen = isoTime(m.lastSeen)
	}
	out, _ := json.Marshal(a)
	return out
}

// bridgeInfo is the JSON of <base>/bridge/info.
type bridgeInfo struct {
	Version string      `json:"version"`
	Locks   int         `json:"lock_count"`
	Cloud   cloudInfo   `json:"cloud"`
	Webhook webhookInfo `json:"webhook"`
	Outbox  int         `json:"outbox_pending"`
}

type cloudInfo struct {
	Status      string `json:"status"`
	LastError   string `json:"last_error,omitempty"`
	CallsTotal  int64  `json:"api_calls_total"`
	CallsMinute int    `json:"api_calls_last_minute"`
	CallsHour   int    `json:"api_calls_last_hour"`
	CallsDay    int    `json:"api_calls_last_day"`
	RateLimited int64  `json:"rate_limited_total"`
	LastSuccess string `json:"last_success,omitempty"`
}

type webhookInfo struct {
	Enabled  bool   `json:"enabled"`
	LastPush string `json:"last_push,omitempty"`
	Accepted int64  `json:"accepted"`
	Rejected int64  `json:"rejected"`
}

// publishInfo publishes bridge/info when it changed (or always when force).
func (b *Bridge) publishInfo(ctx context.Context, force bool) {
	st := b.cloud.Stats()
	b.mu.Lock()
	info := bridgeInfo{
		Version: b.opts.Version,
		Locks:   len(b.locks),
		Cloud: cloudInfo{
			Status:      "ok",
			CallsTotal:  st.Calls,
			CallsMinute: st.UsedLastMinute,
			CallsHour:   st.UsedLastHour,
			CallsDay:    st.UsedLastDay,
			RateLimited: st.RateLimited,
		},
		Outbox: b.pub.pending(),
	}
	if b.cloudErr != nil {
		info.Cloud.Status = "error"
		info.Cloud.LastError = errorClass(b.cloudErr)
	}
	b.mu.Unlock()
	if !st.LastSuccess.IsZero() {
		info.Cloud.LastSuccess = isoTime(st.LastSuccess)
	}
	if b.opts.Webhook != nil {
		ws := b.opts.Webhook()
		info.Webhook = webhookInfo{Enabled: true, Accepted: ws.Accepted, Rejected: ws.Rejected}
		if !ws.LastPush.IsZero() {
			info.Webhook.LastPush = isoTime(ws.LastPush)
		}
	}
	payload, _ := json.Marshal(info)
	b.mu.Lock()
	same := string(payload) == string(b.lastInfo)
	b.lastInfo = payload
	b.mu.Unlock()
	if same && !force {
		return
	}
	b.pub.send(ctx, outMsg{topic: b.t.bridgeInfo(), payload: payload, retain: true})
}

// Healthy reports whether the bridge's loops are alive: the periodic
// round (state save, bridge/info) must have run within three intervals. It
// feeds the systemd watchdog, so a stuck bridge gets restarted.
func (b *Bridge) Healthy() error {
	last := b.heartbeat.Load()
	if last == 0 {
		return nil // not running yet
	}
	if since := b.opts.Now().Sub(time.Unix(0, last)); since > 3*b.opts.SaveInterval {
		return fmt.Errorf("bridge loop stalled for %s", since.Round(time.Second))
	}
	return nil
}
