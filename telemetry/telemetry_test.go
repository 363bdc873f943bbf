package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestOTLPExport: spans reach a collector over OTLP/HTTP as a valid
// ExportTraceServiceRequest, with the headers and the service name the
// standard variables give.
func TestOTLPExport(t *testing.T) {
	var mu sync.Mutex
	var got []*coltracepb.ExportTraceServiceRequest
	var auth, ctype string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		got, auth, ctype = append(got, &req), r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		mu.Unlock()
	}))
	defer collector.Close()
	env := map[string]string{
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":  "Authorization=Basic%20abc,x-extra=1",
		"OTEL_SERVICE_NAME":           "filegate-test",
	}
	tp, stop, err := Tracing(context.Background(), func(k string) string { return env[k] }, "v-test")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("t").Start(context.Background(), "grant.Download")
	span.End()
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || auth != "Basic abc" || ctype != "application/x-protobuf" {
		t.Fatalf("collector got %d requests, Authorization %q, Content-Type %q", len(got), auth, ctype)
	}
	rs := got[0].ResourceSpans
	if len(rs) != 1 || len(rs[0].ScopeSpans) != 1 || rs[0].ScopeSpans[0].Spans[0].Name != "grant.Download" {
		t.Fatalf("request = %v", got[0])
	}
	service := ""
	for _, a := range rs[0].Resource.Attributes {
		if a.Key == "service.name" {
			service = a.Value.GetStringValue()
		}
	}
	if service != "filegate-test" {
		t.Errorf("service.name = %q", service)
	}
}

func TestExporterChoice(t *testing.T) {
	for env, ok := range map[[2]string]bool{
		{"otlp", ""}:              true,
		{"console", ""}:           true,
		{"none", ""}:              true,
		{"zipkin", ""}:            false,
		{"otlp", "grpc"}:          false,
		{"otlp", "http/protobuf"}: true,
	} {
		vars := map[string]string{"OTEL_TRACES_EXPORTER": env[0], "OTEL_EXPORTER_OTLP_PROTOCOL": env[1]}
		_, _, err := Tracing(context.Background(), func(k string) string { return vars[k] }, "v")
		if (err == nil) != ok {
			t.Errorf("%v: %v", env, err)
		}
	}
	if _, err := newOTLPHTTP(func(k string) string { return map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}[k] }); err == nil {
		t.Error("a timeout that is not milliseconds was taken")
	}
	if _, err := newOTLPHTTP(func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4318"}[k]
	}); err == nil {
		t.Error("an endpoint without a scheme was taken")
	}
}
