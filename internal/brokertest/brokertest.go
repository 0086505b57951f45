// Package brokertest gives tests a real Mosquitto MQTT broker.
//
// Start picks, in order: the broker named by MQTT_TEST_BROKER; a local
// mosquitto binary on a free loopback port (restartable, with persistence so
// retained messages survive a restart as in a real deployment); an
// eclipse-mosquitto:2 container through testcontainers-go when Docker is
// reachable. When none is available the test is skipped, unless
// SIFELY2MQTT_REQUIRE_BROKER=1, in which case it fails.
package brokertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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
		return startLocal(tb, bin)
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

// URL returns the broker's URL, e.g. tcp://127.0.0.1:41234.
func (b *Broker) URL() string { return b.url }

// Addr returns the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// CanRestart reports whether Stop and Restart work: only for a local
// mosquitto binary.
func (b *Broker) CanRestart() bool { return b.bin != "" }

// Stop terminates the broker with SIGTERM and waits for it to exit. It skips
// the test when the broker cannot be restarted (check CanRestart first).
func (b *Broker) Stop(tb testing.TB) {
	tb.Helper()
	b.requireRestart(tb)
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
	b.requireRestart(tb)
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

func (b *Broker) requireRestart(tb testing.TB) {
	tb.Helper()
	if !b.CanRestart() {
		tb.Skip("brokertest: this broker cannot be stopped or restarted (external or container)")
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

func startLocal(tb testing.TB, bin string) *Broker {
	tb.Helper()
	dir := tb.TempDir()
	b := &Broker{
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
		if err := os.WriteFile(b.conf, []byte(localConfig(port, dir)), 0o600); err != nil {
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
	var c strings.Builder
	fmt.Fprintf(&c, "listener %d 127.0.0.1\n", port)
	c.WriteString("allow_anonymous true\n")
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
