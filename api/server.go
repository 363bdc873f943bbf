// Package api is filegate's HTTP interface: a thin adapter that decodes a
// request, authenticates and authorizes the caller, calls a service and
// encodes the answer. Errors become RFC 9457 problem details in one place
// (writeError). Services know nothing of HTTP.
package api

import (
	"context"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/browse"
	"github.com/filegate/filegate/bundle"
	"github.com/filegate/filegate/caption"
	"github.com/filegate/filegate/grant"
	"github.com/filegate/filegate/telemetry"
	"github.com/filegate/filegate/upload"
)

// Authenticator turns a bearer token into a principal.
type Authenticator interface {
	Authenticate(token string) (*filegate.Principal, error)
}

// Deps are what the server needs. Every field is required.
type Deps struct {
	Tokens   Authenticator
	Browse   *browse.Service
	Grants   *grant.Service
	Uploads  *upload.Service
	Bundles  *bundle.Service
	Captions *caption.Service
	// Compat serves the seed systems' routes (see addCompatRoutes).
	Compat  bool
	Ready   func(context.Context) error // nil error when the store answers
	Log     *slog.Logger
	Metrics *telemetry.Metrics
	Tracing trace.TracerProvider
}

// NewServer returns filegate's HTTP handler.
func NewServer(d Deps) http.Handler {
	mux := http.NewServeMux()
	addRoutes(mux, d)
	if d.Compat {
		addCompatRoutes(mux, d)
	}
	// observe wraps recoverPanics, so that a panic (answered 500) and an
	// aborted stream are logged and counted like every other request.
	var h http.Handler = front(mux, d.Compat)
	h = recoverPanics(h, d.Log)
	h = observe(h, d.Log, d.Metrics)
	h = traced(h, d.Tracing)
	return h
}
