package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Handler answers one invocation's event.
type Handler func(ctx context.Context, event json.RawMessage) (any, error)

// Serve runs the Lambda Runtime API loop (docs.aws.amazon.com/lambda/latest/
// dg/runtimes-api.html) against api (the host:port of
// AWS_LAMBDA_RUNTIME_API) until ctx ends: it takes the next invocation,
// calls h with a context carrying the invocation's deadline, request id,
// ARN (lambdacontext) and X-Ray trace id, and posts the answer or the
// error.
//
// Written here rather than with aws-lambda-go's lambda.Start: that package
// links net/rpc for the retired go1.x runtime unless built with
// -tags lambda.norpc, and net/rpc's reflection keeps every exported method
// of every reachable type, every S3 and SSM operation included: +15 MB on
// `go build ./cmd/filegate`, which is also the Lambda build. The loop is a
// few documented HTTP calls; the event and context types still come from
// aws-lambda-go.
func Serve(ctx context.Context, api string, h Handler) error {
	base := "http://" + api + "/2018-06-01/runtime"
	client := &http.Client{} // no timeout: /next blocks until an invocation comes
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/invocation/next", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("lambda runtime: next: %w", err)
		}
		event, err := io.ReadAll(io.LimitReader(resp.Body, 7<<20))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("lambda runtime: next: status %d: %v", resp.StatusCode, err)
		}
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		out, herr := invoke(ctx, resp.Header, event, h)
		if errors.Is(herr, errStreamed) {
			continue // the answer was streamed to the runtime already
		}
		if herr != nil {
			body, _ := json.Marshal(map[string]string{"errorMessage": herr.Error(), "errorType": errorType(herr)})
			if err := post(ctx, client, base+"/invocation/"+id+"/error", body, errorType(herr)); err != nil {
				return err
			}
			continue
		}
		body, err := json.Marshal(out)
		if err != nil {
			body, _ = json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "MarshalError"})
			if err := post(ctx, client, base+"/invocation/"+id+"/error", body, "MarshalError"); err != nil {
				return err
			}
			continue
		}
		if err := post(ctx, client, base+"/invocation/"+id+"/response", body, ""); err != nil {
			return err
		}
	}
	return nil
}

// InitError reports a failed start to the Runtime API, as Lambda expects
// before the process exits.
func InitError(api string, cause error) {
	body, _ := json.Marshal(map[string]string{"errorMessage": cause.Error(), "errorType": "InitError"})
	_ = post(context.Background(), http.DefaultClient, "http://"+api+"/2018-06-01/runtime/init/error", body, "InitError")
}

func invoke(ctx context.Context, h http.Header, event []byte, fn Handler) (out any, err error) {
	if ms, perr := strconv.ParseInt(h.Get("Lambda-Runtime-Deadline-Ms"), 10, 64); perr == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.UnixMilli(ms))
		defer cancel()
	}
	ctx = context.WithValue(ctx, requestIDKey{}, h.Get("Lambda-Runtime-Aws-Request-Id"))
	lc := &lambdacontext.LambdaContext{AwsRequestID: h.Get("Lambda-Runtime-Aws-Request-Id"), InvokedFunctionArn: h.Get("Lambda-Runtime-Invoked-Function-Arn")}
	ctx = lambdacontext.NewContext(ctx, lc)
	if trace := h.Get("Lambda-Runtime-Trace-Id"); trace != "" {
		ctx = context.WithValue(ctx, traceKey{}, trace)
		_ = os.Setenv("_X_AMZN_TRACE_ID", trace) // what X-Ray SDKs read
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return fn(ctx, event)
}

type traceKey struct{}

// TraceID is the X-Ray trace header of the invocation behind ctx.
func TraceID(ctx context.Context) string {
	s, _ := ctx.Value(traceKey{}).(string)
	return s
}

func errorType(err error) string {
	if u := errors.Unwrap(err); u != nil {
		err = u
	}
	t := strings.TrimPrefix(fmt.Sprintf("%T", err), "*")
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		t = t[i+1:]
	}
	return t
}

func post(ctx context.Context, c *http.Client, url string, body []byte, errType string) error {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if errType != "" {
		req.Header.Set("Lambda-Runtime-Function-Error-Type", errType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("lambda runtime: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("lambda runtime: %s: status %d", url, resp.StatusCode)
	}
	return nil
}
