package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sifely2mqtt/sifely2mqtt/bridge"
	"github.com/sifely2mqtt/sifely2mqtt/internal/brokertest"
	"github.com/sifely2mqtt/sifely2mqtt/sifely/sifelytest"
)

// signalWait bounds every wait for the daemon or the broker in these tests;
// generous, so that a slow machine does not fail them.
const signalWait = 30 * time.Second

// shutdownBudget is the clean shutdown time the design promises for SIGTERM
// and SIGINT.
const shutdownBudget = 5 * time.Second

// recorder keeps every message an MQTT observer receives, in order.
type recorder struct {
	mu      sync.Mutex
	msgs    []bridge.Message
	changed chan struct{} // signalled (coalescing) on every message
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) add(m bridge.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// waitFor waits until a message on topic satisfies ok, at or after index
// from of the recording, and returns its index.
func (r *recorder) waitFor(t *testing.T, from int, topic string, ok func(string) bool) int {
	t.Helper()
	timer := time.NewTimer(signalWait)
	defer timer.Stop()
	for {
		r.mu.Lock()
		for i := from; i < len(r.msgs); i++ {
			if m := r.msgs[i]; m.Topic == topic && ok(string(m.Payload)) {
				r.mu.Unlock()
				return i
			}
		}
		r.mu.Unlock()
		select {
		case <-r.changed:
		case <-timer.C:
			r.mu.Lock()
			defer r.mu.Unlock()
			var got []string
			for _, m := range r.msgs[min(from, len(r.msgs)):] {
				if m.Topic == topic {
					got = append(got, string(m.Payload))
				}
			}
			t.Fatalf("no matching message on %s within %v; got %q", topic, signalWait, got)
		}
	}
}

// observe connects an in-order MQTT client to url, subscribed to filter,
// recording what it receives; tb's cleanup closes it.
func observe(t *testing.T, url, clientID, filter string) *recorder {
	t.Helper()
	rec := newRecorder()
	c, err := bridge.NewMQTTClient(bridge.MQTTOptions{URL: url, ClientID: clientID, InOrder: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Subscribe(filter, 1, rec.add)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close observer: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), signalWait)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return rec
}

// safeBuffer is a bytes.Buffer that a child process's output and the test
// may use at the same time.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemonProcess is the command run in a child process.
type daemonProcess struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returned
	err    error         // cmd.Wait's result, valid after exited is closed
	output *safeBuffer   // stdout and stderr
}

// startDaemon runs this test binary as the real command (TestMain calls
// main when SIFELY2MQTT_TEST_MAIN_ARGS is set) with args and, of the
// environment, only env among the SIFELY2MQTT_ variables. tb's cleanup
// kills it if it is still running and shows its output if tb failed.
func startDaemon(t *testing.T, env map[string]string, args ...string) *daemonProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix+"_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "SIFELY2MQTT_TEST_MAIN_ARGS="+strings.Join(args, " "))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &daemonProcess{cmd: cmd, exited: make(chan struct{}), output: &safeBuffer{}}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	go func() { // joined by the cleanup below, which waits on exited
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("daemon output:\n%s", p.output)
		}
	})
	return p
}

// TestSignalShutdown runs the real command with -demo against a real
// Mosquitto, sends it SIGTERM or SIGINT once it is up, and checks that it
// exits with status 0 within the design's budget after publishing its
// bridge state "offline", retained.
func TestSignalShutdown(t *testing.T) {
	tests := []struct {
		name string
		sig  syscall.Signal
	}{
		{"SIGTERM", syscall.SIGTERM},
		{"SIGINT", syscall.SIGINT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			broker := brokertest.Start(t)
			base := fmt.Sprintf("sig%s%d", strings.ToLower(tt.name), time.Now().UnixNano()%1_000_000)
			stateTopic := base + "/bridge/state"
			rec := observe(t, broker.URL(), base+"-observer", "#")

			p := startDaemon(t, map[string]string{
				"SIFELY2MQTT_MQTT_URL":        broker.URL(),
				"SIFELY2MQTT_MQTT_BASE_TOPIC": base,
				"SIFELY2MQTT_MQTT_CLIENT_ID":  base,
				"SIFELY2MQTT_HTTP_LISTEN":     "127.0.0.1:0",
				"SIFELY2MQTT_STATE_DIR":       t.TempDir(),
				"SIFELY2MQTT_CONFIG":          t.TempDir() + "/nonexistent.yaml",
			}, "-demo")

			online := rec.waitFor(t, 0, stateTopic, func(s string) bool { return s == "online" })
			for _, l := range sifelytest.DemoLocks() {
				rec.waitFor(t, 0, fmt.Sprintf("homeassistant/device/sifely_%d/config", l.ID), func(s string) bool {
					return strings.Contains(s, `"name":"`+l.Alias+`"`)
				})
			}
			select {
			case <-p.exited:
				t.Fatalf("daemon exited before the signal: %v", p.err)
			default:
			}

			if err := p.cmd.Process.Signal(tt.sig); err != nil {
				t.Fatalf("send %s: %v", tt.name, err)
			}
			budget := time.NewTimer(shutdownBudget)
			defer budget.Stop()
			select {
			case <-p.exited:
			case <-budget.C:
				t.Errorf("daemon still running %v after %s", shutdownBudget, tt.name)
				select {
				case <-p.exited:
				case <-time.After(signalWait):
					t.Fatalf("daemon still running %v after %s", shutdownBudget+signalWait, tt.name)
				}
			}
			if p.err != nil {
				t.Errorf("daemon exit after %s: %v, want status 0", tt.name, p.err)
			}
			if got := p.cmd.ProcessState.ExitCode(); got != 0 {
				t.Errorf("exit status = %d, want 0", got)
			}

			// The observer sees offline after online; a new subscriber gets
			// it as the retained state.
			rec.waitFor(t, online+1, stateTopic, func(s string) bool { return s == "offline" })
			late := observe(t, broker.URL(), base+"-late", stateTopic)
			i := late.waitFor(t, 0, stateTopic, func(string) bool { return true })
			late.mu.Lock()
			m := late.msgs[i]
			late.mu.Unlock()
			if got := string(m.Payload); got != "offline" || !m.Retained {
				t.Errorf("retained %s = %q (retained %v), want \"offline\" retained", stateTopic, got, m.Retained)
			}
		})
	}
}
