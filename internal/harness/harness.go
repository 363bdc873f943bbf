// Package harness is filegate's end-to-end test harness: it starts filegate
// (in the test process through cli.Run, or as a separate process) on port 0
// over a real store (the embedded store, or MinIO when present), makes
// tokens, sends requests (validated against openapi.yaml), and reads back
// what the store holds. Test binaries that use it call
// gateway.StandIn first thing in TestMain, and run main() when
// FILEGATE_TEST_AS_MAIN=1 (the separate-process form).
package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/datadir"
	"github.com/filegate/filegate/embedded"
	"github.com/filegate/filegate/internal/cli"
	"github.com/filegate/filegate/internal/serveproc"
	"github.com/filegate/filegate/storetest"
)

// env is one running filegate, started through cli.Run() exactly as main does.
type Env struct {
	T            *testing.T
	Name         string // "embedded" or "minio"
	Base         string // http://127.0.0.1:port
	Data         string
	Admin        string
	S3           *s3.Client
	Bucket       string
	Bundles      string
	Logs         *syncBuffer
	cancel       context.CancelFunc
	done         chan error
	router       routers.Router
	Extra        []string // flags used to start it, for restarts
	ExtraSecrets []string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// stores returns the store back-ends to run a test against: the embedded
// store always, and MinIO when a minio binary is on PATH.
func Stores(t *testing.T) []string {
	out := []string{"embedded"}
	if _, err := exec.LookPath("minio"); err == nil {
		out = append(out, "minio")
	}
	return out
}

// eachStore runs fn against a fresh filegate on every available store.
func EachStore(t *testing.T, fn func(t *testing.T, e *Env)) {
	for _, name := range Stores(t) {
		t.Run(name, func(t *testing.T) {
			fn(t, Start(t, name))
		})
	}
}

func Start(t *testing.T, storeName string, flags ...string) *Env {
	t.Helper()
	data := t.TempDir()
	e := &Env{T: t, Name: storeName, Data: data, Bucket: "filegate", Bundles: "filegate-bundles"}
	if storeName == "minio" {
		ep, user, pass := startMinio(t)
		flags = append(flags, "--endpoint", ep, "--bucket", e.Bucket, "--bundle-bucket", e.Bundles,
			"--access-key-id", user, "--secret-access-key", pass, "--region", "us-east-1", "--create-buckets")
	}
	e.Extra = flags
	e.launch()
	t.Cleanup(e.Stop)
	return e
}

func (e *Env) launch() {
	t := e.T
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	e.Logs = &syncBuffer{}
	e.done = make(chan error, 1)
	e.cancel = cancel
	args := append([]string{"filegate", "serve", "--listen", "127.0.0.1:0", "--data", e.Data}, e.Extra...)
	getenv := func(k string) string {
		if strings.HasPrefix(k, "AWS_ENDPOINT_URL") {
			return ""
		}
		return os.Getenv(k)
	}
	go func() {
		err := cli.Run(ctx, args, getenv, strings.NewReader(""), pw, e.Logs)
		pw.CloseWithError(fmt.Errorf("run returned: %v", err))
		e.done <- err
	}()
	deadline := time.AfterFunc(30*time.Second, func() { pr.CloseWithError(fmt.Errorf("timed out waiting for the listening line")) })
	base, token, err := serveproc.Scan(pr)
	deadline.Stop()
	if err != nil {
		t.Fatalf("filegate did not start: %v\nlogs:\n%s", err, e.Logs.String())
	}
	e.Base = base
	if token != "" {
		e.Admin = token
	}
	if e.Admin == "" {
		b, err := os.ReadFile(filepath.Join(e.Data, "admin.token"))
		switch {
		case err == nil:
			e.Admin = strings.TrimSpace(string(b))
		case flagValue(e.Extra, "--tokens") == "":
			t.Fatal(err)
		} // a shared token store bootstraps its admin token once, elsewhere
	}
	if e.Name != "external" {
		e.S3 = e.StoreClient()
	}
	e.router = newRouter(t, e.Base)
}

func (e *Env) Stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			e.T.Errorf("run returned %v", err)
		}
	case <-time.After(20 * time.Second):
		e.T.Error("filegate did not stop within 20s")
	}
	e.cancel = nil
	e.checkLogs()
	if e.T.Failed() {
		logs := e.Logs.String()
		if len(logs) > 6000 {
			logs = "..." + logs[len(logs)-6000:]
		}
		e.T.Logf("filegate logs:\n%s", logs)
	}
}

// restart stops filegate and starts it again on the same data directory.
func (e *Env) Restart() {
	e.Stop()
	e.launch()
}

// storeClient is an S3 client talking to the same store filegate uses,
// for seeding objects and checking what is stored.
func (e *Env) StoreClient() *s3.Client {
	var ep, ak, sk string
	if e.Name == "embedded" {
		sf := StoreFileOf(e.T, e.Data)
		ep, ak, sk = sf.Endpoint, sf.AccessKeyID, sf.SecretAccessKey
	} else {
		ep, ak, sk = flagValue(e.Extra, "--endpoint"), flagValue(e.Extra, "--access-key-id"), flagValue(e.Extra, "--secret-access-key")
	}
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(ep), Region: "us-east-1", UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(ak, sk, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func flagValue(flags []string, name string) string {
	for i := 0; i+1 < len(flags); i++ {
		if flags[i] == name {
			return flags[i+1]
		}
	}
	return ""
}

func (e *Env) Put(key string, body []byte) {
	e.T.Helper()
	_, err := e.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.Bucket, Key: &key, Body: bytes.NewReader(body)})
	if err != nil {
		e.T.Fatalf("seed %s: %v", key, err)
	}
}

// secrets returns every string that must never appear in a log line.
func (e *Env) secrets() []string {
	out := []string{e.Admin}
	if _, sec, ok := strings.Cut(strings.TrimPrefix(e.Admin, "fg_"), "_"); ok {
		out = append(out, sec)
	}
	if e.Name == "embedded" {
		sf, _ := datadir.ReadStoreFile(e.Data)
		out = append(out, sf.SecretAccessKey)
	} else {
		out = append(out, flagValue(e.Extra, "--secret-access-key"))
	}
	return out
}

// checkLogs fails the test if a log line holds a token, a secret key or a
// URL signature.
func (e *Env) checkLogs() {
	logs := e.Logs.String()
	for _, s := range append(e.secrets(), e.ExtraSecrets...) {
		if s != "" && strings.Contains(logs, s) {
			e.T.Errorf("logs contain a secret (%.6s...)", s)
		}
	}
	for _, s := range []string{"X-Amz-Signature", "x-amz-signature", "X-Amz-Credential", "Bearer fg_"} {
		if strings.Contains(logs, s) {
			e.T.Errorf("logs contain %q", s)
		}
	}
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r Response) JSON(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (r Response) Problem(t *testing.T) map[string]any {
	t.Helper()
	var p map[string]any
	r.JSON(t, &p)
	if r.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("content type %q, want application/problem+json", r.Header.Get("Content-Type"))
	}
	return p
}

// NoRedirect is an HTTP client that returns redirects instead of following them.
var NoRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}

// call sends a request to filegate with the given token ("" for none),
// validates request and Response against openapi.yaml, and returns the answer.
func (e *Env) Call(token, method, path string, body any) Response {
	e.T.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		raw, err = json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
	}
	ct := ""
	if raw != nil {
		ct = "application/json"
	}
	status, header, got := e.Raw(token, method, path, ct, raw)
	r := Response{Status: status, Header: header, Body: got}
	req, err := http.NewRequest(method, e.Base+path, nil)
	if err != nil {
		e.T.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	e.validate(req, raw, r)
	return r
}

// validate checks a Response against openapi.yaml. Requests that are
// deliberately malformed are not checked, only their answers.
func (e *Env) validate(req *http.Request, body []byte, r Response) {
	e.T.Helper()
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	find := req
	if rest, ok := strings.CutPrefix(req.URL.Path, "/v1/objects/"); ok && strings.Contains(rest, "/") {
		// OpenAPI path parameters cannot span segments; route a one-segment
		// stand-in (only the Response is validated).
		find = req.Clone(req.Context())
		find.URL.Path, find.URL.RawPath = "/v1/objects/key", ""
	}
	route, params, err := e.router.FindRoute(find)
	if err != nil {
		if r.Status == http.StatusNotFound || r.Status == http.StatusMethodNotAllowed || r.Status == http.StatusBadRequest {
			return // unknown routes and unclean paths are not in the spec by design
		}
		e.T.Errorf("%s %s: not in openapi.yaml: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: r.Status, Header: r.Header,
		Body:    io.NopCloser(bytes.NewReader(r.Body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		e.T.Errorf("%s %s → %d does not match openapi.yaml: %v\nbody: %s", req.Method, req.URL.Path, r.Status, err, r.Body)
	}
}

func newRouter(t *testing.T, base string) routers.Router {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(filegate.OpenAPI)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// token makes a token with the given actions and prefix through the CLI.
func (e *Env) Token(name, prefix string, ttl time.Duration, actions ...string) string {
	e.T.Helper()
	args := []string{"--allow", strings.Join(actions, ",")}
	if prefix != "" {
		args = append(args, "--prefix", prefix)
	}
	if ttl > 0 {
		args = append(args, "--ttl", ttl.String())
	}
	return e.TokenArgs(name, args...)
}

// tokenArgs makes a token with `token create --name name` and more flags.
func (e *Env) TokenArgs(name string, flags ...string) string {
	e.T.Helper()
	args := append([]string{"filegate", "token", "create", "--data", e.Data, "--name", name}, flags...)
	var out bytes.Buffer
	if err := cli.Run(context.Background(), args, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		e.T.Fatalf("token create: %v", err)
	}
	tok := strings.TrimSpace(out.String())
	if !strings.HasPrefix(tok, "fg_") || strings.Contains(tok, "\n") {
		e.T.Fatalf("token create printed %q, want the token alone", out.String())
	}
	e.ExtraSecrets = append(e.ExtraSecrets, tok)
	return tok
}

func startMinio(t *testing.T) (endpoint, user, pass string) {
	t.Helper()
	srv := storetest.StartMinio(t)
	return srv.Endpoint, srv.AccessKey, srv.SecretKey
}

func HTTPRequest(method, url, body, token string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, nil
}

// storeFileOf reads a data directory's store.json.
func StoreFileOf(t *testing.T, data string) datadir.StoreFile {
	t.Helper()
	sf, err := datadir.ReadStoreFile(data)
	if err != nil {
		t.Fatal(err)
	}
	return sf
}

func (e *Env) BundleDebris() (objects, uploads int) {
	e.T.Helper()
	ctx := context.Background()
	out, err := e.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &e.Bundles})
	if err != nil {
		e.T.Fatal(err)
	}
	for _, o := range out.Contents {
		if !strings.HasPrefix(*o.Key, ".filegate/") {
			objects++
		}
	}
	mu, err := e.S3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &e.Bundles})
	if err != nil {
		e.T.Fatal(err)
	}
	return objects, len(mu.Uploads)
}

// raw sends a request without the OpenAPI check (the seeds' shapes are not
// in openapi.yaml) and returns status, headers and body.
func (e *Env) Raw(token, method, path, contentType string, body []byte) (int, http.Header, []byte) {
	e.T.Helper()
	req, err := http.NewRequest(method, e.Base+path, bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := NoRedirect.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// storeSnapshot is every object in both buckets (key → sha256 of content),
// as the store's own listing shows them.
func (e *Env) StoreSnapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, b := range []string{e.Bucket, e.Bundles} {
		p := s3.NewListObjectsV2Paginator(e.S3, &s3.ListObjectsV2Input{Bucket: &b})
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				t.Fatalf("list %s: %v", b, err)
			}
			for _, o := range page.Contents {
				key := *o.Key
				got, err := e.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &b, Key: &key})
				sum := "unreadable"
				if err == nil {
					h := sha256.New()
					_, _ = io.Copy(h, got.Body)
					got.Body.Close()
					sum = hex.EncodeToString(h.Sum(nil))
				}
				out[b+"/"+key] = sum
			}
		}
	}
	return out
}

// diskSnapshot is every file below the embedded store's directory that is
// not inside alice's folder of either bucket (path → sha256 of content).
func (e *Env) DiskSnapshot(t *testing.T) map[string]string {
	t.Helper()
	root := filepath.Join(e.Data, "store")
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, b := range []string{e.Bucket, e.Bundles} {
			if rel == b+"/users/alice" || strings.HasPrefix(rel, b+"/users/alice/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if d.IsDir() {
			out[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func RandomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 42))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// send performs a presigned request with plain net/http.
func Send(t *testing.T, method, url string, header map[string]string, body []byte) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Content-Length" {
			continue // net/http sets it from the body
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (e *Env) Object(key string) ([]byte, *s3.HeadObjectOutput) {
	e.T.Helper()
	out, err := e.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.Bucket, Key: &key})
	if err != nil {
		return nil, nil
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	h, _ := e.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.Bucket, Key: &key})
	return b, h
}

func (e *Env) UploadsInProgress() int {
	e.T.Helper()
	out, err := e.S3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &e.Bucket})
	if err != nil {
		e.T.Fatal(err)
	}
	return len(out.Uploads)
}

func MustStatus(t *testing.T, r Response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body: %s", r.Status, want, r.Body)
	}
}

func Fetch(t *testing.T, rawURL string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func MustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// proc is filegate running as a real separate process (the test binary
// re-executed as main), so that signals can be sent to it.
type Proc struct {
	Cmd  *exec.Cmd
	Base string
	Data string
}

func StartProcess(t *testing.T, flags ...string) *Proc {
	t.Helper()
	return StartProcessIn(t, t.TempDir(), flags...)
}

// startProcessIn starts filegate on an existing data directory.
func StartProcessIn(t *testing.T, data string, flags ...string) *Proc {
	t.Helper()
	sp, err := serveproc.Start(context.Background(), os.Args[0], append([]string{"serve", "--listen", "127.0.0.1:0", "--data", data}, flags...),
		append(os.Environ(), "FILEGATE_TEST_AS_MAIN=1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Cmd.Process.Kill(); _ = sp.Cmd.Wait() })
	return &Proc{Cmd: sp.Cmd, Base: sp.Base, Data: data}
}

func (p *Proc) StoreEndpoint(t *testing.T) string {
	t.Helper()
	return StoreFileOf(t, p.Data).Endpoint
}

// storeChild returns the pid of the running embedded store process of
// filegate pid: a child marked as the store, not a zombie.
func StoreChild(t *testing.T, pid int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			for _, c := range strings.Fields(string(b)) {
				n, err := strconv.Atoi(c)
				if err != nil {
					continue
				}
				env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", n))
				if strings.Contains(string(env), embedded.ChildEnv+"=1") && ProcState(n) != "Z" {
					return n
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no store child process found")
	return 0
}

// procState is a process's state letter from /proc (R, S, T, Z, ...).
func ProcState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return string(b[i+2])
	}
	return ""
}

// client returns an S3 client for p's embedded store (store.json).
func (p *Proc) Client(t *testing.T) (*s3.Client, datadir.StoreFile) {
	t.Helper()
	sf := StoreFileOf(t, p.Data)
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(sf.Endpoint), Region: "us-east-1", UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(sf.AccessKeyID, sf.SecretAccessKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}), sf
}

func (p *Proc) AdminToken(t *testing.T) string {
	return strings.TrimSpace(string(MustRead(t, filepath.Join(p.Data, "admin.token"))))
}

// request sends a JSON request to p and returns the status and body.
func (p *Proc) Request(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := HTTPRequest(method, p.Base+path, body, p.AdminToken(t))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
