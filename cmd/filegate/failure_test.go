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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/filegate/filegate/internal/cli"
	"github.com/filegate/filegate/internal/harness"
)

// TestStuckStoreGives503: with the store process stopped (SIGSTOP), every
// request that needs it answers 503 within a few seconds instead of hanging.
func TestStuckStoreGives503(t *testing.T) {
	t.Parallel() // waits on timeouts and backoff, not on the CPU
	p := harness.StartProcess(t, "--store-timeout", "1s")
	c, _ := p.Client(t)
	b := "filegate"
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &b, Key: aws.String("a.txt"), Body: strings.NewReader("a")}); err != nil {
		t.Fatal(err)
	}
	child := harness.StoreChild(t, p.Cmd.Process.Pid)
	if err := syscall.Kill(child, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(child, syscall.SIGCONT)
	for harness.ProcState(child) != "T" {
		time.Sleep(5 * time.Millisecond)
	}
	for _, r := range [][3]string{
		{"POST", "/v1/downloads", `{"key":"a.txt"}`},
		{"GET", "/v1/objects", ""},
		{"GET", "/readyz", ""},
		{"POST", "/v1/bundles", `{"keys":["a.txt"]}`},
	} {
		began := time.Now()
		status, body := p.Request(t, r[0], r[1], r[2])
		took := time.Since(began)
		if status != 503 || took > 5*time.Second {
			t.Errorf("%s %s with the store stopped: %d after %v: %s", r[0], r[1], status, took.Round(time.Millisecond), body)
		}
	}
	syscall.Kill(child, syscall.SIGCONT)
	if status, body := p.Request(t, "POST", "/v1/downloads", `{"key":"a.txt"}`); status != 200 {
		t.Errorf("after SIGCONT: %d %s", status, body)
	}
}

// TestEmbeddedStoreIsRestarted: a store process that dies is started again
// on the same port, /readyz says 503 meanwhile, and a link handed out
// before works after the store's restart and after filegate's own.
func TestEmbeddedStoreIsRestarted(t *testing.T) {
	t.Parallel() // waits on timeouts and backoff, not on the CPU
	p := harness.StartProcess(t)
	c, sf := p.Client(t)
	b := "filegate"
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &b, Key: aws.String("a.txt"), Body: strings.NewReader("kept")}); err != nil {
		t.Fatal(err)
	}
	status, body := p.Request(t, "POST", "/v1/downloads", `{"key":"a.txt","expires_in":600}`)
	if status != 200 {
		t.Fatalf("grant: %d %s", status, body)
	}
	var g struct {
		URL string `json:"url"`
	}
	json.Unmarshal([]byte(body), &g)
	child := harness.StoreChild(t, p.Cmd.Process.Pid)
	syscall.Kill(child, syscall.SIGKILL)
	sawDown := false
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, _ := p.Request(t, "GET", "/readyz", "")
		if st == 503 {
			sawDown = true
		}
		if st == 200 && harness.StoreChild(t, p.Cmd.Process.Pid) != child {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the embedded store was not restarted within 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("store restarted; /readyz reported 503 while it was down: %v", sawDown)
	if _, sf2 := p.Client(t); sf2.Endpoint != sf.Endpoint {
		t.Errorf("store endpoint moved from %s to %s", sf.Endpoint, sf2.Endpoint)
	}
	if st, got, _ := harness.Fetch(t, g.URL); st != 200 || string(got) != "kept" {
		t.Errorf("a link from before the store's restart: %d %q", st, got)
	}
	// filegate itself restarted on the same data directory.
	p.Cmd.Process.Signal(syscall.SIGTERM)
	p.Cmd.Wait()
	p2 := harness.StartProcessIn(t, p.Data)
	if _, sf3 := p2.Client(t); sf3.Endpoint != sf.Endpoint {
		t.Errorf("after filegate's restart the store endpoint moved from %s to %s", sf.Endpoint, sf3.Endpoint)
	}
	if st, got, _ := harness.Fetch(t, g.URL); st != 200 || string(got) != "kept" {
		t.Errorf("a link from before filegate's restart: %d %q", st, got)
	}
}

// TestTransientStoreErrorsAreRetried puts a proxy between filegate and the
// store that answers the first request for every path (each object's HEAD
// and GET, the listing, the bundle's own multipart calls) with 503
// SlowDown: existence checks and a 60-entry bundle still succeed.
func TestTransientStoreErrorsAreRetried(t *testing.T) {
	t.Parallel() // waits on timeouts and backoff, not on the CPU
	backend := harness.Start(t, "embedded")
	for i := range 60 {
		backend.Put(fmt.Sprintf("many/%03d.txt", i), []byte(fmt.Sprintf("object %d", i)))
	}
	sf := harness.StoreFileOf(t, backend.Data)
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
	e := harness.Start(t, "external", "--endpoint", proxy.URL, "--bucket", "filegate", "--bundle-bucket", "filegate-bundles",
		"--access-key-id", sf.AccessKeyID, "--secret-access-key", sf.SecretAccessKey, "--region", "us-east-1")
	for i := range 2 {
		r := e.Call(e.Admin, "POST", "/v1/downloads", map[string]any{"key": fmt.Sprintf("many/%03d.txt", i)})
		harness.MustStatus(t, r, 200)
	}
	r := e.Call(e.Admin, "POST", "/v1/bundles", map[string]any{"prefix": "many/"})
	harness.MustStatus(t, r, 200)
	var res struct {
		URL     string `json:"url"`
		Entries int    `json:"entries"`
	}
	r.JSON(t, &res)
	// The link points at the proxy too; fetch until it passes.
	var zipBytes []byte
	for range 5 {
		st, got, _ := harness.Fetch(t, res.URL)
		if st == 200 {
			zipBytes = got
			break
		}
	}
	files, _, _ := readZip(t, zipBytes)
	if res.Entries != 60 || len(files) != 60 || string(files["many/007.txt"]) != "object 7" && string(files["007.txt"]) != "object 7" {
		t.Errorf("bundle through a flaky store: %d entries, %d files", res.Entries, len(files))
	}
	if injected.Load() < 60 {
		t.Errorf("only %d 503s were injected", injected.Load())
	}
	t.Logf("%d requests, %d answered 503 by the proxy", n.Load(), injected.Load())
}

// TestSweepAfterKillMidBundle: filegate killed with SIGKILL while a bundle
// streams into a multipart upload leaves that upload behind; after a
// restart the sweeper aborts it.
func TestSweepAfterKillMidBundle(t *testing.T) {
	t.Parallel() // waits on timeouts and backoff, not on the CPU
	// Multipart uploads leave debris; streamed PUTs do not (below).
	p := harness.StartProcess(t, "--bundle-stream-max", "0")
	c, _ := p.Client(t)
	dst := "filegate-bundles"
	startBigBundle(t, p, c)
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
	p.Cmd.Process.Kill()
	p.Cmd.Wait()
	// Long enough that the orphan is still there when first looked at
	// (a restart under the race detector takes seconds), short enough to wait.
	p2 := harness.StartProcessIn(t, p.Data, "--sweep-after", "8s")
	c2, _ := p2.Client(t)
	c = c2
	if n := uploads(); n < 1 {
		t.Fatalf("after kill -9 the bundle bucket holds %d multipart uploads; the test needs the orphan", n)
	}
	deadline = time.Now().Add(40 * time.Second)
	for uploads() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the sweeper left %d multipart uploads in the bundle bucket", uploads())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startBigBundle stores 8 objects of 16 MiB under big/ and asks for their
// bundle in the background (the caller kills the server mid-way).
func startBigBundle(t *testing.T, p *harness.Proc, c *s3.Client) {
	t.Helper()
	src := "filegate"
	for i := range 8 {
		body := harness.RandomBytes(16 << 20)
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &src, Key: aws.String(fmt.Sprintf("big/%d.bin", i)), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		req, _ := harness.HTTPRequest("POST", p.Base+"/v1/bundles", `{"prefix":"big/","compression":"store"}`, p.AdminToken(t))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
}

// TestKillMidStreamedBundleLeavesNothing: kill -9 while a bundle streams
// into its one PUT leaves no object and no upload in the bundle bucket.
func TestKillMidStreamedBundleLeavesNothing(t *testing.T) {
	t.Parallel()
	p := harness.StartProcess(t)
	c, _ := p.Client(t)
	dst := "filegate-bundles"
	startBigBundle(t, p, c)
	// An entry written means the PUT has begun and taken at least 8 MiB
	// (the stream's buffer) of the first 16 MiB entry.
	entries := func() float64 {
		resp, err := http.Get(p.Base + "/metrics")
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "filegate_bundle_entries_total "); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return n
			}
		}
		return 0
	}
	deadline := time.Now().Add(20 * time.Second)
	for entries() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no entry of the bundle was ever written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := entries(); n >= 8 {
		t.Fatalf("the bundle was written whole (%v entries) before the kill; the test needs it cut", n)
	}
	p.Cmd.Process.Kill()
	p.Cmd.Wait()
	p2 := harness.StartProcessIn(t, p.Data)
	c2, _ := p2.Client(t)
	objs, err := c2.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &dst})
	if err != nil {
		t.Fatal(err)
	}
	ups, err := c2.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &dst})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Contents) != 0 || len(ups.Uploads) != 0 {
		t.Fatalf("after kill -9 mid-PUT the bundle bucket holds %d objects and %d uploads", len(objs.Contents), len(ups.Uploads))
	}
}

// TestAdminListsAndAbortsAnySession: an admin lists every upload in
// progress and aborts one whose token was revoked; others may not.
func TestAdminListsAndAbortsAnySession(t *testing.T) {
	t.Parallel()
	e := multipartEnv(t, "embedded")
	alice := e.Token("alice", "users/alice/", 0, "upload")
	u := startMultipart(t, e, alice, "users/alice/big.bin", harness.RandomBytes(11<<20))
	harness.MustStatus(t, e.Call(alice, "GET", "/v1/admin/uploads", nil), 403)
	var out bytes.Buffer
	if err := cli.Run(t.Context(), []string{"filegate", "token", "revoke", "--data", e.Data, "alice"}, func(string) string { return "" }, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	harness.MustStatus(t, e.Call(alice, "GET", "/v1/uploads/"+u.UploadID, nil), 401)
	r := e.Call(e.Admin, "GET", "/v1/admin/uploads?prefix=users/", nil)
	harness.MustStatus(t, r, 200)
	var list struct {
		Uploads []struct {
			Key      string `json:"key"`
			UploadID string `json:"upload_id"`
		} `json:"uploads"`
	}
	r.JSON(t, &list)
	if len(list.Uploads) != 1 || list.Uploads[0].Key != "users/alice/big.bin" {
		t.Fatalf("admin list: %s", r.Body)
	}
	q := url.Values{"key": {list.Uploads[0].Key}, "upload_id": {list.Uploads[0].UploadID}}
	harness.MustStatus(t, e.Call(e.Admin, "DELETE", "/v1/admin/uploads?"+q.Encode(), nil), 204)
	harness.MustStatus(t, e.Call(e.Admin, "DELETE", "/v1/admin/uploads?"+q.Encode(), nil), 404)
	if n := e.UploadsInProgress(); n != 0 {
		t.Errorf("%d uploads left after the admin abort", n)
	}
}
