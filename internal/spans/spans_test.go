package spans

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestStart(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	on := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("t")
	off := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSpanProcessor(rec)).Tracer("t")
	ratio := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())), sdktrace.WithSpanProcessor(rec)).Tracer("t")

	// Under a recording parent: a child, recorded.
	ctx, parent := on.Start(context.Background(), "parent")
	_, child := Start(ctx, on, "child")
	if !child.IsRecording() || child.SpanContext().SpanID() == parent.SpanContext().SpanID() {
		t.Fatal("no recorded child under a recording parent")
	}
	child.End()
	parent.End()

	// Under a parent that records nothing: nothing started, the parent's
	// ids stay in the context.
	ctx, quiet := off.Start(context.Background(), "quiet")
	if !quiet.SpanContext().IsValid() {
		t.Fatal("an unsampled span should still have ids")
	}
	cctx, none := Start(ctx, on, "child")
	if none.IsRecording() || none.SpanContext().IsValid() {
		t.Fatal("a span was started under an unrecorded parent")
	}
	if !trace.SpanContextFromContext(cctx).Equal(quiet.SpanContext()) {
		t.Fatal("the context lost its parent's ids")
	}

	// A remote parent that was sampled: the child is started.
	sampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: [16]byte{1}, SpanID: [8]byte{1}, TraceFlags: trace.FlagsSampled, Remote: true})
	_, remote := Start(trace.ContextWithRemoteSpanContext(context.Background(), sampled), ratio, "child")
	if !remote.IsRecording() {
		t.Fatal("no span under a sampled remote parent")
	}
	remote.End()

	// No parent: a root span, as the tracer decides.
	_, root := Start(context.Background(), on, "root")
	if !root.IsRecording() {
		t.Fatal("no root span")
	}
	root.End()
	if got := len(rec.Ended()); got != 4 {
		t.Fatalf("%d spans ended, want 4 (parent, child, remote child, root)", got)
	}
}
