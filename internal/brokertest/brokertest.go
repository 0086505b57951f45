// Package brokertest gives tests a real Mosquitto MQTT broker.
//
// Start picks, in order: the broker named by MQTT_TEST_BROKER; a local
// mosquitto binary on a free loopback port (restartable, with persistence so
// retained messages survive a restart as in a real deployment); an
// eclipse-mosquitto:2 container through testcontainers-go when Docker is
// reachable. When none is available the test is skipped, unless
// SIFELY2MQTT_REQUIRE_BROKER=1, in which case it fails.
//
// StartWith starts a broker with TLS, client certificates or passwords; it
// needs the local mosquitto binary (and mosquitto_passwd for passwords),
// since neither an external broker nor the container can be configured.
package brokertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Environment variables read by Start.
const (
	// EnvBroker names an external broker URL (e.g. tcp://host:1883) to use
	// instead of starting one.
	EnvBroker = "MQTT_TEST_BROKER"
	// EnvRequire, when "1", turns "no broker available" from a skip into a
	// failure.
	EnvRequire = "SIFELY2MQTT_REQUIRE_BROKER"
)

const (
	readyTimeout = 10 * time.Second
	stopTimeout  = 5 * time.Second
)

// Broker is a running MQTT broker for one test.
type Broker struct {
	url  string
	addr string // host:port accepting TCP connections

	// Local binary only.
	bin     string
	conf    string
	logFile string
	proc    *process

	// StartWith only.
	sec security
	ca  *testCA
}

// Options configure a broker started by StartWith. The zero value is the
// broker of Start.
type Options struct {
	// TLS makes the listener speak MQTT over TLS (URL then starts with
	// ssl://) with a server certificate for 127.0.0.1, ::1 and localhost,
	// issued by an ECDSA CA generated for the test; CAFile returns it.
	TLS bool
	// ClientCerts, with TLS, makes the broker require a client certificate
	// issued by the same CA (require_certificate); ClientCert issues one.
	ClientCerts bool
	// Users, when not empty, turns anonymous access off: only these
	// username/password pairs may connect. Usernames may not contain ':';
	// neither may contain a line break.
	Users map[string]string
}

func (o Options) configured() bool { return o.TLS || o.ClientCerts || len(o.Users) > 0 }

// security is the part of the local configuration that StartWith adds:
// the files it generated for Options.
type security struct {
	caFile, certFile, keyFile string // TLS when certFile is set
	requireCert               bool
	passwordFile              string // no anonymous access when set
}

// StartWith returns a broker configured by o and stops it in tb's cleanup.
// With o's zero value it is Start. Otherwise it runs the local mosquitto
// binary, even when MQTT_TEST_BROKER is set (that broker cannot be
// configured); without the binary, or without mosquitto_passwd when o has
// Users, the test is skipped, or fails when SIFELY2MQTT_REQUIRE_BROKER=1.
func StartWith(tb testing.TB, o Options) *Broker {
	tb.Helper()
	if !o.configured() {
		return Start(tb)
	}
	if o.ClientCerts && !o.TLS {
		tb.Fatal("brokertest: Options.ClientCerts needs Options.TLS")
	}
	bin := findMosquitto()
	if bin == "" {
		unavailable(tb, "a broker with TLS or passwords needs a mosquitto binary on PATH or in /usr/sbin")
	}
	dir := tb.TempDir()
	var (
		sec security
		ca  *testCA
	)
	if o.TLS {
		var err error
		if ca, err = newCA(); err != nil {
			tb.Fatalf("brokertest: %v", err)
		}
		sec.caFile = filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(sec.caFile, ca.pem, 0o600); err != nil {
			tb.Fatalf("brokertest: write ca: %v", err)
		}
		if sec.certFile, sec.keyFile, err = ca.issue(serverTemplate(), dir, "server"); err != nil {
			tb.Fatalf("brokertest: %v", err)
		}
		sec.requireCert = o.ClientCerts
	}
	if len(o.Users) > 0 {
		passwd := findPasswd()
		if passwd == "" {
			unavailable(tb, "a broker with passwords needs mosquitto_passwd on PATH or in /usr/bin")
		}
		sec.passwordFile = filepath.Join(dir, "passwd")
		if err := writePasswordFile(passwd, sec.passwordFile, o.Users); err != nil {
			tb.Fatalf("brokertest: %v", err)
		}
	}
	b := startLocal(tb, bin, sec)
	b.ca = ca
	return b
}

// CAFile returns the PEM file of the CA that issued the broker's server
// certificate, or "" when the broker does not use TLS.
func (b *Broker) CAFile() string { return b.sec.caFile }

// ClientCert issues a client certificate from the broker's CA and returns
// its PEM certificate and key files, in tb's temporary directory. The broker
// must have been started with Options.TLS.
func (b *Broker) ClientCert(tb testing.TB) (certFile, keyFile string) {
	tb.Helper()
	if b.ca == nil {
		tb.Fatal("brokertest: ClientCert needs a broker started with Options.TLS")
	}
	certFile, keyFile, err := b.ca.issue(clientTemplate("brokertest client"), tb.TempDir(), "client")
	if err != nil {
		tb.Fatalf("brokertest: %v", err)
	}
	return certFile, keyFile
}

func findPasswd() string {
	if p, err := exec.LookPath("mosquitto_passwd"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/mosquitto_passwd", "/usr/local/bin/mosquitto_passwd"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// writePasswordFile writes users to file in Mosquitto's hashed format with
// mosquitto_passwd -b, one user at a time. (Hashing a plain file with -U
// would keep the passwords off the command line, but cuts them at a ':'.)
func writePasswordFile(passwd, file string, users map[string]string) error {
	for _, user := range slices.Sorted(maps.Keys(users)) {
		pass := users[user]
		if user == "" || strings.ContainsAny(user, ":\r\n") || strings.ContainsAny(pass, "\r\n") {
			return fmt.Errorf("user %q: usernames must be non-empty without ':', and neither may contain a line break", user)
		}
	}
	for i, user := range slices.Sorted(maps.Keys(users)) {
		args := []string{"-b", file, user, users[user]}
		if i == 0 {
			args = slices.Insert(args, 1, "-c") // the first call creates the file
		}
		if out, err := exec.Command(passwd, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("add user %q with %s: %w: %s", user, passwd, err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// process is one run of the local mosquitto binary.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returned
	err    error         // cmd.Wait's result, valid after exited is closed
}

// Start returns a broker for tb and stops it in tb's cleanup.
func Start(tb testing.TB) *Broker {
	tb.Helper()
	if u := os.Getenv(EnvBroker); u != "" {
		return external(tb, u)
	}
	if bin := findMosquitto(); bin != "" {
		return startLocal(tb, bin, security{})
	}
	b, reason := startContainer(tb)
	if b == nil {
		unavailable(tb, "no mosquitto binary on PATH or in /usr/sbin, and Docker is not usable: "+reason)
	}
	return b
}

// unavailable skips tb, or fails it when a broker is required.
func unavailable(tb testing.TB, reason string) {
	tb.Helper()
	if os.Getenv(EnvRequire) == "1" {
		tb.Fatalf("brokertest: %s=1 but no MQTT broker is available: %s (install mosquitto, set %s, or start Docker)",
			EnvRequire, reason, EnvBroker)
	}
	tb.Skipf("brokertest: no MQTT broker available: %s", reason)
}

// URL returns the broker's URL, e.g. tcp://127.0.0.1:41234, or
// ssl://127.0.0.1:41234 with Options.TLS.
func (b *Broker) URL() string { return b.url }

// Addr returns the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// CanRestart reports whether Stop and Restart work: only for a local
// mosquitto binary.
func (b *Broker) CanRestart() bool { return b.bin != "" }

// Stop terminates the broker with SIGTERM and waits for it to exit. It
// calls RequireRestart first.
func (b *Broker) Stop(tb testing.TB) {
	tb.Helper()
	b.RequireRestart(tb)
	if b.proc == nil {
		return
	}
	if err := b.proc.stop(); err != nil {
		tb.Fatalf("brokertest: stop mosquitto: %v", err)
	}
	b.proc = nil
}

// Restart starts the broker again on the same port with the same
// persistence directory, stopping it first if it is running.
func (b *Broker) Restart(tb testing.TB) {
	tb.Helper()
	b.RequireRestart(tb)
	if b.proc != nil {
		b.Stop(tb)
	}
	p, err := b.spawn()
	if err != nil {
		tb.Fatalf("brokertest: restart mosquitto: %v", err)
	}
	b.proc = p
	if err := waitReady(tb.Context(), b.addr, p.exited); err != nil {
		tb.Fatalf("brokertest: restart mosquitto: %v", err)
	}
}

// RequireRestart skips tb unless Stop and Restart work (a local mosquitto
// binary); with SIFELY2MQTT_REQUIRE_BROKER=1 it fails instead, so that a
// restart test can never be skipped silently in CI.
func (b *Broker) RequireRestart(tb testing.TB) {
	tb.Helper()
	if !b.CanRestart() {
		unavailable(tb, "this broker cannot be stopped or restarted (external or container)")
	}
}

func external(tb testing.TB, raw string) *Broker {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		tb.Fatalf("brokertest: %s=%q is not a broker URL like tcp://host:1883", EnvBroker, raw)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "1883")
	}
	if err := waitReady(tb.Context(), addr, nil); err != nil {
		tb.Fatalf("brokertest: %s=%q: %v", EnvBroker, raw, err)
	}
	return &Broker{url: raw, addr: addr}
}

func findMosquitto() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func startLocal(tb testing.TB, bin string, sec security) *Broker {
	tb.Helper()
	dir := tb.TempDir()
	b := &Broker{
		sec:     sec,
		bin:     bin,
		conf:    filepath.Join(dir, "mosquitto.conf"),
		logFile: filepath.Join(dir, "mosquitto.log"),
	}
	tb.Cleanup(func() {
		if b.proc != nil {
			if err := b.proc.stop(); err != nil {
				tb.Errorf("brokertest: stop mosquitto: %v", err)
			}
			b.proc = nil
		}
		if tb.Failed() {
			if log, err := os.ReadFile(b.logFile); err == nil {
				tb.Logf("brokertest: mosquitto log:\n%s", log)
			}
		}
	})

	// Another process may take the free port between probing and
	// mosquitto's bind; try a few ports.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("brokertest: %v", err)
		}
		b.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		b.url = "tcp://" + b.addr
		if sec.certFile != "" {
			b.url = "ssl://" + b.addr
		}
		if err := os.WriteFile(b.conf, []byte(securedConfig(port, dir, sec)), 0o600); err != nil {
			tb.Fatalf("brokertest: write mosquitto config: %v", err)
		}
		p, err := b.spawn()
		if err != nil {
			tb.Fatalf("brokertest: start mosquitto: %v", err)
		}
		b.proc = p
		if lastErr = waitReady(tb.Context(), b.addr, p.exited); lastErr == nil {
			return b
		}
		_ = p.stop()
		b.proc = nil
	}
	tb.Fatalf("brokertest: start mosquitto: %v", lastErr)
	return nil
}

// localConfig is the configuration of a local broker listening on port, with
// its persistence and log in dir.
func localConfig(port int, dir string) string {
	return securedConfig(port, dir, security{})
}

// securedConfig is localConfig with the TLS and authentication settings of
// sec.
func securedConfig(port int, dir string, sec security) string {
	var c strings.Builder
	fmt.Fprintf(&c, "listener %d 127.0.0.1\n", port)
	if sec.certFile != "" {
		fmt.Fprintf(&c, "cafile %s\ncertfile %s\nkeyfile %s\n", sec.caFile, sec.certFile, sec.keyFile)
		fmt.Fprintf(&c, "require_certificate %t\n", sec.requireCert)
	}
	if sec.passwordFile != "" {
		c.WriteString("allow_anonymous false\n")
		fmt.Fprintf(&c, "password_file %s\n", sec.passwordFile)
	} else {
		c.WriteString("allow_anonymous true\n")
	}
	c.WriteString("persistence true\n")
	fmt.Fprintf(&c, "persistence_location %s%c\n", dir, filepath.Separator)
	c.WriteString("persistence_file mosquitto.db\n")
	// Mosquitto's default: the database is written when Stop sends
	// SIGTERM, which is all a restart needs; a frequent autosave would
	// add its disk writes to every latency the tests measure.
	c.WriteString("autosave_interval 1800\n")
	c.WriteString("log_dest stderr\n") // spawn appends stderr to the log file
	c.WriteString("log_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
	c.WriteString("connection_messages true\n")
	c.WriteString("log_timestamp_format %H:%M:%S\n")
	if os.Geteuid() == 0 {
		// Run as root, mosquitto drops to user "mosquitto", which cannot
		// write to the test's temporary directory.
		c.WriteString("user root\n")
	}
	return c.String()
}

func (b *Broker) spawn() (*process, error) {
	// One file opened for appending: mosquitto's own log_dest file can
	// interleave badly, and a restart must not truncate the earlier run.
	log, err := os.OpenFile(b.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open mosquitto log: %w", err)
	}
	defer log.Close() // the child has its own descriptor
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", b.bin, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() { // joined by stop, which waits on exited
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop sends SIGTERM, waits for the process to exit and kills it if it takes
// longer than stopTimeout.
func (p *process) stop() error {
	select {
	case <-p.exited:
		return nil // already gone; the log says why
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal: %w", err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.exited:
		return nil
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("mosquitto did not exit within %v of SIGTERM; killed", stopTimeout)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady waits until addr accepts TCP connections. exited, if not nil,
// reports the broker process ending early.
func waitReady(ctx context.Context, addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var d net.Dialer
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-exited:
			return fmt.Errorf("broker exited before accepting connections on %s", addr)
		case <-ctx.Done():
			return fmt.Errorf("broker not accepting connections on %s: %w", addr, err)
		case <-tick.C:
		}
	}
}

// containerConfig is the configuration of the eclipse-mosquitto:2 container.
const containerConfig = "listener 1883\nallow_anonymous true\npersistence false\nlog_dest stdout\n"

// startContainer runs eclipse-mosquitto:2 when Docker is reachable. It
// returns nil and the reason when Docker cannot be used.
func startContainer(tb testing.TB) (b *Broker, reason string) {
	tb.Helper()
	if err := dockerHealthy(tb); err != nil {
		return nil, err.Error()
	}
	ctx := tb.Context()
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        "eclipse-mosquitto:2",
			ExposedPorts: []string{"1883/tcp"},
			Files: []testcontainers.ContainerFile{{
				Reader:            strings.NewReader(containerConfig),
				ContainerFilePath: "/mosquitto/config/mosquitto.conf",
				FileMode:          0o644,
			}},
			WaitingFor: wait.ForListeningPort("1883/tcp").WithStartupTimeout(60 * time.Second),
		},
		Started: true,
		Logger:  tclog.TestLogger(tb),
	})
	testcontainers.CleanupContainer(tb, ctr)
	if err != nil {
		return nil, fmt.Sprintf("run eclipse-mosquitto:2: %v", err)
	}
	endpoint, err := ctr.PortEndpoint(ctx, "1883/tcp", "tcp")
	if err != nil {
		tb.Fatalf("brokertest: mosquitto container endpoint: %v", err)
	}
	b = &Broker{url: endpoint, addr: strings.TrimPrefix(endpoint, "tcp://")}
	if err := waitReady(ctx, b.addr, nil); err != nil {
		tb.Fatalf("brokertest: mosquitto container: %v", err)
	}
	return b, ""
}

// dockerHealthy reports whether a Docker daemon answers. testcontainers
// panics in some setups without Docker; that counts as unhealthy.
func dockerHealthy(tb testing.TB) (err error) {
	tb.Helper()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("docker provider: %v", r)
		}
	}()
	provider, err := testcontainers.ProviderDefault.GetProvider(testcontainers.WithLogger(tclog.TestLogger(tb)))
	if err != nil {
		return fmt.Errorf("docker provider: %w", err)
	}
	defer provider.Close()
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	defer cancel()
	if err := provider.Health(ctx); err != nil {
		return fmt.Errorf("docker health: %w", err)
	}
	return nil
}
