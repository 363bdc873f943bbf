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
	"github.com/filegate/filegate/tempcreds"
	"github.com/filegate/filegate/upload"
	"github.com/filegate/filegate/web"
	"github.com/filegate/filegate/websession"
)

// Vouched returns the principal a trusted front (an API Gateway Lambda
// authorizer) already authenticated for r: ok is false when r carries none,
// and bearer tokens are then checked as usual.
type Vouched func(r *http.Request) (p *filegate.Principal, ok bool, err error)

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
	// Credentials issues STS credentials (POST /v1/credentials).
	Credentials *tempcreds.Service
	// NoStreaming answers POST /v1/bundles/stream with a stored bundle's
	// link (Lambda behind API Gateway, whose responses are buffered).
	NoStreaming bool
	// Vouched, when set, admits principals a trusted authorizer vouched for.
	Vouched Vouched
	// Extensions add routes beside the native API (package compat,
	// package companion).
	Extensions []Extension
	// Sessions, when set, lets a browser sign in (POST /v1/session) and get
	// a session cookie that routes registered with Auth.BearerOrCookie
	// accept in place of a bearer token (Uppy 6 sends no headers).
	Sessions *websession.Sealer
	// Origins are the browser origins besides filegate's own that may call
	// /v1 and /s3 with a bearer token (CORS; never with cookies).
	Origins []string
	// Web, when set, serves the web app (GET / and its assets).
	Web     *web.Handler
	Ready   func(context.Context) error // nil error when the store answers
	Log     *slog.Logger
	Metrics *telemetry.Metrics
	Tracing trace.TracerProvider
}

// Auth wraps handlers with authentication; Principal then returns the
// caller.
type Auth struct {
	// Bearer admits requests with a valid bearer token.
	Bearer func(http.Handler) http.Handler
	// BearerOrCookie also admits the web app's session cookie, from
	// filegate's own origin only (state-changing methods must carry a
	// matching Origin header).
	BearerOrCookie func(http.Handler) http.Handler
}

// Extension adds routes beside the native API.
type Extension interface {
	// Register adds its routes.
	Register(mux *http.ServeMux, auth Auth)
	// NotFound may answer an unknown route in the extension's own shape;
	// it returns false to leave it to the native problem answer.
	NotFound(w http.ResponseWriter, r *http.Request) bool
}

// NewServer returns filegate's HTTP handler.
func NewServer(d Deps) http.Handler {
	mux := http.NewServeMux()
	addRoutes(mux, d)
	auth := Auth{
		Bearer:         requireAuth(d.Tokens, d.Vouched, nil, d.Tracing, d.Metrics, d.Log),
		BearerOrCookie: requireAuth(d.Tokens, d.Vouched, d.Sessions, d.Tracing, d.Metrics, d.Log),
	}
	for _, e := range d.Extensions {
		e.Register(mux, auth)
	}
	// observe wraps recoverPanics, so that a panic (answered 500) and an
	// aborted stream are logged and counted like every other request.
	var h http.Handler = front(mux, d.Extensions)
	h = cors(h, d.Origins)
	h = recoverPanics(h, d.Log)
	h = observe(h, d.Log, d.Metrics)
	h = traced(h, d.Tracing)
	return h
}
