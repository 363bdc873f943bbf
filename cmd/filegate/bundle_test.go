package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/filegate/filegate/internal/harness"
)

type bundleResp struct {
	Key       string    `json:"key"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	Size      int64     `json:"size"`
	Entries   int       `json:"entries"`
	Skipped   []string  `json:"skipped"`
	Reused    bool      `json:"reused"`
	// async
	ID    string `json:"id"`
	State string `json:"state"`
	Error string `json:"error"`
}

// readZip opens an archive, checks it with `unzip -t` when unzip is
// installed, and returns name → bytes and name → method.
func readZip(t *testing.T, b []byte) (map[string][]byte, map[string]uint16, map[string]time.Time) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip archive: %v", err)
	}
	files, methods, times := map[string][]byte{}, map[string]uint16{}, map[string]time.Time{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		files[f.Name], methods[f.Name], times[f.Name] = data, f.Method, f.Modified
	}
	if _, err := exec.LookPath("unzip"); err == nil {
		p := filepath.Join(t.TempDir(), "b.zip")
		os.WriteFile(p, b, 0o600)
		if out, err := exec.Command("unzip", "-t", p).CombinedOutput(); err != nil {
			t.Fatalf("unzip -t: %v\n%s", err, out)
		}
	}
	return files, methods, times
}

func TestBundle(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, func(t *testing.T, e *harness.Env) {
		alice := e.Token("alice", "users/alice/", 0, "bundle", "download")
		photo := harness.RandomBytes(300_000)
		text := bytes.Repeat([]byte("filegate bundles text compresses well. "), 2000)
		e.Put("users/alice/pics/cyndaquil.jpg", photo)
		e.Put("users/alice/notes/readme.txt", text)
		e.Put("users/alice/other/readme.txt", []byte("same name, other folder"))
		e.Put("users/bob/secret.txt", []byte("bob"))

		keys := []string{"users/alice/pics/cyndaquil.jpg", "users/alice/notes/readme.txt", "users/alice/other/readme.txt"}
		var b bundleResp
		r := e.Call(alice, "POST", "/v1/bundles", map[string]any{"keys": keys, "name": "my pics"})
		harness.MustStatus(t, r, 200)
		r.JSON(t, &b)
		if b.Entries != 3 || b.Reused || !strings.HasPrefix(b.Key, "users/alice/bundles/") || !strings.HasSuffix(b.Key, "/my pics.zip") {
			t.Fatalf("bundle = %+v", b)
		}
		if left := time.Until(b.ExpiresAt); left < 80*time.Second || left > 95*time.Second {
			t.Errorf("link expires in %v, want 90 s", left)
		}
		status, zipped, h := harness.Fetch(t, b.URL)
		if status != 200 || int64(len(zipped)) != b.Size {
			t.Fatalf("GET bundle: %d, %d bytes (size said %d)", status, len(zipped), b.Size)
		}
		if !strings.Contains(h.Get("Content-Disposition"), "my pics.zip") {
			t.Errorf("Content-Disposition %q", h.Get("Content-Disposition"))
		}
		files, methods, times := readZip(t, zipped)
		if !bytes.Equal(files["pics/cyndaquil.jpg"], photo) || !bytes.Equal(files["notes/readme.txt"], text) || string(files["other/readme.txt"]) != "same name, other folder" {
			t.Fatalf("archive holds %v", keysOf(files))
		}
		if methods["pics/cyndaquil.jpg"] != zip.Store || methods["notes/readme.txt"] != zip.Deflate {
			t.Errorf("auto compression: jpg %d, txt %d; want store (0) and deflate (8)", methods["pics/cyndaquil.jpg"], methods["notes/readme.txt"])
		}
		if d := time.Since(times["notes/readme.txt"]); d < 0 || d > 5*time.Minute {
			t.Errorf("modification time %v is not the object's", times["notes/readme.txt"])
		}

		// The same selection again: the same bundle, not zipped again.
		var again bundleResp
		r = e.Call(alice, "POST", "/v1/bundles", map[string]any{"keys": keys, "name": "my pics"})
		harness.MustStatus(t, r, 200)
		r.JSON(t, &again)
		if !again.Reused || again.Key != b.Key {
			t.Errorf("second request: reused=%v key=%s, want the first bundle", again.Reused, again.Key)
		}
		// A changed source makes a new bundle.
		e.Put("users/alice/notes/readme.txt", []byte("changed"))
		r = e.Call(alice, "POST", "/v1/bundles", map[string]any{"keys": keys, "name": "my pics"})
		harness.MustStatus(t, r, 200)
		r.JSON(t, &again)
		if again.Reused || again.Key == b.Key {
			t.Error("a changed source reused the old bundle")
		}

		// By prefix: names relative to the prefix's folder; duplicates made unique.
		var bp bundleResp
		r = e.Call(alice, "POST", "/v1/bundles", map[string]any{"prefix": "users/alice/", "compression": "store", "keys": nil})
		harness.MustStatus(t, r, 200)
		r.JSON(t, &bp)
		_, zipped, _ = harness.Fetch(t, bp.URL)
		files, methods, _ = readZip(t, zipped)
		if len(files) != 4 && len(files) != 3 { // earlier bundles live in the bundle bucket, not here
			t.Errorf("prefix bundle holds %v", keysOf(files))
		}
		for n, m := range methods {
			if m != zip.Store {
				t.Errorf("%s: method %d with compression store", n, m)
			}
		}
	})
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestBundleMissingAndScope(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, func(t *testing.T, e *harness.Env) {
		alice := e.Token("alice", "users/alice/", 0, "bundle")
		e.Put("users/alice/a.txt", []byte("a"))
		e.Put("users/bob/b.txt", []byte("b"))

		r := e.Call(alice, "POST", "/v1/bundles", map[string]any{"keys": []string{"users/alice/a.txt", "users/alice/nope1", "users/alice/nope2"}})
		harness.MustStatus(t, r, 404)
		if p := r.Problem(t); p["code"] != "missing_keys" || !strings.Contains(p["detail"].(string), "users/alice/nope1") || !strings.Contains(p["detail"].(string), "users/alice/nope2") {
			t.Errorf("problem %v, want missing_keys naming both", p)
		}
		if objs, ups := e.BundleDebris(); objs != 0 || ups != 0 {
			t.Fatalf("missing=fail wrote %d objects, %d uploads", objs, ups)
		}
		var b bundleResp
		r = e.Call(alice, "POST", "/v1/bundles", map[string]any{"keys": []string{"users/alice/a.txt", "users/alice/nope1"}, "missing": "skip"})
		harness.MustStatus(t, r, 200)
		r.JSON(t, &b)
		if b.Entries != 1 || len(b.Skipped) != 1 || b.Skipped[0] != "users/alice/nope1" {
			t.Errorf("skip: %+v", b)
		}

		for _, c := range []struct {
			body   map[string]any
			status int
		}{
			{map[string]any{"keys": []string{"users/bob/b.txt"}}, 403},
			{map[string]any{"keys": []string{"users/alice/a.txt", "users/bob/b.txt"}}, 403},
			{map[string]any{"keys": []string{"users/alice/../bob/b.txt"}}, 400},
			{map[string]any{"prefix": "users/bob/"}, 403},
			{map[string]any{"prefix": "users/"}, 403},
			{map[string]any{}, 400},
			{map[string]any{"keys": []string{"users/alice/a.txt"}, "prefix": "users/alice/"}, 400},
			{map[string]any{"keys": []string{"users/alice/a.txt"}, "compression": "lzma"}, 400},
			{map[string]any{"keys": []string{"users/alice/a.txt"}, "missing": "maybe"}, 400},
			{map[string]any{"keys": []string{"users/alice/a.txt"}, "name": "../x"}, 400},
			{map[string]any{"keys": []string{"users/alice/nope"}, "missing": "skip"}, 404},
		} {
			r := e.Call(alice, "POST", "/v1/bundles", c.body)
			if r.Status != c.status {
				t.Errorf("%v: status %d, want %d (%s)", c.body, r.Status, c.status, r.Body)
			}
		}
		downloader := e.Token("dl", "", 0, "download")
		harness.MustStatus(t, e.Call(downloader, "POST", "/v1/bundles", map[string]any{"keys": []string{"users/alice/a.txt"}}), 403)
		if objs, ups := e.BundleDebris(); objs != 1 || ups != 0 {
			t.Errorf("after refusals: %d bundles and %d uploads, want the 1 skip bundle and none", objs, ups)
		}
	})
}

func TestBundleLimit(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded", "--bundle-max-keys", "3")
	for i := range 4 {
		e.Put("d/"+strconv.Itoa(i), []byte("x"))
	}
	harness.MustStatus(t, e.Call(e.Admin, "POST", "/v1/bundles", map[string]any{"keys": []string{"d/0", "d/1", "d/2", "d/3"}}), 413)
	harness.MustStatus(t, e.Call(e.Admin, "POST", "/v1/bundles", map[string]any{"prefix": "d/"}), 413)
	if objs, ups := e.BundleDebris(); objs != 0 || ups != 0 {
		t.Errorf("limit: %d objects, %d uploads left", objs, ups)
	}
}

func TestBundleStream(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, testBundleStream)
}

func testBundleStream(t *testing.T, e *harness.Env) {
	photo := harness.RandomBytes(200_000)
	e.Put("s/a.png", photo)
	e.Put("s/b.bin", []byte("bee"))
	for _, c := range []struct {
		compression string
		exact       bool
	}{{"store", true}, {"deflate", false}} {
		req, _ := harness.HTTPRequest("POST", e.Base+"/v1/bundles/stream", `{"prefix":"s/","compression":"`+c.compression+`","name":"s"}`, e.Admin)
		resp, err := harness.NoRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" {
			t.Fatalf("%s: %d %s", c.compression, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if c.exact && resp.ContentLength != int64(len(body)) {
			t.Errorf("store: Content-Length %d, body %d bytes; want exact", resp.ContentLength, len(body))
		}
		if !c.exact && resp.ContentLength != -1 {
			t.Errorf("deflate: Content-Length %d, want none", resp.ContentLength)
		}
		files, _, _ := readZip(t, body)
		if !bytes.Equal(files["a.png"], photo) || string(files["b.bin"]) != "bee" {
			t.Errorf("%s: archive holds %v", c.compression, keysOf(files))
		}
	}
	if objs, ups := e.BundleDebris(); objs != 0 || ups != 0 {
		t.Errorf("a stream wrote %d objects, %d uploads", objs, ups)
	}
}

func TestBundleAsync(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, testBundleAsync)
}

func testBundleAsync(t *testing.T, e *harness.Env) {
	e.Put("j/1.txt", []byte("one"))
	e.Put("j/2.txt", []byte("two"))
	r := e.Call(e.Admin, "POST", "/v1/bundles", map[string]any{"prefix": "j/", "async": true})
	harness.MustStatus(t, r, 202)
	var job bundleResp
	r.JSON(t, &job)
	if job.ID == "" || job.State != "running" || r.Header.Get("Location") != "/v1/bundles/"+job.ID {
		t.Fatalf("job %+v, Location %q", job, r.Header.Get("Location"))
	}
	other := e.Token("other", "", 0, "bundle")
	harness.MustStatus(t, e.Call(other, "GET", "/v1/bundles/"+job.ID, nil), 403)
	harness.MustStatus(t, e.Call(e.Admin, "GET", "/v1/bundles/0123456789abcdef0123456789abcdef", nil), 404)
	harness.MustStatus(t, e.Call(e.Admin, "GET", "/v1/bundles/nonsense", nil), 404)
	deadline := time.Now().Add(20 * time.Second)
	for job.State == "running" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		r = e.Call(e.Admin, "GET", "/v1/bundles/"+job.ID, nil)
		harness.MustStatus(t, r, 200)
		r.JSON(t, &job)
	}
	if job.State != "done" || job.URL == "" {
		t.Fatalf("job ended %+v", job)
	}
	_, body, _ := harness.Fetch(t, job.URL)
	files, _, _ := readZip(t, body)
	if string(files["1.txt"]) != "one" || string(files["2.txt"]) != "two" {
		t.Errorf("async archive holds %v", keysOf(files))
	}
}

// TestAsyncBundleSurvivesItsReplica runs two filegate processes over one
// store; the one running an async bundle is killed mid-way, and the other
// takes the job over (its lease expired) and completes it.
func TestAsyncBundleSurvivesItsReplica(t *testing.T) {
	t.Parallel()
	backend := harness.Start(t, "embedded")
	for i := range 40 {
		backend.Put(fmt.Sprintf("big/%02d.bin", i), harness.RandomBytes(8<<20))
	}
	sf := harness.StoreFileOf(t, backend.Data)
	data := t.TempDir()
	flags := []string{"--endpoint", sf.Endpoint, "--bucket", "filegate", "--bundle-bucket", "filegate-bundles",
		"--access-key-id", sf.AccessKeyID, "--secret-access-key", sf.SecretAccessKey, "--region", "us-east-1", "--job-lease", "1s"}
	a := harness.StartProcessIn(t, data, flags...)
	b := harness.StartProcessIn(t, data, flags...)
	status, body := a.Request(t, "POST", "/v1/bundles", `{"prefix":"big/","compression":"store","async":true}`)
	if status != 202 {
		t.Fatalf("async bundle: %d %s", status, body)
	}
	var job struct {
		ID          string `json:"id"`
		State       string `json:"state"`
		EntriesDone int    `json:"entries_done"`
		Size        int64  `json:"size"`
		URL         string `json:"url"`
	}
	if err := json.Unmarshal([]byte(body), &job); err != nil {
		t.Fatal(err)
	}
	// Kill the replica running it once it has made progress.
	deadline := time.Now().Add(30 * time.Second)
	for job.EntriesDone == 0 && job.State == "running" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		_, body = b.Request(t, "GET", "/v1/bundles/"+job.ID, "")
		_ = json.Unmarshal([]byte(body), &job)
	}
	if job.State != "running" {
		t.Fatalf("the job ended before the kill: %s", body)
	}
	_ = a.Cmd.Process.Kill()
	_ = a.Cmd.Wait()
	deadline = time.Now().Add(60 * time.Second)
	for job.State == "running" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		_, body = b.Request(t, "GET", "/v1/bundles/"+job.ID, "")
		_ = json.Unmarshal([]byte(body), &job)
	}
	if job.State != "done" || job.EntriesDone != 40 || job.URL == "" {
		t.Fatalf("after the kill: %s", body)
	}
	head, err := backend.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("filegate-bundles"), Key: aws.String(jobKeyOf(t, backend, job.ID))})
	if err != nil || *head.ContentLength != job.Size || job.Size < 40*(8<<20) {
		t.Fatalf("the bundle object: %v, size %d", err, job.Size)
	}
}

// jobKeyOf reads a job record's bundle key from the bundle bucket.
func jobKeyOf(t *testing.T, e *harness.Env, id string) string {
	out, err := e.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("filegate-bundles"), Key: aws.String(".filegate/jobs/" + id + ".json")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	var rec struct {
		Key      string `json:"key"`
		Attempts int    `json:"attempts"`
	}
	if err := json.NewDecoder(out.Body).Decode(&rec); err != nil || rec.Attempts != 2 {
		t.Fatalf("job record: %+v %v (want 2 attempts)", rec, err)
	}
	return rec.Key
}
