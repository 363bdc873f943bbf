// Package telemetry sets up filegate's traces, logs and metrics: an
// OpenTelemetry tracer provider configured by the standard OTEL_* variables,
// a JSON slog logger that stamps every record with the current trace and span
// ids, and a Prometheus registry with the server's metrics.
package telemetry

import (
	"strings"

	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/contrib/propagators/aws/xray"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Tracing builds a tracer provider. Spans always get ids (so logs carry them);
// they are exported only when OTEL_TRACES_EXPORTER or an OTLP endpoint
// variable is set: "otlp" (the default then) over HTTP/protobuf, configured
// by the standard OTEL_EXPORTER_OTLP_* variables, "console", or "none".
// The returned function flushes and stops the provider.
func Tracing(ctx context.Context, getenv func(string) string, version string) (trace.TracerProvider, func(context.Context) error, error) {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(orDefault(getenv("OTEL_SERVICE_NAME"), "filegate")),
		semconv.ServiceVersion(version),
	))
	if err != nil && res == nil {
		return nil, nil, err
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exporting := false
	if getenv("OTEL_TRACES_EXPORTER") != "" || getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := spanExporter(ctx, getenv)
		if err != nil {
			return nil, nil, err
		}
		if exp != nil {
			opts = append(opts, sdktrace.WithBatcher(exp))
			exporting = true
		}
	}
	if !exporting {
		// Nothing would read recorded spans: record none. Spans still get
		// trace and span ids, so logs keep carrying them. With an exporter,
		// the SDK's default sampler (or OTEL_TRACES_SAMPLER) applies.
		opts = append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	prop, err := propagators(getenv("OTEL_PROPAGATORS"))
	if err != nil {
		return nil, nil, err
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTextMapPropagator(prop)
	return tp, tp.Shutdown, nil
}

// propagators builds the propagators OTEL_PROPAGATORS names (default
// "tracecontext,baggage"): tracecontext, baggage, xray (the X-Amzn-Trace-Id
// header of API Gateway, Lambda and X-Ray, as seed 001 uses), none.
func propagators(list string) (propagation.TextMapPropagator, error) {
	if strings.TrimSpace(list) == "" {
		list = "tracecontext,baggage"
	}
	var ps []propagation.TextMapPropagator
	for _, name := range strings.Split(list, ",") {
		switch strings.TrimSpace(name) {
		case "tracecontext":
			ps = append(ps, propagation.TraceContext{})
		case "baggage":
			ps = append(ps, propagation.Baggage{})
		case "xray":
			ps = append(ps, xray.Propagator{})
		case "none", "":
		default:
			return nil, fmt.Errorf("OTEL_PROPAGATORS: %q is not supported (want tracecontext, baggage, xray or none)", name)
		}
	}
	return propagation.NewCompositeTextMapPropagator(ps...), nil
}

// spanExporter picks the exporter the standard variables name; nil for
// "none". OTLP over gRPC is not built in (it would add 10 MB to the
// binary): the OpenTelemetry and ADOT collectors take OTLP over HTTP as
// well (port 4318). Written here rather than with contrib's autoexport,
// which links every metric and log exporter and gRPC too.
func spanExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	switch kind := orDefault(getenv("OTEL_TRACES_EXPORTER"), "otlp"); kind {
	case "none":
		return nil, nil
	case "console":
		return stdouttrace.New()
	case "otlp":
		proto := orDefault(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), orDefault(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf"))
		if proto != "http/protobuf" {
			return nil, fmt.Errorf("OTLP protocol %q is not supported: use http/protobuf (collectors listen on port 4318)", proto)
		}
		client, err := newOTLPHTTP(getenv)
		if err != nil {
			return nil, err
		}
		return otlptrace.New(ctx, client)
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: want otlp, console or none", kind)
	}
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// Logger returns a JSON logger writing to w at the given level; records
// logged with a context carry trace_id and span_id.
func Logger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(traceHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(a)}
}
func (h traceHandler) WithGroup(n string) slog.Handler { return traceHandler{h.Handler.WithGroup(n)} }

// Metrics holds the server's Prometheus collectors.
type Metrics struct {
	Registry *prometheus.Registry
	Requests *prometheus.CounterVec   // by route, method, code
	Duration *prometheus.HistogramVec // by route
	Grants   *prometheus.CounterVec   // by kind (download, upload, ...)
	Auth     *prometheus.CounterVec   // by result
	// BundleBytes and BundleEntries count what bundles wrote.
	BundleBytes   prometheus.Counter
	BundleEntries prometheus.Counter
}

// NewMetrics registers filegate's collectors (and the Go and process ones)
// in a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filegate_http_requests_total", Help: "HTTP requests served, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "filegate_http_request_duration_seconds", Help: "Time to serve HTTP requests, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		Grants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filegate_grants_total", Help: "Signed grants handed out, by kind.",
		}, []string{"kind"}),
		Auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "filegate_auth_total", Help: "Authentication decisions, by result.",
		}, []string{"result"}),
	}
	m.BundleBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "filegate_bundle_bytes_total", Help: "Bytes of source objects written into bundles."})
	m.BundleEntries = prometheus.NewCounter(prometheus.CounterOpts{Name: "filegate_bundle_entries_total", Help: "Entries written into bundles."})
	m.Registry.MustRegister(m.Requests, m.Duration, m.Grants, m.Auth, m.BundleBytes, m.BundleEntries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
