package store

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Default bounds on store calls (Config.Timeout, Config.IdleTimeout).
const (
	DefaultTimeout     = 5 * time.Second
	DefaultIdleTimeout = 30 * time.Second
	// longTimeout bounds calls whose work grows with an object's size on
	// the store's side (CompleteMultipartUpload assembles the parts).
	longTimeout = 5 * time.Minute
	// DefaultMaxConns is half of what the embedded store serves at once,
	// leaving the rest to clients' presigned transfers.
	DefaultMaxConns = 512
)

// short bounds a call that moves no object body: it answers (retries
// included) within the store timeout, or fails as Unavailable.
func (s *Store) short(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// statusError is a store's HTTP answer on the raw (non-SDK) paths, shaped
// so that the SDK's retryer classifies it (HTTPStatusCode).
type statusError int

func (e statusError) Error() string       { return fmt.Sprintf("store answered %d", int(e)) }
func (e statusError) HTTPStatusCode() int { return int(e) }

// do sends a presigned request on the raw paths (Head, Get) with the SDK's
// retryer deciding what to retry and how long to wait (retry). A final
// non-2xx answer is returned as a statusError with its body drained.
func (s *Store) do(ctx context.Context, method, u string) (*http.Response, error) {
	var resp *http.Response
	err := s.retry(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return err
		}
		r, err := s.http.Do(req)
		if err != nil {
			return err
		}
		if r.StatusCode < 300 {
			resp = r
			return nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
		r.Body.Close()
		return statusError(r.StatusCode)
	})
	return resp, err
}

// retry runs try until it succeeds or fails for good: transient failures
// (500, 502, 503, 504, 429, reset connections) are tried again, as the
// SDK's retryer decides and after the delay it gives, up to its attempts,
// within ctx. It returns the last attempt's error.
func (s *Store) retry(ctx context.Context, try func() error) error {
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || attempt >= s.retryer.MaxAttempts() || !retryable(s.retryer, err) {
			return err
		}
		delay, derr := s.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func retryable(r aws.Retryer, err error) bool {
	if se, ok := err.(statusError); ok && se == http.StatusTooManyRequests {
		return true
	}
	return r.IsErrorRetryable(err)
}

// idleConn fails a read or write that makes no progress for idle: a store
// that stops answering mid-body (stopped, partitioned) frees the request
// instead of holding it forever, while a slow but moving transfer of any
// size goes on.
//
// A write moves the read deadline too. The transport keeps a read pending
// on every connection, idle in its pool or waiting for an answer; its
// deadline was set when that read began. Without this, a request sent on
// a connection idle for a while, or an upload longer than idle (a bundle
// streamed into one PUT), would fail while its bytes were still moving.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetDeadline(time.Now().Add(c.idle))
	return c.Conn.Write(p)
}

// dialWithIdle wraps every connection the transport opens in an idleConn.
func dialWithIdle(dial func(ctx context.Context, network, addr string) (net.Conn, error), idle time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: c, idle: idle}, nil
	}
}

// headerDeadline cancels a request whose response headers have not come
// within d; once they have, the body may stream for as long as it moves
// (the connection's idle deadline guards stalls).
type headerDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
	timer  *time.Timer
}

func newHeaderDeadline(parent context.Context, d time.Duration) *headerDeadline {
	ctx, cancel := context.WithCancel(parent)
	return &headerDeadline{ctx: ctx, cancel: cancel, timer: time.AfterFunc(d, cancel)}
}

// arrived stops the header timer; it reports false if it had already fired.
func (h *headerDeadline) arrived() bool { return h.timer.Stop() }

// body releases the context when the caller closes the body.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
