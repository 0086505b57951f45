package bridge

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// startHTTP serves NewHTTPHandler over real HTTP and returns its URL.
func startHTTP(t *testing.T, health func() error, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(NewHTTPHandler(health, m))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestHealthz(t *testing.T) {
	tests := []struct {
		name       string
		health     func() error
		wantStatus int
		wantBody   string
	}{
		{"healthy", func() error { return nil }, http.StatusOK, "ok"},
		{"no health check", nil, http.StatusOK, "ok"},
		{"unhealthy", func() error { return errors.New("mqtt disconnected") }, http.StatusServiceUnavailable, "mqtt disconnected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := startHTTP(t, tt.health, NewMetrics())

			r := do(t, http.MethodGet, base+"/healthz", "", nil)

			if r.status != tt.wantStatus || r.body != tt.wantBody {
				t.Errorf("GET /healthz = %d %q, want %d %q", r.status, r.body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestHealthzFollowsHealth(t *testing.T) {
	var failing atomic.Bool
	base := startHTTP(t, func() error {
		if failing.Load() {
			return errors.New("cloud unreachable")
		}
		return nil
	}, nil)

	for _, tt := range []struct {
		failing    bool
		wantStatus int
	}{
		{false, http.StatusOK},
		{true, http.StatusServiceUnavailable},
		{false, http.StatusOK},
	} {
		failing.Store(tt.failing)
		if got := do(t, http.MethodGet, base+"/healthz", "", nil).status; got != tt.wantStatus {
			t.Errorf("failing=%v: status = %d, want %d", tt.failing, got, tt.wantStatus)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	m := NewMetrics()
	m.CommandsTotal.WithLabelValues("unlock", "ok").Inc()
	m.CommandLatency.WithLabelValues("unlock").Observe(1.5)
	m.CloudCallsTotal.WithLabelValues("lock", "ok").Inc()
	m.EventsPublished.WithLabelValues("unlocked").Inc()
	m.MQTTConnected.Set(1)
	m.Locks.Set(3)
	m.LockAvailable.WithLabelValues("7252408").Set(1)
	base := startHTTP(t, nil, m)

	r := do(t, http.MethodGet, base+"/metrics", "", nil)

	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics status = %d, want 200", r.status)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want the text format", ct)
	}
	for _, want := range []string{
		`sifely2mqtt_commands_total{action="unlock",result="ok"} 1`,
		`sifely2mqtt_command_latency_seconds_count{action="unlock"} 1`,
		`sifely2mqtt_cloud_calls_total{call="lock",result="ok"} 1`,
		`sifely2mqtt_webhook_requests_total{result="accepted"} 0`,
		`sifely2mqtt_webhook_requests_total{result="unauthorized"} 0`,
		`sifely2mqtt_events_published_total{event_type="unlocked"} 1`,
		`sifely2mqtt_mqtt_connected 1`,
		`sifely2mqtt_locks 3`,
		`sifely2mqtt_lock_available{lock_id="7252408"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestMetricsUsePrivateRegistry(t *testing.T) {
	// Two sets side by side would panic on a shared registry.
	a, b := NewMetrics(), NewMetrics()
	a.Locks.Set(1)
	b.Locks.Set(2)

	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatalf("gather default registry: %v", err)
	}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "sifely2mqtt_") {
			t.Errorf("default registry holds %s", f.GetName())
		}
	}
	for _, tt := range []struct {
		m    *Metrics
		want string
	}{{a, "sifely2mqtt_locks 1"}, {b, "sifely2mqtt_locks 2"}} {
		base := startHTTP(t, nil, tt.m)
		if r := do(t, http.MethodGet, base+"/metrics", "", nil); !strings.Contains(r.body, tt.want) {
			t.Errorf("/metrics lacks %q", tt.want)
		}
	}
}

func TestHTTPHandlerRouting(t *testing.T) {
	tests := []struct {
		method, path string
		metrics      bool
		wantStatus   int
	}{
		{http.MethodGet, "/", true, http.StatusNotFound},
		{http.MethodGet, "/health", true, http.StatusNotFound},
		{http.MethodGet, "/healthz/", true, http.StatusNotFound},
		{http.MethodGet, "/metrics/x", true, http.StatusNotFound},
		{http.MethodGet, "/webhook/x", true, http.StatusNotFound},
		{http.MethodGet, "/metrics", false, http.StatusNotFound},
		{http.MethodHead, "/healthz", true, http.StatusOK},
		{http.MethodPost, "/healthz", true, http.StatusMethodNotAllowed},
		{http.MethodDelete, "/healthz", true, http.StatusMethodNotAllowed},
		{http.MethodPost, "/metrics", true, http.StatusMethodNotAllowed},
		{http.MethodPut, "/metrics", true, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var m *Metrics
			if tt.metrics {
				m = NewMetrics()
			}
			base := startHTTP(t, nil, m)

			r := do(t, tt.method, base+tt.path, "", nil)

			if r.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", r.status, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusMethodNotAllowed && !strings.Contains(r.header.Get("Allow"), http.MethodGet) {
				t.Errorf("Allow = %q, want it to include GET", r.header.Get("Allow"))
			}
		})
	}
}
