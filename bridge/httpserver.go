package bridge

import (
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewHTTPHandler returns the handler of the health and metrics server:
// GET /healthz answers 200 "ok" when health returns nil (or health is nil),
// else 503 with the error's text; GET /metrics serves m's private registry in
// the Prometheus text format (404 when m is nil). Other paths get 404, other
// methods 405.
func NewHTTPHandler(health func() error, m *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if health != nil {
			if err := health(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, err.Error())
				return
			}
		}
		_, _ = io.WriteString(w, "ok")
	})
	if m != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
			Registry:            m.registry, // counts its own scrapes and errors
			MaxRequestsInFlight: 4,
		}))
	}
	return mux
}
