package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/filegate/filegate/internal/harness"
	"github.com/filegate/filegate/internal/lambdatest"
	"github.com/filegate/filegate/internal/motoserver"
)

// lambdaFn is filegate running as a Lambda function (the test binary as
// main, with AWS_LAMBDA_RUNTIME_API pointing at the Runtime API double).
type lambdaFn struct {
	rt       *lambdatest.Runtime
	initTime time.Duration
	stdout   *syncBuf
	logs     *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// startLambda runs filegate as a Lambda function over e's store and token
// file, with extra FILEGATE_* variables.
func startLambda(t *testing.T, e *harness.Env, extra ...string) *lambdaFn {
	t.Helper()
	rt := lambdatest.Start()
	t.Cleanup(rt.Close)
	sf := harness.StoreFileOf(t, e.Data)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "FILEGATE_TEST_AS_MAIN=1", "AWS_LAMBDA_RUNTIME_API="+rt.Address,
		"FILEGATE_DATA="+e.Data, "FILEGATE_ENDPOINT="+sf.Endpoint, "FILEGATE_BUCKET=filegate", "FILEGATE_BUNDLE_BUCKET=filegate-bundles",
		"FILEGATE_ACCESS_KEY_ID="+sf.AccessKeyID, "FILEGATE_SECRET_ACCESS_KEY="+sf.SecretAccessKey, "FILEGATE_REGION=us-east-1",
		"FILEGATE_SESSION_KEY="+base64.StdEncoding.EncodeToString(key), "AWS_LAMBDA_FUNCTION_NAME=filegate",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "AWS_REGION=us-east-1",
		// The Invoke API of async jobs goes to the double too; it checks no signature.
		"AWS_ENDPOINT_URL_LAMBDA="+rt.URL(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	cmd.Env = append(cmd.Env, extra...)
	logs := &syncBuf{}
	out := &syncBuf{}
	cmd.Stderr, cmd.Stdout = logs, out
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	initErr, err := rt.Ready(20 * time.Second)
	if err != nil || initErr != nil {
		t.Fatalf("the function did not start: %v %s\n%s", err, initErr, logs.Bytes())
	}
	return &lambdaFn{rt: rt, initTime: time.Since(t0), stdout: out, logs: logs}
}

// event loads an event from testdata (aws-lambda-go's test events).
func event(t *testing.T, name string) map[string]any {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(harness.MustRead(t, filepath.Join("testdata", "lambda", name)), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// httpEvent makes an API Gateway or Function URL event for a request.
func httpEvent(t *testing.T, kind, method, path, query, token, body string) map[string]any {
	t.Helper()
	headers := map[string]any{"content-type": "application/json", "host": "api.example.com"}
	if token != "" {
		headers["authorization"] = "Bearer " + token
	}
	switch kind {
	case "rest":
		ev := event(t, "apigw-request.json")
		ev["httpMethod"], ev["path"], ev["body"], ev["isBase64Encoded"] = method, path, body, false
		ev["headers"] = headers
		delete(ev, "multiValueHeaders")
		q := map[string]any{}
		for _, kv := range strings.Split(query, "&") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				q[k], _ = url.QueryUnescape(v) // REST APIs pass decoded values
			}
		}
		ev["queryStringParameters"] = q
		delete(ev, "multiValueQueryStringParameters")
		rc := ev["requestContext"].(map[string]any)
		delete(rc, "authorizer")
		return ev
	case "http", "url":
		name := "apigw-v2-request-no-authorizer.json"
		if kind == "url" {
			name = "lambda-urls-request.json"
		}
		ev := event(t, name)
		ev["rawPath"], ev["rawQueryString"], ev["body"], ev["isBase64Encoded"] = path, query, body, false
		ev["headers"] = headers
		delete(ev, "cookies")
		rc := ev["requestContext"].(map[string]any)
		rc["http"].(map[string]any)["method"] = method
		rc["http"].(map[string]any)["path"] = path
		delete(rc, "authorizer")
		return ev
	}
	t.Fatalf("kind %q", kind)
	return nil
}

type lambdaResponse struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

func (f *lambdaFn) call(t *testing.T, ev map[string]any) lambdaResponse {
	t.Helper()
	var r lambdaResponse
	res, err := f.rt.InvokeJSON(ev, &r)
	if err != nil || res.Error {
		t.Fatalf("invoke: %v %s", err, res.Payload)
	}
	return r
}

func TestLambdaServesTheAPI(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	e.Put("users/alice/a.txt", []byte("hello from lambda"))
	alice := e.Token("alice", "users/alice/", time.Hour, "list", "download", "bundle")
	fn := startLambda(t, e)
	t.Logf("init (exec to first poll): %v", fn.initTime)

	for _, kind := range []string{"rest", "http", "url"} {
		// A download grant the store honours.
		r := fn.call(t, httpEvent(t, kind, "POST", "/v1/downloads", "", alice, `{"key":"users/alice/a.txt"}`))
		if r.StatusCode != 200 {
			t.Fatalf("%s: %d %s", kind, r.StatusCode, r.Body)
		}
		var d struct {
			URL string `json:"url"`
		}
		if err := json.Unmarshal([]byte(r.Body), &d); err != nil {
			t.Fatal(err)
		}
		if st, body, _ := harness.Fetch(t, d.URL); st != 200 || string(body) != "hello from lambda" {
			t.Fatalf("%s: the grant gives %d %q", kind, st, body)
		}
		// A listing with a query string.
		r = fn.call(t, httpEvent(t, kind, "GET", "/v1/objects", "prefix=users%2Falice%2F&delimiter=%2F", alice, ""))
		if r.StatusCode != 200 || !strings.Contains(r.Body, `"key":"users/alice/a.txt"`) {
			t.Fatalf("%s list: %d %s", kind, r.StatusCode, r.Body)
		}
		// Refusals are problem documents.
		r = fn.call(t, httpEvent(t, kind, "POST", "/v1/downloads", "", "", `{"key":"users/alice/a.txt"}`))
		if r.StatusCode != 401 || !strings.Contains(r.Body, `"code":"missing_token"`) {
			t.Fatalf("%s without a token: %d %s", kind, r.StatusCode, r.Body)
		}
		r = fn.call(t, httpEvent(t, kind, "POST", "/v1/downloads", "", alice, `{"key":"users/bob/a.txt"}`))
		if r.StatusCode != 403 {
			t.Fatalf("%s outside the scope: %d %s", kind, r.StatusCode, r.Body)
		}
	}
	// The stream route answers with a stored bundle's link and a note.
	r := fn.call(t, httpEvent(t, "http", "POST", "/v1/bundles/stream", "", alice, `{"prefix":"users/alice/"}`))
	if r.StatusCode != 200 || !strings.Contains(r.Body, `"note":"responses here cannot stream`) || !strings.Contains(r.Body, `"url":"http`) {
		t.Fatalf("stream on Lambda: %d %s", r.StatusCode, r.Body)
	}
	// The redirect form keeps its Location.
	r = fn.call(t, httpEvent(t, "rest", "GET", "/v1/objects/users/alice/a.txt", "", alice, ""))
	if r.StatusCode != 302 || len(r.MultiValueHeaders["Location"]) != 1 {
		t.Fatalf("redirect: %d %v", r.StatusCode, r.MultiValueHeaders)
	}
	// Warm latency of a download grant, through the double.
	ev := httpEvent(t, "http", "POST", "/v1/downloads", "", alice, `{"key":"users/alice/a.txt"}`)
	var lat []time.Duration
	for range 50 {
		t0 := time.Now()
		if r := fn.call(t, ev); r.StatusCode != 200 {
			t.Fatal(r.Body)
		}
		lat = append(lat, time.Since(t0))
	}
	t.Logf("warm download grant through the Runtime API double: median %v", medianDuration(lat))
}

func medianDuration(v []time.Duration) time.Duration {
	s := append([]time.Duration(nil), v...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

func TestLambdaAuthorizer(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	e.Put("users/alice/a.txt", []byte("x"))
	alice := e.Token("alice", "users/alice/", time.Hour, "list", "download")
	short := e.Token("short", "users/alice/", time.Second, "download")
	revoked := e.Token("gone", "", 0, "download")
	authz := startLambda(t, e, "FILEGATE_LAMBDA_ROLE=authorizer")

	tokenEvent := func(tok string) map[string]any {
		ev := event(t, "apigw-custom-auth-request.json")
		ev["authorizationToken"] = "Bearer " + tok
		return ev
	}
	var pol struct {
		PrincipalID    string `json:"principalId"`
		PolicyDocument struct {
			Statement []struct {
				Action   any    `json:"Action"`
				Effect   string `json:"Effect"`
				Resource any    `json:"Resource"`
			} `json:"Statement"`
		} `json:"policyDocument"`
		Context map[string]any `json:"context"`
	}
	res, err := authz.rt.InvokeJSON(tokenEvent(alice), &pol)
	if err != nil || res.Error {
		t.Fatalf("TOKEN with a good token: %v %s", err, res.Payload)
	}
	st := pol.PolicyDocument.Statement
	if len(st) != 1 || st[0].Effect != "Allow" || !strings.HasSuffix(strings.Trim(strings.TrimSpace(jsonString(st[0].Resource)), `[]"`), "/*/*") {
		t.Fatalf("policy %s", res.Payload)
	}
	if pol.Context["fg_name"] != "alice" || pol.Context["fg_prefix"] != "users/alice/" || pol.Context["fg_actions"] != "download,list" {
		t.Fatalf("context %v", pol.Context)
	}
	time.Sleep(1100 * time.Millisecond) // the short token expires
	harness.MustStatus(t, e.Call(e.Admin, "GET", "/v1/whoami", nil), 200)
	if err := cliRevoke(e, "gone"); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"bad": "fg_0000000000000000_nope", "expired": short, "revoked": revoked, "empty": ""} {
		res, err := authz.rt.Invoke([]byte(mustJSON(t, tokenEvent(tok))))
		if err != nil || !res.Error || !strings.Contains(string(res.Payload), `"errorMessage":"Unauthorized"`) {
			t.Errorf("TOKEN %s: %v %s, want the Unauthorized error", name, err, res.Payload)
		}
	}
	// REQUEST authorizer: the token in the Authorization header.
	req := event(t, "apigw-custom-auth-request-type-request.json")
	req["headers"] = map[string]any{"Authorization": "Bearer " + alice}
	res, err = authz.rt.InvokeJSON(req, &pol)
	if err != nil || res.Error || pol.PolicyDocument.Statement[0].Effect != "Allow" {
		t.Fatalf("REQUEST: %v %s", err, res.Payload)
	}
	// HTTP API, payload 2.0: a simple response.
	v2 := event(t, "apigw-v2-custom-authorizer-v2-request.json")
	for tok, want := range map[string]bool{alice: true, short: false, "junk": false} {
		v2["headers"] = map[string]any{"authorization": "Bearer " + tok}
		var simple struct {
			IsAuthorized bool           `json:"isAuthorized"`
			Context      map[string]any `json:"context"`
		}
		if res, err := authz.rt.InvokeJSON(v2, &simple); err != nil || res.Error || simple.IsAuthorized != want {
			t.Errorf("HTTP API authorizer with %s…: %v %s, want %v", tok[:min(8, len(tok))], err, res.Payload, want)
		}
	}

	// The API function trusts the authorizer's context when told to.
	api := startLambda(t, e, "FILEGATE_TRUST_AUTHORIZER=1")
	ev := httpEvent(t, "http", "POST", "/v1/downloads", "", "", `{"key":"users/alice/a.txt"}`)
	ev["requestContext"].(map[string]any)["authorizer"] = map[string]any{"lambda": pol.Context}
	if r := api.call(t, ev); r.StatusCode != 200 {
		t.Fatalf("trusted context: %d %s", r.StatusCode, r.Body)
	}
	ev = httpEvent(t, "http", "POST", "/v1/downloads", "", "", `{"key":"users/bob/a.txt"}`)
	ev["requestContext"].(map[string]any)["authorizer"] = map[string]any{"lambda": pol.Context}
	if r := api.call(t, ev); r.StatusCode != 403 {
		t.Fatalf("trusted context outside its prefix: %d %s", r.StatusCode, r.Body)
	}
	expired := map[string]any{"fg_id": "x", "fg_name": "old", "fg_actions": "download", "fg_prefix": "", "fg_expires": "1000"}
	ev = httpEvent(t, "rest", "POST", "/v1/downloads", "", "", `{"key":"users/alice/a.txt"}`)
	ev["requestContext"].(map[string]any)["authorizer"] = expired
	if r := api.call(t, ev); r.StatusCode != 401 {
		t.Fatalf("an expired vouched principal: %d %s", r.StatusCode, r.Body)
	}
	// Without trust, a context alone is not enough.
	plain := startLambda(t, e)
	ev = httpEvent(t, "http", "POST", "/v1/downloads", "", "", `{"key":"users/alice/a.txt"}`)
	ev["requestContext"].(map[string]any)["authorizer"] = map[string]any{"lambda": pol.Context}
	if r := plain.call(t, ev); r.StatusCode != 401 {
		t.Fatalf("an untrusted context: %d %s", r.StatusCode, r.Body)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func cliRevoke(e *harness.Env, name string) error {
	cmd := exec.Command(os.Args[0], "token", "revoke", "--data", e.Data, name)
	cmd.Env = append(os.Environ(), "FILEGATE_TEST_AS_MAIN=1")
	return cmd.Run()
}

// TestLambdaContinuesTheXRayTrace: with OTEL_PROPAGATORS=xray (seed 001's
// setting), the trace API Gateway started (X-Amzn-Trace-Id) continues into
// filegate's spans and into its store calls, and spans are flushed before
// the invocation answers.
func TestLambdaContinuesTheXRayTrace(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	e.Put("users/alice/a.txt", []byte("x"))
	alice := e.Token("alice", "users/alice/", 0, "download")
	fn := startLambda(t, e, "OTEL_PROPAGATORS=xray", "OTEL_TRACES_EXPORTER=console")
	ev := httpEvent(t, "http", "POST", "/v1/downloads", "", alice, `{"key":"users/alice/a.txt"}`)
	ev["headers"].(map[string]any)["x-amzn-trace-id"] = "Root=1-5e9f0c65-1de4d666d4dd26aced652b6c;Parent=53995c3f42cd8ad8;Sampled=1"
	if r := fn.call(t, ev); r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Body)
	}
	const traceID = "5e9f0c651de4d666d4dd26aced652b6c"
	names := map[string]bool{}
	var store bool
	// The spans were written before the answer; the pipe from the child
	// may deliver them a moment later.
	for range 100 {
		dec := json.NewDecoder(bytes.NewReader(fn.stdout.Bytes()))
		for {
			var span struct {
				Name        string
				SpanContext struct{ TraceID string }
			}
			if err := dec.Decode(&span); err != nil {
				break
			}
			if span.SpanContext.TraceID == traceID {
				names[span.Name] = true
				store = store || strings.HasPrefix(span.Name, "S3.")
			}
		}
		if names["auth.Authenticate"] && store {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !names["auth.Authenticate"] || !store {
		t.Fatalf("spans in the X-Ray trace: %v (output %.1500s)\nlogs: %s", names, fn.stdout.Bytes(), fn.logs.Bytes())
	}
}

// TestLambdaAuthorizerSharedSecret is seed 001's mode: one shared secret
// in an SSM SecureString (served by moto_server) that the authorizer
// accepts, beside filegate's own tokens.
func TestLambdaAuthorizerSharedSecret(t *testing.T) {
	t.Parallel()
	moto := motoserver.Start(t)
	c := ssm.New(ssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto), Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	if _, err := c.PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String("/seed001/token"), Value: aws.String("s3cr3t-from-ssm"), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}
	e := harness.Start(t, "embedded")
	alice := e.Token("alice", "users/alice/", 0, "download")
	authz := startLambda(t, e, "FILEGATE_LAMBDA_ROLE=authorizer", "FILEGATE_SHARED_SECRET_SSM=/seed001/token",
		"AWS_ENDPOINT_URL_SSM="+moto, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing")
	for tok, want := range map[string]string{"s3cr3t-from-ssm": "download,list", alice: "download"} {
		ev := event(t, "apigw-custom-auth-request.json")
		ev["authorizationToken"] = "Bearer " + tok
		var pol struct {
			Context map[string]any `json:"context"`
		}
		if res, err := authz.rt.InvokeJSON(ev, &pol); err != nil || res.Error || pol.Context["fg_actions"] != want {
			t.Errorf("token %.6s…: %v %s, want actions %s", tok, err, res.Payload, want)
		}
	}
	ev := event(t, "apigw-custom-auth-request.json")
	ev["authorizationToken"] = "Bearer not-the-secret"
	if res, err := authz.rt.Invoke([]byte(mustJSON(t, ev))); err != nil || !res.Error {
		t.Fatalf("a wrong secret: %v %s", err, res.Payload)
	}
}

// TestLambdaInitError: a function that cannot start says why through the
// Runtime API's init error, as Lambda expects.
func TestLambdaInitError(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	rt := lambdatest.Start()
	t.Cleanup(rt.Close)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "FILEGATE_TEST_AS_MAIN=1", "AWS_LAMBDA_RUNTIME_API="+rt.Address, "FILEGATE_DATA="+e.Data, "FILEGATE_BUCKET=filegate")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	initErr, err := rt.Ready(20 * time.Second)
	if err != nil || !strings.Contains(string(initErr), "FILEGATE_SESSION_KEY must be set") || !strings.Contains(string(initErr), `"errorType":"InitError"`) {
		t.Fatalf("init error: %v %s", err, initErr)
	}
}

// TestLambdaAsyncBundleRunsInItsOwnInvocation: on Lambda, an accepted async
// bundle runs in an asynchronous invocation of the function (Invoke API,
// Event type), not after the answer, and completes there.
func TestLambdaAsyncBundleRunsInItsOwnInvocation(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	for i := range 5 {
		e.Put(fmt.Sprintf("users/alice/%d.bin", i), harness.RandomBytes(1<<20))
	}
	alice := e.Token("alice", "users/alice/", 0, "list", "download", "bundle")
	fn := startLambda(t, e)
	r := fn.call(t, httpEvent(t, "http", "POST", "/v1/bundles", "", alice, `{"prefix":"users/alice/","async":true}`))
	if r.StatusCode != 202 {
		t.Fatalf("async bundle: %d %s", r.StatusCode, r.Body)
	}
	var job struct {
		ID    string `json:"id"`
		State string `json:"state"`
		URL   string `json:"url"`
	}
	if err := json.Unmarshal([]byte(r.Body), &job); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for job.State != "done" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		r = fn.call(t, httpEvent(t, "http", "GET", "/v1/bundles/"+job.ID, "", alice, ""))
		if err := json.Unmarshal([]byte(r.Body), &job); err != nil {
			t.Fatal(err)
		}
	}
	if job.State != "done" || job.URL == "" {
		t.Fatalf("job %+v", job)
	}
	async := fn.rt.AsyncEvents()
	if len(async) != 1 || !strings.Contains(string(async[0]), `"filegate_job":"`+job.ID+`"`) {
		t.Fatalf("async invocations: %q", async)
	}
	if st, body, _ := harness.Fetch(t, job.URL); st != 200 || !bytes.HasPrefix(body, []byte("PK")) {
		t.Fatalf("the bundle link: %d", st)
	}
}

// TestLambdaFunctionURLStreaming: with FILEGATE_LAMBDA_STREAMING=1 (a
// Function URL in RESPONSE_STREAM mode) a zip larger than the 6 MB of a
// buffered answer streams through the Runtime API's streaming protocol.
func TestLambdaFunctionURLStreaming(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	for i := range 8 {
		e.Put(fmt.Sprintf("users/alice/%d.bin", i), harness.RandomBytes(1<<20))
	}
	alice := e.Token("alice", "users/alice/", 0, "list", "download", "bundle")
	fn := startLambda(t, e, "FILEGATE_LAMBDA_STREAMING=1")
	res, err := fn.rt.Invoke([]byte(mustJSON(t, httpEvent(t, "url", "POST", "/v1/bundles/stream", "", alice, `{"prefix":"users/alice/","compression":"store"}`))))
	if err != nil || res.Error || !res.Streamed {
		t.Fatalf("stream: %v error=%v streamed=%v %.300s", err, res.Error, res.Streamed, res.Payload)
	}
	i := bytes.Index(res.Payload, make([]byte, 8))
	if i < 0 {
		t.Fatalf("no prelude separator in %.200q", res.Payload)
	}
	var prelude struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(res.Payload[:i], &prelude); err != nil || prelude.StatusCode != 200 || prelude.Headers["Content-Type"] != "application/zip" {
		t.Fatalf("prelude %s: %v", res.Payload[:i], err)
	}
	body := res.Payload[i+8:]
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil || len(zr.File) != 8 || len(body) < 8<<20 {
		t.Fatalf("streamed zip: %d bytes, %v", len(body), err)
	}
	if res.Trailer.Get("Lambda-Runtime-Function-Error-Type") != "" {
		t.Fatalf("error trailer on a good stream: %v", res.Trailer)
	}
	// Other events are refused by a streaming function.
	if res, err := fn.rt.Invoke([]byte(mustJSON(t, httpEvent(t, "http", "GET", "/v1/whoami", "", alice, "")))); err != nil || !res.Error {
		t.Fatalf("an HTTP API event on a streaming function: %v %s", err, res.Payload)
	}
}

// TestLambdaWithTokensInTheBucket is the template's setup: tokens in an
// s3:// document, no writable data directory (Lambda's code directory is
// read-only), for the API function and the authorizer alike.
func TestLambdaWithTokensInTheBucket(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	e.Put("users/alice/a.txt", []byte("from the bucket's tokens"))
	sf := harness.StoreFileOf(t, e.Data)
	spec := "s3://filegate-bundles/.filegate/tokens.json"
	storeFlags := []string{"--tokens", spec, "--endpoint", sf.Endpoint, "--access-key-id", sf.AccessKeyID, "--secret-access-key", sf.SecretAccessKey, "--region", "us-east-1"}
	tok := tokensCLI(t, storeFlags, "create", "--name", "alice", "--prefix", "users/alice/", "--allow", "download")
	readOnly := "FILEGATE_DATA=/proc/filegate-has-no-data-here"
	api := startLambda(t, e, "FILEGATE_TOKENS="+spec, readOnly)
	r := api.call(t, httpEvent(t, "http", "POST", "/v1/downloads", "", tok, `{"key":"users/alice/a.txt"}`))
	if r.StatusCode != 200 {
		t.Fatalf("API with bucket tokens: %d %s", r.StatusCode, r.Body)
	}
	authz := startLambda(t, e, "FILEGATE_LAMBDA_ROLE=authorizer", "FILEGATE_TOKENS="+spec, readOnly)
	ev := event(t, "apigw-custom-auth-request.json")
	ev["authorizationToken"] = "Bearer " + tok
	if res, err := authz.rt.Invoke([]byte(mustJSON(t, ev))); err != nil || res.Error || !strings.Contains(string(res.Payload), `"Effect":"Allow"`) {
		t.Fatalf("authorizer with bucket tokens: %v %s", err, res.Payload)
	}
}
