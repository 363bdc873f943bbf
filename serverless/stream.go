package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
)

// StreamingAdapter serves Function URL events whose function is set to
// RESPONSE_STREAM: the answer is streamed to the client as the handler
// writes it (a zip of any size), with Lambda's streaming response protocol
// (an HTTP integration prelude, eight NUL bytes, then the body; a failure
// after the first byte is reported in the error trailers).
type StreamingAdapter struct {
	Handler http.Handler
	api     string
	client  *http.Client
}

// NewStreamingAdapter streams h's answers through the Runtime API at api.
func NewStreamingAdapter(h http.Handler, api string) *StreamingAdapter {
	return &StreamingAdapter{Handler: h, api: api, client: &http.Client{}}
}

// streamed is what Serve posts for a streamed answer: nothing, it was sent.
type streamed struct{}

// errStreamed tells Serve that the answer went out already.
var errStreamed = errors.New("serverless: streamed")

// Invoke serves one Function URL event, streaming the answer.
func (s *StreamingAdapter) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	if Detect(raw) != FunctionURL {
		return nil, errors.New("serverless: a streaming function serves Function URL events only")
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	req, err := v2Request(ctx, ev)
	if err != nil {
		return nil, err
	}
	id := requestID(ctx)
	pr, pw := io.Pipe()
	post, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost,
		"http://"+s.api+"/2018-06-01/runtime/invocation/"+id+"/response", pr)
	if err != nil {
		return nil, err
	}
	post.Header.Set("Lambda-Runtime-Function-Response-Mode", "streaming")
	post.Header.Set("Content-Type", "application/vnd.awslambda.http-integration-response")
	post.Trailer = http.Header{"Lambda-Runtime-Function-Error-Type": nil, "Lambda-Runtime-Function-Error-Body": nil}
	post.ContentLength = -1
	done := make(chan error, 1)
	go func() {
		resp, err := s.client.Do(post)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		pr.CloseWithError(err)
		done <- err
	}()
	w := &streamWriter{pw: pw, header: http.Header{}}
	func() {
		defer func() {
			if r := recover(); r != nil {
				w.fail(fmt.Sprint(r))
			}
		}()
		s.Handler.ServeHTTP(w, req)
	}()
	w.finish(post)
	if err := <-done; err != nil {
		return nil, fmt.Errorf("serverless: streaming the answer: %w", err)
	}
	return streamed{}, errStreamed
}

type requestIDKey struct{}

func requestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey{}).(string)
	return s
}

// streamWriter writes the prelude before the first body byte.
type streamWriter struct {
	mu      sync.Mutex
	pw      *io.PipeWriter
	header  http.Header
	status  int
	started bool
	failed  string
}

func (w *streamWriter) Header() http.Header { return w.header }

func (w *streamWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.start(code)
}

func (w *streamWriter) start(code int) {
	if w.started {
		return
	}
	w.started, w.status = true, code
	prelude := map[string]any{"statusCode": code, "headers": map[string]string{}, "cookies": []string{}}
	for k, vs := range w.header {
		if strings.EqualFold(k, "Set-Cookie") {
			prelude["cookies"] = vs
			continue
		}
		prelude["headers"].(map[string]string)[k] = strings.Join(vs, ",")
	}
	b, _ := json.Marshal(prelude)
	_, _ = w.pw.Write(append(b, make([]byte, 8)...))
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.start(http.StatusOK)
	return w.pw.Write(p)
}

func (w *streamWriter) Flush() {}

func (w *streamWriter) fail(why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failed = why
}

// finish ends the body; a failure after the first byte goes in the
// trailers, so the client sees the stream cut, never a whole-looking file.
func (w *streamWriter) finish(post *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.start(http.StatusOK)
	if w.failed != "" {
		post.Trailer.Set("Lambda-Runtime-Function-Error-Type", "Runtime.StreamError")
		post.Trailer.Set("Lambda-Runtime-Function-Error-Body", `{"errorMessage":"the answer was cut: `+strings.ReplaceAll(w.failed, `"`, `'`)+`","errorType":"StreamError"}`)
	}
	_ = w.pw.Close()
}
