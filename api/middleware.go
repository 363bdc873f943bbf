package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/telemetry"
	"github.com/filegate/filegate/websession"
)

type principalKey struct{}

// Principal returns the caller that authentication stored in the context.
func Principal(ctx context.Context) *filegate.Principal {
	p, _ := ctx.Value(principalKey{}).(*filegate.Principal)
	return p
}

// requireAuth admits requests that carry a valid bearer token and stores the
// principal in the request context. The token is never logged. With
// cookies set, a request without an Authorization header may instead
// carry the web app's session cookie, from filegate's own origin.
func requireAuth(tokens Authenticator, vouched Vouched, cookies *websession.Sealer, tp trace.TracerProvider, m *telemetry.Metrics, log *slog.Logger) func(http.Handler) http.Handler {
	tracer := tp.Tracer("github.com/filegate/filegate/api")
	authOK, authRefused := m.Auth.WithLabelValues("ok"), m.Auth.WithLabelValues("refused")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			// The authentication span is recorded only inside a recorded
			// trace; otherwise it would cost a span per request for nothing.
			span := trace.SpanFromContext(ctx)
			if span.IsRecording() {
				ctx, span = tracer.Start(ctx, "auth.Authenticate")
				defer span.End()
			}
			h := r.Header.Get("Authorization")
			scheme, token, _ := strings.Cut(h, " ")
			var p *filegate.Principal
			var err error
			var trusted bool
			if vouched != nil {
				p, trusted, err = vouched(r)
			}
			switch {
			case trusted:
			case h == "" && cookies != nil && hasSessionCookie(r):
				p, err = cookiePrincipal(r, cookies, tokens)
			case h == "":
				err = filegate.NewError(filegate.Unauthenticated, "api.auth", "missing_token", "an Authorization: Bearer token is required")
			case !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "":
				err = filegate.NewError(filegate.Unauthenticated, "api.auth", "invalid_token", "the Authorization header must be: Bearer <token>")
			default:
				p, err = tokens.Authenticate(strings.TrimSpace(token))
			}
			if err != nil {
				authRefused.Inc()
				if span.IsRecording() {
					span.SetAttributes(attribute.String("auth.result", "refused"))
					span.SetStatus(codes.Error, "refused")
				}
				writeError(w, r.WithContext(ctx), log, err)
				return
			}
			authOK.Inc()
			if span.IsRecording() {
				span.SetAttributes(attribute.String("auth.result", "ok"), attribute.String("auth.principal", p.Name), attribute.String("auth.prefix", p.Prefix))
				span.End()
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		})
	}
}

// front refuses paths with dot segments or empty segments before routing
// (ServeMux would otherwise redirect them to a cleaned path) and answers
// unknown routes and wrong methods with problem details.
// An extension may answer unknown routes in its own shape.
func front(mux *http.ServeMux, ext []Extension) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bad := uncleanPath(r.URL.Path); bad {
			writeProblem(w, r, Problem{Status: http.StatusBadRequest, Code: "invalid_path", Detail: "the path must not contain empty, . or .. segments"})
			return
		}
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Let ServeMux decide between 404 and 405 (it sets Allow), then
		// replace its plain-text body with a problem.
		iw := &intercept{header: http.Header{}}
		h.ServeHTTP(iw, r)
		if allow := iw.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		status := iw.status
		if status == 0 {
			status = http.StatusNotFound
		}
		if status == http.StatusNotFound {
			for _, e := range ext {
				if e.NotFound(w, r) {
					return
				}
			}
		}
		code, detail := "not_found", "no such route"
		if status == http.StatusMethodNotAllowed {
			code, detail = "method_not_allowed", "method not allowed; see the Allow header"
		}
		writeProblem(w, r, Problem{Status: status, Code: code, Detail: detail})
	})
}

func uncleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return true
	}
	rest := p[1:]
	for {
		seg, after, more := strings.Cut(rest, "/")
		if seg == "." || seg == ".." || (seg == "" && more) {
			return true
		}
		if !more {
			return false
		}
		rest = after
	}
}

type intercept struct {
	header http.Header
	status int
}

func (i *intercept) Header() http.Header         { return i.header }
func (i *intercept) Write(b []byte) (int, error) { return len(b), nil }
func (i *intercept) WriteHeader(code int) {
	if i.status == 0 {
		i.status = code
	}
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe logs one line per request and records metrics, labelled by route
// pattern (never by raw path, which would explode cardinality). Only the
// path is logged: never the query string or any header.
func observe(next http.Handler, log *slog.Logger, m *telemetry.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		aborted := true
		defer func() {
			// A handler that aborts its response (http.ErrAbortHandler: a
			// stream cut mid-way) still gets its line and its count; the
			// panic then goes on to net/http, which drops the connection.
			if aborted {
				record(r, log, m, sw, start, true)
			}
		}()
		next.ServeHTTP(sw, r)
		aborted = false
		record(r, log, m, sw, start, false)
	})
}

// record is observe's log line, metrics and span naming for one request.
func record(r *http.Request, log *slog.Logger, m *telemetry.Metrics, sw *statusWriter, start time.Time, aborted bool) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		span.SetName(route)
		span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	}
	d := time.Since(start)
	code := statusText(sw.status)
	if aborted {
		code = "aborted"
	}
	m.Requests.WithLabelValues(route, r.Method, code).Inc()
	m.Duration.WithLabelValues(route).Observe(d.Seconds())
	if log.Enabled(r.Context(), slog.LevelInfo) { // the arguments cost allocations even when nothing is logged
		log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", route),
			slog.Int("status", sw.status), slog.Bool("aborted", aborted), slog.Int64("bytes", sw.bytes), slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("remote", r.RemoteAddr))
	}
}

func statusText(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "000"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}

func recoverPanics(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request", "panic", v, "path", r.URL.Path)
				writeProblem(w, r, Problem{Status: http.StatusInternalServerError, Code: "internal", Detail: "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// traced gives every request a server span, continuing a trace from the
// request's headers with the global propagator (traceparent by default;
// X-Amzn-Trace-Id with OTEL_PROPAGATORS=xray); observe names it after the
// route. Written
// here rather than with otelhttp, which cost about half of a grant request's
// CPU (attribute sets, writer wrapping, metrics) in BenchmarkDownloadGrantNoCheck.
func traced(next http.Handler, tp trace.TracerProvider) http.Handler {
	tracer := tp.Tracer("github.com/filegate/filegate/api")
	prop := otel.GetTextMapPropagator()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		if span.IsRecording() {
			span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path))
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
