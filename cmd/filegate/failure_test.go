package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/filegate/filegate/datadir"
	"github.com/filegate/filegate/embedded"
	"github.com/filegate/filegate/internal/cli"
)

// storeChild returns the pid of the running embedded store process of
// filegate pid: a child marked as the store, not a zombie.
func storeChild(t *testing.T, pid int) int {
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
				if strings.Contains(string(env), embedded.ChildEnv+"=1") && procState(n) != "Z" {
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
func procState(pid int) string {
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
func (p *proc) client(t *testing.T) (*s3.Client, datadir.StoreFile) {
	t.Helper()
	sf := storeFileOf(t, p.data)
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(sf.Endpoint), Region: "us-east-1", UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(sf.AccessKeyID, sf.SecretAccessKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}), sf
}

func (p *proc) admin(t *testing.T) string {
	return strings.TrimSpace(string(mustRead(t, filepath.Join(p.data, "admin.token"))))
}

// request sends a JSON request to p and returns the status and body.
func (p *proc) request(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := httpRequest(method, p.base+path, body, p.admin(t))
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

// TestStuckStoreGives503: with the store process stopped (SIGSTOP), every
// request that needs it answers 503 within a few seconds instead of hanging.
func TestStuckStoreGives503(t *testing.T) {
	p := startProcess(t, "--store-timeout", "2s")
	c, _ := p.client(t)
	b := "filegate"
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &b, Key: aws.String("a.txt"), Body: strings.NewReader("a")}); err != nil {
		t.Fatal(err)
	}
	child := storeChild(t, p.cmd.Process.Pid)
	if err := syscall.Kill(child, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(child, syscall.SIGCONT)
	for procState(child) != "T" {
		time.Sleep(5 * time.Millisecond)
	}
	for _, r := range [][3]string{
		{"POST", "/v1/downloads", `{"key":"a.txt"}`},
		{"GET", "/v1/objects", ""},
		{"GET", "/readyz", ""},
		{"POST", "/v1/bundles", `{"keys":["a.txt"]}`},
	} {
		began := time.Now()
		status, body := p.request(t, r[0], r[1], r[2])
		took := time.Since(began)
		if status != 503 || took > 8*time.Second {
			t.Errorf("%s %s with the store stopped: %d after %v: %s", r[0], r[1], status, took.Round(time.Millisecond), body)
		}
	}
	syscall.Kill(child, syscall.SIGCONT)
	if status, body := p.request(t, "POST", "/v1/downloads", `{"key":"a.txt"}`); status != 200 {
		t.Errorf("after SIGCONT: %d %s", status, body)
	}
}

// TestEmbeddedStoreIsRestarted: a store process that dies is started again
// on the same port, /readyz says 503 meanwhile, and a link handed out
// before works after the store's restart and after filegate's own.
func TestEmbeddedStoreIsRestarted(t *testing.T) {
	p := startProcess(t)
	c, sf := p.client(t)
	b := "filegate"
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &b, Key: aws.String("a.txt"), Body: strings.NewReader("kept")}); err != nil {
		t.Fatal(err)
	}
	status, body := p.request(t, "POST", "/v1/downloads", `{"key":"a.txt","expires_in":600}`)
	if status != 200 {
		t.Fatalf("grant: %d %s", status, body)
	}
	var g struct {
		URL string `json:"url"`
	}
	json.Unmarshal([]byte(body), &g)
	child := storeChild(t, p.cmd.Process.Pid)
	syscall.Kill(child, syscall.SIGKILL)
	sawDown := false
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, _ := p.request(t, "GET", "/readyz", "")
		if st == 503 {
			sawDown = true
		}
		if st == 200 && storeChild(t, p.cmd.Process.Pid) != child {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the embedded store was not restarted within 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("store restarted; /readyz reported 503 while it was down: %v", sawDown)
	if _, sf2 := p.client(t); sf2.Endpoint != sf.Endpoint {
		t.Errorf("store endpoint moved from %s to %s", sf.Endpoint, sf2.Endpoint)
	}
	if st, got, _ := fetch(t, g.URL); st != 200 || string(got) != "kept" {
		t.Errorf("a link from before the store's restart: %d %q", st, got)
	}
	// filegate itself restarted on the same data directory.
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	p2 := startProcessIn(t, p.data)
	if _, sf3 := p2.client(t); sf3.Endpoint != sf.Endpoint {
		t.Errorf("after filegate's restart the store endpoint moved from %s to %s", sf.Endpoint, sf3.Endpoint)
	}
	if st, got, _ := fetch(t, g.URL); st != 200 || string(got) != "kept" {
		t.Errorf("a link from before filegate's restart: %d %q", st, got)
	}
}

// TestTransientStoreErrorsAreRetried puts a proxy between filegate and the
// store that answers the first request for every path (each object's HEAD
// and GET, the listing, the bundle's own multipart calls) with 503
// SlowDown: existence checks and a 120-entry bundle still succeed.
func TestTransientStoreErrorsAreRetried(t *testing.T) {
	backend := start(t, "embedded")
	for i := range 120 {
		backend.put(fmt.Sprintf("many/%03d.txt", i), []byte(fmt.Sprintf("object %d", i)))
	}
	sf := storeFileOf(t, backend.data)
	target, _ := url.Parse(sf.Endpoint)
	var n, injected atomic.Int64
	var mu sync.Mutex
	seen := map[string]bool{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // the signature covers the host the client used
	}}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		mu.Lock()
		first := !seen[r.Method+" "+r.URL.Path]
		seen[r.Method+" "+r.URL.Path] = true
		mu.Unlock()
		if first {
			injected.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(503)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	e := start(t, "external", "--endpoint", proxy.URL, "--bucket", "filegate", "--bundle-bucket", "filegate-bundles",
		"--access-key-id", sf.AccessKeyID, "--secret-access-key", sf.SecretAccessKey, "--region", "us-east-1")
	for i := range 5 {
		r := e.call(e.admin, "POST", "/v1/downloads", map[string]any{"key": fmt.Sprintf("many/%03d.txt", i)})
		mustStatus(t, r, 200)
	}
	r := e.call(e.admin, "POST", "/v1/bundles", map[string]any{"prefix": "many/"})
	mustStatus(t, r, 200)
	var res struct {
		URL     string `json:"url"`
		Entries int    `json:"entries"`
	}
	r.json(t, &res)
	// The link points at the proxy too; fetch until it passes.
	var zipBytes []byte
	for range 5 {
		st, got, _ := fetch(t, res.URL)
		if st == 200 {
			zipBytes = got
			break
		}
	}
	files, _, _ := readZip(t, zipBytes)
	if res.Entries != 120 || len(files) != 120 || string(files["many/007.txt"]) != "object 7" && string(files["007.txt"]) != "object 7" {
		t.Errorf("bundle through a flaky store: %d entries, %d files", res.Entries, len(files))
	}
	if injected.Load() < 120 {
		t.Errorf("only %d 503s were injected", injected.Load())
	}
	t.Logf("%d requests, %d answered 503 by the proxy", n.Load(), injected.Load())
}

// TestSweepAfterKillMidBundle: filegate killed with SIGKILL while a bundle
// streams into a multipart upload leaves that upload behind; after a
// restart the sweeper aborts it.
func TestSweepAfterKillMidBundle(t *testing.T) {
	p := startProcess(t)
	c, _ := p.client(t)
	src, dst := "filegate", "filegate-bundles"
	for i := range 8 {
		body := testBytes(16 << 20)
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &src, Key: aws.String(fmt.Sprintf("big/%d.bin", i)), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		req, _ := httpRequest("POST", p.base+"/v1/bundles", `{"prefix":"big/","compression":"store"}`, p.admin(t))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	uploads := func() int {
		out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &dst})
		if err != nil {
			return -1
		}
		return len(out.Uploads)
	}
	deadline := time.Now().Add(20 * time.Second)
	for uploads() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the bundle's multipart upload never appeared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p2 := startProcessIn(t, p.data, "--sweep-after", "1s")
	c2, _ := p2.client(t)
	c = c2
	if n := uploads(); n < 1 {
		t.Fatalf("after kill -9 the bundle bucket holds %d multipart uploads; the test needs the orphan", n)
	}
	deadline = time.Now().Add(15 * time.Second)
	for uploads() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the sweeper left %d multipart uploads in the bundle bucket", uploads())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAdminListsAndAbortsAnySession: an admin lists every upload in
// progress and aborts one whose token was revoked; others may not.
func TestAdminListsAndAbortsAnySession(t *testing.T) {
	e := multipartEnv(t, "embedded")
	alice := e.token("alice", "users/alice/", 0, "upload")
	u := startMultipart(t, e, alice, "users/alice/big.bin", testBytes(11<<20))
	mustStatus(t, e.call(alice, "GET", "/v1/admin/uploads", nil), 403)
	var out bytes.Buffer
	if err := cli.Run(t.Context(), []string{"filegate", "token", "revoke", "--data", e.data, "alice"}, func(string) string { return "" }, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, e.call(alice, "GET", "/v1/uploads/"+u.UploadID, nil), 401)
	r := e.call(e.admin, "GET", "/v1/admin/uploads?prefix=users/", nil)
	mustStatus(t, r, 200)
	var list struct {
		Uploads []struct {
			Key      string `json:"key"`
			UploadID string `json:"upload_id"`
		} `json:"uploads"`
	}
	r.json(t, &list)
	if len(list.Uploads) != 1 || list.Uploads[0].Key != "users/alice/big.bin" {
		t.Fatalf("admin list: %s", r.body)
	}
	q := url.Values{"key": {list.Uploads[0].Key}, "upload_id": {list.Uploads[0].UploadID}}
	mustStatus(t, e.call(e.admin, "DELETE", "/v1/admin/uploads?"+q.Encode(), nil), 204)
	mustStatus(t, e.call(e.admin, "DELETE", "/v1/admin/uploads?"+q.Encode(), nil), 404)
	if n := e.uploadsInProgress(); n != 0 {
		t.Errorf("%d uploads left after the admin abort", n)
	}
}
