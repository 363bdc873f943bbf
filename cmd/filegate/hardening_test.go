package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/auth"
	"github.com/filegate/filegate/internal/cli"
	"github.com/filegate/filegate/internal/harness"
)

// asMain runs the test binary as the filegate command, in its own process.
func asMain(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "FILEGATE_TEST_AS_MAIN=1")
	return cmd
}

// TestTokenFileConcurrentProcesses runs 50 `token create` and 25 `token
// revoke` commands as parallel processes on one token file and checks the
// exact resulting set: every create kept, every revoked token gone.
func TestTokenFileConcurrentProcesses(t *testing.T) {
	t.Parallel() // waits on timeouts and backoff, not on the CPU
	data := t.TempDir()
	tokens := auth.Open(filepath.Join(data, "tokens.json"))
	var victims []string
	for i := range 25 {
		_, rec, err := tokens.Create(auth.NewSpec{Name: fmt.Sprintf("victim-%d", i), Actions: []filegate.Action{filegate.ActList}})
		if err != nil {
			t.Fatal(err)
		}
		victims = append(victims, rec.ID)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	runCmd := func(args ...string) {
		defer wg.Done()
		out, err := asMain(args...).CombinedOutput()
		if err != nil {
			mu.Lock()
			failures = append(failures, fmt.Sprintf("%v: %v %s", args, err, out))
			mu.Unlock()
		}
	}
	for i := range 50 {
		wg.Add(1)
		go runCmd("token", "create", "--data", data, "--name", fmt.Sprintf("new-%d", i), "--allow", "list")
		if i < 25 {
			wg.Add(1)
			go runCmd("token", "revoke", "--data", data, victims[i])
		}
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d commands failed: %s", len(failures), failures[0])
	}
	recs, err := auth.Open(filepath.Join(data, "tokens.json")).List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	var want []string
	for i := range 50 {
		want = append(want, fmt.Sprintf("new-%d", i))
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("token set after 50 creates and 25 revokes in parallel: %d tokens %v\nwant exactly the 50 new ones", len(names), names)
	}
}

// TestNoAdminMintedAfterRevokingAll: revoking every token and restarting
// mints no new admin token; recovery is `token create --allow admin`.
func TestNoAdminMintedAfterRevokingAll(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	var out bytes.Buffer
	args := []string{"filegate", "token", "revoke", "--data", e.Data, "admin"}
	if err := cli.Run(t.Context(), args, func(string) string { return "" }, nil, &out, &out); err != nil {
		t.Fatalf("revoke: %v %s", err, out.String())
	}
	old := e.Admin
	os.Remove(filepath.Join(e.Data, "admin.token"))
	e.Restart()
	if strings.Contains(e.Logs.String(), "fg_") {
		t.Error("a token was printed on restart")
	}
	if _, err := os.Stat(filepath.Join(e.Data, "admin.token")); err == nil {
		t.Fatal("a new admin.token was written after every token was revoked")
	}
	harness.MustStatus(t, e.Call(old, "GET", "/v1/objects", nil), 401)
	e.Admin = ""
	recovered := e.Token("recovered", "", 0, "admin")
	harness.MustStatus(t, e.Call(recovered, "GET", "/v1/objects", nil), 200)
}

// TestParsingRefusals: values that parse loosely elsewhere get precise 4xx
// problems here, without internal details.
func TestParsingRefusals(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded", "--compat", "--read-timeout", "1s")
	e.Put("img.jpg", jpegBytes(t, 64, 48))
	for _, v := range []string{`"NaN"`, `"nan%"`, `"Inf"`, `"-Inf%"`, `"+Inf"`} {
		for _, axis := range []string{"x", "y"} {
			r := e.Call(e.Admin, "POST", "/v1/captions", fmt.Sprintf(`{"key":"img.jpg","text":"hi",%q:%s}`, axis, v))
			if r.Status != 400 || r.Problem(t)["code"] != "invalid_position" {
				t.Errorf("%s=%s: %d %s", axis, v, r.Status, r.Body)
			}
		}
	}
	e.Put("doc.txt", []byte("x"))
	for _, v := range []string{`"600abc"`, `"1e3"`, `1e3`, `600.5`, `-5`, `0`, `"0"`, `99999999999999999999999`, `"9223372036854775808"`, `604801`, `true`, `" 600"`, `"0x10"`} {
		status, _, body := e.Raw(e.Admin, "POST", "/download-url", "application/json", []byte(`{"fileKey":"doc.txt","expire_in":`+v+`}`))
		if status != 400 || !strings.Contains(string(body), "expire_in") {
			t.Errorf("expire_in %s: %d %s", v, status, body)
		}
	}
	for _, v := range []string{`600`, `"600"`, `604800`} {
		if status, _, body := e.Raw(e.Admin, "POST", "/download-url", "application/json", []byte(`{"fileKey":"doc.txt","expire_in":`+v+`}`)); status != 200 {
			t.Errorf("expire_in %s: %d %s", v, status, body)
		}
	}
	// A folder-like key is no upload target.
	for _, body := range []map[string]any{{"key": "a/", "size": 100 << 20}, {"key": "a/", "size": 10}} {
		r := e.Call(e.Admin, "POST", "/v1/uploads", body)
		if r.Status != 400 || r.Problem(t)["code"] != "invalid_key" {
			t.Errorf("upload to a/ (%v bytes): %d %s", body["size"], r.Status, r.Body)
		}
	}
	r := e.Call(e.Admin, "POST", "/v1/captions", map[string]any{"key": "img.jpg", "text": "hi", "output_key": "out/"})
	if r.Status != 400 {
		t.Errorf("caption output to a folder: %d %s", r.Status, r.Body)
	}
	// A body too slow to arrive: the problem says so and names no socket.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.Base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/downloads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"key\":", e.Admin)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var resp bytes.Buffer
	_, _ = resp.ReadFrom(conn)
	got := resp.String()
	if !strings.Contains(got, " 400 ") || strings.Contains(got, "127.0.0.1") || strings.Contains(got, "tcp") {
		t.Errorf("cut-off body: %s", got)
	}
}

// TestEveryUploadGrantBindsASize: a PUT grant signs its exact length (0
// included), a part URL signs its part's length, a form always carries a
// content-length-range, and tokens and the server cap object sizes.
func TestEveryUploadGrantBindsASize(t *testing.T) {
	t.Parallel()
	for _, name := range harness.Stores(t) {
		t.Run(name, func(t *testing.T) {
			e := harness.Start(t, name, "--multipart-threshold", "1048576", "--part-size", "5242880", "--max-upload-size", "64MiB")
			small := e.Token("small", "up/", 0, "upload")
			capped := e.TokenArgs("capped", "--prefix", "up/", "--allow", "upload", "--max-size", "1000")
			for _, c := range []struct {
				size int
				body []byte
			}{{0, bytes.Repeat([]byte("x"), 100)}, {10, bytes.Repeat([]byte("x"), 11)}, {10, bytes.Repeat([]byte("x"), 9)}} {
				var u uploadResp
				r := e.Call(small, "POST", "/v1/uploads", map[string]any{"key": "up/a.bin", "size": c.size})
				harness.MustStatus(t, r, 200)
				r.JSON(t, &u)
				if st, _, _ := harness.Send(t, u.Method, u.URL, u.Headers, c.body); st < 400 {
					t.Errorf("a PUT grant for %d bytes took %d", c.size, len(c.body))
				}
			}
			var u uploadResp
			r := e.Call(small, "POST", "/v1/uploads", map[string]any{"key": "up/empty.bin", "size": 0})
			harness.MustStatus(t, r, 200)
			r.JSON(t, &u)
			if st, _, msg := harness.Send(t, u.Method, u.URL, u.Headers, nil); st != 200 {
				t.Errorf("empty PUT on its grant: %d %s", st, msg)
			}

			// Parts: each URL takes exactly its part's length.
			body := harness.RandomBytes(5<<20 + 10)
			r = e.Call(small, "POST", "/v1/uploads", map[string]any{"key": "up/big.bin", "size": len(body)})
			harness.MustStatus(t, r, 201)
			r.JSON(t, &u)
			if st := tryPut(u.Parts[1].URL, body[:20]); st < 400 && st != 0 {
				t.Error("part 2 (10 bytes) took 20 bytes")
			}
			if st := tryPut(u.Parts[0].URL, body[:5<<20-1]); st < 400 && st != 0 {
				t.Error("part 1 (5 MiB) took a byte less")
			}
			e.Call(small, "DELETE", "/v1/uploads/"+u.UploadID, nil)

			// Limits: the token's, then the server's.
			r = e.Call(capped, "POST", "/v1/uploads", map[string]any{"key": "up/b.bin", "size": 1001})
			if r.Status != 413 || r.Problem(t)["code"] != "object_too_large" {
				t.Errorf("capped token, 1001 bytes: %d %s", r.Status, r.Body)
			}
			harness.MustStatus(t, e.Call(capped, "POST", "/v1/uploads", map[string]any{"key": "up/b.bin", "size": 1000}), 200)
			r = e.Call(small, "POST", "/v1/uploads", map[string]any{"key": "up/b.bin", "size": 64<<20 + 1})
			if r.Status != 413 {
				t.Errorf("server limit 64 MiB, asked 64 MiB + 1: %d %s", r.Status, r.Body)
			}
			if r := e.Call(capped, "POST", "/v1/forms", map[string]any{"key": "up/f.bin", "max_size": 2000}); r.Status != 413 {
				t.Errorf("capped token, form max_size 2000: %d %s", r.Status, r.Body)
			}
			var f formResp
			r = e.Call(capped, "POST", "/v1/forms", map[string]any{"key": "up/f.bin"})
			harness.MustStatus(t, r, 200)
			r.JSON(t, &f)
			if st, _ := postForm(t, f, nil, "", bytes.Repeat([]byte("x"), 1001)); st < 400 {
				t.Error("a form of a 1000-byte token took 1001 bytes")
			}
			if st, msg := postForm(t, f, nil, "", bytes.Repeat([]byte("x"), 1000)); st >= 300 {
				t.Errorf("a form of a 1000-byte token refused 1000 bytes: %d %s", st, msg)
			}
		})
	}
}

// tryPut sends body to a presigned PUT URL and returns the status, or 0 when
// the store cut the connection (a refusal too).
func tryPut(url string, body []byte) int {
	req, err := http.NewRequest("PUT", url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestUnsafeNamesAreSanitized: keys stored straight in the store with
// control characters, drive letters, bidi overrides, leading spaces, device
// names, "+", "%" and spaces bundle correctly under safe entry names, and
// download file names are made safe the same way.
func TestUnsafeNamesAreSanitized(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, func(t *testing.T, e *harness.Env) {
		keys := map[string]string{ // key → the entry name it must get
			"names/a\x01b.txt":            "a_b.txt",
			"names/C:/evil.txt":           "C_/evil.txt",
			"names/invoice\u202Etxt.exe":  "invoicetxt.exe",
			"names/  lead.txt":            "lead.txt",
			"names/CON.txt":               "_CON.txt",
			"names/plus+and space%20.txt": "plus+and space%20.txt",
		}
		if e.Name == "embedded" {
			// The embedded store refuses control characters in keys itself
			// (see gateway.CheckKey), so no such key can exist there.
			if _, err := e.S3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: &e.Bucket, Key: aws.String("names/a\x01b.txt"), Body: strings.NewReader("x")}); err == nil {
				t.Error("the embedded store took a key with a control character")
			}
			delete(keys, "names/a\x01b.txt")
		}
		for k := range keys {
			e.Put(k, []byte("content of "+k))
		}
		r := e.Call(e.Admin, "GET", "/v1/objects?prefix=names/", nil)
		harness.MustStatus(t, r, 200)
		for k := range keys {
			if !strings.Contains(string(r.Body), strings.TrimPrefix(mustJSON(t, k), `"`)[:len(mustJSON(t, k))-2]) {
				t.Errorf("listing lacks %q: %s", k, r.Body)
			}
		}
		r = e.Call(e.Admin, "POST", "/v1/bundles", map[string]any{"prefix": "names/"})
		harness.MustStatus(t, r, 200)
		var res struct {
			URL string `json:"url"`
		}
		r.JSON(t, &res)
		st, zb, _ := harness.Fetch(t, res.URL)
		if st != 200 {
			t.Fatalf("bundle download: %d", st)
		}
		files, _, _ := readZip(t, zb)
		for k, name := range keys {
			if got, ok := files[name]; !ok || string(got) != "content of "+k {
				t.Errorf("entry %q for key %q: present %v, content %q; entries %q", name, k, ok, got, keysOf(files))
			}
		}
		r = e.Call(e.Admin, "POST", "/v1/downloads", map[string]any{"key": "names/CON.txt", "filename": " C:\u202Eevil\x01.txt"})
		harness.MustStatus(t, r, 200)
		var g struct {
			URL string `json:"url"`
		}
		r.JSON(t, &g)
		_, _, h := harness.Fetch(t, g.URL)
		if cd := h.Get("Content-Disposition"); cd != `attachment; filename=C_evil_.txt` {
			t.Errorf("Content-Disposition = %q", cd)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCaptionBounds: an image whose caption would need more memory than the
// budget, an output past its limit, and an inline answer past its limit
// are each refused with 413 and a precise code, and nothing is stored.
func TestCaptionBounds(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded", "--caption-memory", "16MiB", "--caption-max-output", "1MiB", "--caption-max-inline", "100KiB")
	noise := func(w, h int) []byte {
		var b bytes.Buffer
		if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	e.Put("big.png", noise(2000, 1500))          // 3 MP PNG: about 36 MiB to caption
	e.Put("noise.jpg", noisyJPEG(t, 1000, 1000)) // a 1 MP noise PNG encodes to about 3 MB
	e.Put("mid.jpg", noisyJPEG(t, 600, 400))
	before := e.StoreSnapshot(t)
	for _, c := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"key": "big.png", "text": "hi"}, "image_too_large"},
		{map[string]any{"key": "noise.jpg", "text": "hi", "format": "png"}, "output_too_large"},
		{map[string]any{"key": "mid.jpg", "text": "hi", "inline": true}, "inline_too_large"},
	} {
		r := e.Call(e.Admin, "POST", "/v1/captions", c.body)
		if r.Status != 413 || r.Problem(t)["code"] != c.code {
			t.Errorf("%v: %d %s, want 413 %s", c.body, r.Status, r.Body, c.code)
		}
	}
	if after := e.StoreSnapshot(t); len(after) != len(before) {
		t.Errorf("refused captions stored %d objects", len(after)-len(before))
	}
	harness.MustStatus(t, e.Call(e.Admin, "POST", "/v1/captions", map[string]any{"key": "mid.jpg", "text": "hi"}), 200)
}

// TestSlowClientsAreBounded: connections beyond --max-connections wait to
// be accepted, and a client that sends nothing is cut at the read timeout,
// freeing its place.
func TestSlowClientsAreBounded(t *testing.T) {
	t.Parallel() // waits on timeouts and backoff, not on the CPU
	e := harness.Start(t, "embedded", "--max-connections", "2", "--read-timeout", "1s")
	addr := strings.TrimPrefix(e.Base, "http://")
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	time.Sleep(100 * time.Millisecond) // both accepted
	quick := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := quick.Get(e.Base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("a third connection was served while two silent ones held the limit")
	}
	began := time.Now()
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("a silent connection got data")
		}
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("silent connections were cut after %v, want about the 1 s read timeout", took)
	}
	patient := &http.Client{Timeout: 5 * time.Second}
	resp, err := patient.Get(e.Base + "/healthz")
	if err != nil {
		t.Fatalf("after the silent connections were cut: %v", err)
	}
	resp.Body.Close()
}

// noisyJPEG encodes w×h pixels of gray noise, which no codec compresses.
func noisyJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	img.Pix = harness.RandomBytes(w * h)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
