package bridge

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Webhook request results, the values of the "result" label of
// Metrics.WebhookRequestsTotal.
const (
	// WebhookAccepted is a push on the secret path that was delivered.
	WebhookAccepted = "accepted"
	// WebhookIgnored is a well-formed push of a kind the bridge does not use
	// (sifely.ErrUnknownWebhook): answered with success, not delivered.
	WebhookIgnored = "ignored"
	// WebhookEmpty is an empty body, such as the cloud's test request sent
	// when the webhook URL is saved: answered with success, not delivered.
	WebhookEmpty = "empty"
	// WebhookUnauthorized is a request on any path but the secret one (404).
	WebhookUnauthorized = "unauthorized"
	// WebhookRejected is a request on the secret path refused before its body
	// was read: a method other than POST (405) or over the concurrency limit
	// (503).
	WebhookRejected = "rejected"
	// WebhookTooLarge is a body over the size limit (413).
	WebhookTooLarge = "too_large"
	// WebhookBadRequest is a body that could not be read or parsed (400).
	WebhookBadRequest = "bad_request"
	// WebhookError is a request whose handling panicked (500).
	WebhookError = "error"
)

// webhookResults lists every value of the webhook "result" label, so that
// each series exists (at zero) from the start.
var webhookResults = [...]string{
	WebhookAccepted, WebhookIgnored, WebhookEmpty, WebhookUnauthorized,
	WebhookRejected, WebhookTooLarge, WebhookBadRequest, WebhookError,
}

// Metrics holds the bridge's Prometheus collectors, registered in a private
// registry (with the Go runtime and process collectors) that the HTTP server
// of NewHTTPHandler exposes. The bridge updates the exported fields directly.
type Metrics struct {
	registry *prometheus.Registry

	// CommandsTotal counts lock commands by action (lock, unlock) and result
	// (ok, or the error class).
	CommandsTotal *prometheus.CounterVec
	// CommandLatency observes the seconds from receiving a command to its
	// result, by action.
	CommandLatency *prometheus.HistogramVec
	// CloudCallsTotal counts calls made to the Sifely cloud by call (the API
	// operation, such as "lock" or "list_locks") and result (ok, or the error
	// class).
	CloudCallsTotal *prometheus.CounterVec
	// WebhookRequestsTotal counts webhook requests by result (see the
	// Webhook* constants).
	WebhookRequestsTotal *prometheus.CounterVec
	// EventsPublished counts activity events published to MQTT by
	// event_type.
	EventsPublished *prometheus.CounterVec
	// MQTTConnected is 1 while the MQTT session is connected, else 0.
	MQTTConnected prometheus.Gauge
	// Locks is the number of locks on the account.
	Locks prometheus.Gauge
	// LockAvailable is 1 while a lock is reachable through the cloud, else
	// 0, by lock_id.
	LockAvailable *prometheus.GaugeVec
}

// metricsNamespace prefixes every metric name of the bridge.
const metricsNamespace = "sifely2mqtt"

// NewMetrics builds the collectors and registers them, with the Go runtime
// and process collectors, in a new private registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		CommandsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "commands_total",
			Help:      "Lock commands handled, by action and result.",
		}, []string{"action", "result"}),
		CommandLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace,
			Name:      "command_latency_seconds",
			Help:      "Seconds from receiving a lock command to its result, by action.",
			Buckets:   []float64{0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60},
		}, []string{"action"}),
		CloudCallsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "cloud_calls_total",
			Help:      "Calls made to the Sifely cloud, by call and result.",
		}, []string{"call", "result"}),
		WebhookRequestsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "webhook_requests_total",
			Help:      "Webhook requests received, by result.",
		}, []string{"result"}),
		EventsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "events_published_total",
			Help:      "Activity events published to MQTT, by event type.",
		}, []string{"event_type"}),
		MQTTConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metricsNamespace,
			Name:      "mqtt_connected",
			Help:      "1 while the MQTT session is connected, else 0.",
		}),
		Locks: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metricsNamespace,
			Name:      "locks",
			Help:      "Locks on the Sifely account.",
		}),
		LockAvailable: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metricsNamespace,
			Name:      "lock_available",
			Help:      "1 while a lock is reachable through the cloud, else 0.",
		}, []string{"lock_id"}),
	}
	for _, r := range webhookResults {
		m.WebhookRequestsTotal.WithLabelValues(r)
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.CommandsTotal,
		m.CommandLatency,
		m.CloudCallsTotal,
		m.WebhookRequestsTotal,
		m.EventsPublished,
		m.MQTTConnected,
		m.Locks,
		m.LockAvailable,
	)
	return m
}

// Gatherer returns the private registry, for exposing or inspecting the
// metrics.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.registry }

// webhookRequest counts one webhook request; m may be nil.
func (m *Metrics) webhookRequest(result string) {
	if m == nil {
		return
	}
	m.WebhookRequestsTotal.WithLabelValues(result).Inc()
}

// ObserveCloudCall counts one request to the cloud; pass it as
// sifely.Options.OnCall. The call label is the endpoint path (a small,
// fixed set), the result "ok" or the error class used in command results.
func (m *Metrics) ObserveCloudCall(path string, err error) {
	result := "ok"
	if err != nil {
		result = errorClass(err)
	}
	m.CloudCallsTotal.WithLabelValues(path, result).Inc()
}
