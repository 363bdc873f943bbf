// Package lambdatest is a test double of the AWS Lambda Runtime API, written
// from its documentation (docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html),
// not from filegate's code, with an invoke endpoint shaped like the Runtime
// Interface Emulator's (POST /2015-03-31/functions/function/invocations).
// The emulator itself cannot be used: its module is refused by the module
// proxy this project builds from.
package lambdatest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Result is what the function answered to one invocation.
type Result struct {
	Payload   []byte // the response, or the error document
	Error     bool   // the function reported an error (…/error)
	ErrorType string // Lambda-Runtime-Function-Error-Type
	// Streamed: the response came in streaming mode
	// (Lambda-Runtime-Function-Response-Mode: streaming); Trailer holds
	// its error trailers, if any.
	Streamed bool
	Trailer  http.Header
}

type invocation struct {
	id      string
	event   []byte
	done    chan Result
	started time.Time
}

// Runtime is the double. Address is what AWS_LAMBDA_RUNTIME_API takes.
type Runtime struct {
	Address string
	FuncARN string
	Timeout time.Duration // an invocation's deadline (default 30 s)

	srv     *httptest.Server
	queue   chan *invocation
	mu      sync.Mutex
	pending map[string]*invocation
	seq     int
	// FirstPoll is when the function first asked for an invocation: its
	// init is done.
	firstPoll chan struct{}
	pollOnce  sync.Once
	initErr   chan []byte
	async     [][]byte
}

// AsyncEvents returns the events invoked asynchronously (Event type).
func (r *Runtime) AsyncEvents() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.async...)
}

// Start serves the double on a loopback port.
func Start() *Runtime {
	r := &Runtime{FuncARN: "arn:aws:lambda:us-east-1:123456789012:function:filegate", Timeout: 30 * time.Second,
		queue: make(chan *invocation, 64), pending: map[string]*invocation{}, firstPoll: make(chan struct{}), initErr: make(chan []byte, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", r.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", r.respond(false))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", r.respond(true))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		select {
		case r.initErr <- b:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"OK"}`)
	})
	// The Invoke API (POST /2015-03-31/functions/{name}/invocations): the
	// emulator's "function" name, or any other; X-Amz-Invocation-Type: Event
	// queues the invocation and answers 202 at once, as Lambda does.
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", func(w http.ResponseWriter, req *http.Request) {
		ev, _ := io.ReadAll(req.Body)
		if req.Header.Get("X-Amz-Invocation-Type") == "Event" {
			r.mu.Lock()
			r.async = append(r.async, ev)
			r.mu.Unlock()
			go func() { _, _ = r.Invoke(ev) }()
			w.WriteHeader(http.StatusAccepted)
			return
		}
		res, err := r.Invoke(ev)
		if err != nil {
			http.Error(w, err.Error(), http.StatusGatewayTimeout)
			return
		}
		if res.Error {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
		}
		_, _ = w.Write(res.Payload)
	})
	r.srv = httptest.NewServer(mux)
	r.Address = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// Close stops the double.
func (r *Runtime) Close() { r.srv.Close() }

// URL is the double's base URL (for the invoke endpoint).
func (r *Runtime) URL() string { return r.srv.URL }

// Ready waits until the function polls for its first invocation, and
// returns an init error document if the function reported one instead.
func (r *Runtime) Ready(timeout time.Duration) ([]byte, error) {
	select {
	case <-r.firstPoll:
		return nil, nil
	case b := <-r.initErr:
		return b, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("lambdatest: the function did not poll within %v", timeout)
	}
}

// Invoke queues an event and waits for the function's answer.
func (r *Runtime) Invoke(event []byte) (Result, error) {
	r.mu.Lock()
	r.seq++
	inv := &invocation{id: fmt.Sprintf("req-%06d", r.seq), event: event, done: make(chan Result, 1), started: time.Now()}
	r.pending[inv.id] = inv
	r.mu.Unlock()
	r.queue <- inv
	select {
	case res := <-inv.done:
		return res, nil
	case <-time.After(r.Timeout + 5*time.Second):
		return Result{}, fmt.Errorf("lambdatest: invocation %s timed out", inv.id)
	}
}

// InvokeJSON invokes with v marshalled and decodes the answer into out.
func (r *Runtime) InvokeJSON(v, out any) (Result, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Result{}, err
	}
	res, err := r.Invoke(b)
	if err != nil || res.Error || out == nil {
		return res, err
	}
	return res, json.Unmarshal(res.Payload, out)
}

func (r *Runtime) next(w http.ResponseWriter, req *http.Request) {
	r.pollOnce.Do(func() { close(r.firstPoll) })
	select {
	case inv := <-r.queue:
		deadline := time.Now().Add(r.Timeout)
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", r.FuncARN)
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-5e9f0c65-1de4d666d4dd26aced652b6c;Parent=53995c3f42cd8ad8;Sampled=1")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(inv.event)
	case <-req.Context().Done():
	}
}

func (r *Runtime) respond(isErr bool) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		id := req.PathValue("id")
		r.mu.Lock()
		inv, ok := r.pending[id]
		delete(r.pending, id)
		r.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}`)
			return
		}
		b, _ := io.ReadAll(req.Body)
		inv.done <- Result{Payload: b, Error: isErr, ErrorType: req.Header.Get("Lambda-Runtime-Function-Error-Type"),
			Streamed: req.Header.Get("Lambda-Runtime-Function-Response-Mode") == "streaming", Trailer: req.Trailer}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"OK"}`)
	}
}
