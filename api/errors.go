package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/filegate/filegate"
)

// statusOf is the one table mapping error kinds to HTTP statuses.
var statusOf = map[filegate.Kind]int{
	filegate.Internal:        http.StatusInternalServerError,
	filegate.Invalid:         http.StatusBadRequest,
	filegate.Unauthenticated: http.StatusUnauthorized,
	filegate.Forbidden:       http.StatusForbidden,
	filegate.NotFound:        http.StatusNotFound,
	filegate.Conflict:        http.StatusConflict,
	filegate.TooLarge:        http.StatusRequestEntityTooLarge,
	filegate.Unsupported:     http.StatusUnsupportedMediaType,
	filegate.Unavailable:     http.StatusServiceUnavailable,
	filegate.Expired:         http.StatusGone,
	filegate.Busy:            http.StatusTooManyRequests,
	filegate.NotImplemented:  http.StatusNotImplemented,
}

// Problem is an RFC 9457 problem-details body with filegate's stable code.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Code     string `json:"code"`
	Instance string `json:"instance,omitempty"`
	TraceID  string `json:"trace_id,omitempty"`
}

// StatusOf is the HTTP status of an error kind (500 for an unknown kind).
func StatusOf(k filegate.Kind) int {
	if s, ok := statusOf[k]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// writeError answers with the problem err stands for. Internal errors are
// logged in full and shown as "internal error"; others are shown with their
// client-safe message only.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var fe *filegate.Error
	if !errors.As(err, &fe) {
		fe = filegate.NewError(filegate.Internal, "", "", "").Wrap(err)
	}
	status, ok := statusOf[fe.Kind]
	if !ok {
		status = http.StatusInternalServerError
	}
	p := Problem{Status: status, Code: fe.Code, Detail: fe.Msg}
	if p.Code == "" || fe.Kind == filegate.Internal || fe.Kind == filegate.Unavailable {
		p.Code = fe.Kind.String()
	}
	switch {
	case status >= 500:
		log.ErrorContext(r.Context(), "request failed", "op", fe.Op, "kind", fe.Kind.String(), "err", err.Error())
		if fe.Kind == filegate.Internal {
			p.Detail = "internal error"
		}
	default:
		log.InfoContext(r.Context(), "request refused", "op", fe.Op, "kind", fe.Kind.String(), "code", p.Code, "err", err.Error())
	}
	if fe.Kind == filegate.Busy {
		w.Header().Set("Retry-After", "1")
	}
	if fe.Kind == filegate.Unauthenticated {
		v := `Bearer realm="filegate"`
		if fe.Code == "invalid_token" {
			v += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", v)
	}
	writeProblem(w, r, p)
}

func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	p.Type = "about:blank"
	p.Title = http.StatusText(p.Status)
	p.Instance = r.URL.Path
	if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
		p.TraceID = sc.TraceID().String()
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(p)
}

// WriteError answers err as problem details, for extensions: the same
// mapping, logging and redaction as the native routes.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	writeError(w, r, log, err)
}
