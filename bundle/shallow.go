package bundle

import (
	"context"

	"go.opentelemetry.io/otel/trace"
)

// shallow returns a context that carries only ctx's span and ends when ctx
// does (or when the returned cancel is called). A bundle makes a store
// call per entry, and each looks values up in its context: the tracer its
// parent span, net/http its client trace. Under an HTTP request that chain
// is a dozen contexts deep (server, connection, middleware, principal):
// the lookups were 6% of filegate's CPU for 5,000 small objects in one
// profile (2026-12-03, through the bench's delay proxy), part of it the
// stack growth that reused goroutines (workers) now avoid. Nothing below
// the handler reads any other value; logs take their trace ids from the
// span.
//
// Err reports context.Canceled once ctx ends, whatever ctx's own error, and
// Cause gives ctx's cause.
func shallow(ctx context.Context) (context.Context, context.CancelFunc) {
	base := trace.ContextWithSpan(context.Background(), trace.SpanFromContext(ctx))
	c, cancel := context.WithCancelCause(base)
	stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	return c, func() {
		stop()
		cancel(context.Canceled)
	}
}
