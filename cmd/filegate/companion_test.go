package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/cli"
	"github.com/filegate/filegate/internal/harness"
)

// s3Call sends a request to the /s3 routes with a bearer token (or none)
// and extra headers, checked against openapi.yaml when it has no cookie.
func s3Call(t *testing.T, e *harness.Env, token, method, path string, body any, hdr map[string]string) harness.Response {
	t.Helper()
	if len(hdr) == 0 {
		return e.Call(token, method, path, body)
	}
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, e.Base+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := harness.NoRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return harness.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

type uppyMultipart struct {
	Key      string `json:"key"`
	UploadID string `json:"uploadId"`
}

// uppyUpload runs Uppy's multipart sequence (create, sign, PUT, list,
// complete) as @uppy/aws-s3 does, with the given auth headers.
func uppyUpload(t *testing.T, e *harness.Env, token string, hdr map[string]string, filename string, data []byte, partSize int) (string, harness.Response) {
	t.Helper()
	r := s3Call(t, e, token, "POST", "/s3/multipart", map[string]any{"filename": filename, "type": "application/octet-stream", "metadata": map[string]any{"name": filename, "type": "application/octet-stream", "relativePath": nil, "caption": "héllo"}}, hdr)
	harness.MustStatus(t, r, 200)
	var mp uppyMultipart
	r.JSON(t, &mp)
	q := "?key=" + url.QueryEscape(mp.Key)
	var parts []map[string]any
	for n := 1; (n-1)*partSize < len(data); n++ {
		chunk := data[(n-1)*partSize : min(n*partSize, len(data))]
		r := s3Call(t, e, token, "GET", "/s3/multipart/"+mp.UploadID+"/"+itoa(n)+q, nil, hdr)
		harness.MustStatus(t, r, 200)
		var signed struct{ URL string }
		r.JSON(t, &signed)
		status, h, body := harness.Send(t, "PUT", signed.URL, nil, chunk)
		if status != 200 {
			t.Fatalf("part %d: %d %s", n, status, body)
		}
		parts = append(parts, map[string]any{"PartNumber": n, "ETag": h.Get("ETag")})
	}
	r = s3Call(t, e, token, "GET", "/s3/multipart/"+mp.UploadID+q, nil, hdr)
	harness.MustStatus(t, r, 200)
	var listed []struct {
		PartNumber int
		ETag       string
		Size       int64
	}
	r.JSON(t, &listed)
	if len(listed) != len(parts) || listed[0].ETag != parts[0]["ETag"] {
		t.Fatalf("listed parts %+v, want the %d sent (%v)", listed, len(parts), parts)
	}
	return mp.Key, s3Call(t, e, token, "POST", "/s3/multipart/"+mp.UploadID+"/complete"+q, map[string]any{"parts": parts}, hdr)
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestUppyRoutes: Uppy's S3 protocol (Companion's routes) on every store:
// multipart and POST-form uploads land at the caller's prefix, and every
// escape is refused with nothing stored.
func TestUppyRoutes(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, func(t *testing.T, e *harness.Env) {
		alice := e.Token("alice", "users/alice/", 0, "upload", "download", "list")
		data := harness.RandomBytes(6<<20 + 12345)
		key, r := uppyUpload(t, e, alice, nil, "docs/big.bin", data, 5<<20)
		harness.MustStatus(t, r, 200)
		var done struct{ Key, Location string }
		r.JSON(t, &done)
		if key != "users/alice/docs/big.bin" || done.Key != key {
			t.Fatalf("key %q / %q, want users/alice/docs/big.bin", key, done.Key)
		}
		if got, h := e.Object(key); !bytes.Equal(got, data) {
			t.Fatal("stored bytes differ")
		} else if h.Metadata["caption"] == "" || h.Metadata["relativepath"] != "" || h.Metadata["name"] != "" {
			t.Errorf("metadata %v: want caption (RFC 2047), no name, no empty relativepath", h.Metadata)
		}
		if status, body, _ := harness.Fetch(t, done.Location); status != 200 || !bytes.Equal(body, data) {
			t.Errorf("location: %d", status)
		}

		// Batch signing, abort answering JSON, and the session gone after.
		r = e.Call(alice, "POST", "/s3/multipart", map[string]any{"filename": "b.bin", "type": "", "metadata": map[string]any{}})
		harness.MustStatus(t, r, 200)
		var mp uppyMultipart
		r.JSON(t, &mp)
		q := "?key=" + url.QueryEscape(mp.Key)
		r = e.Call(alice, "GET", "/s3/multipart/"+mp.UploadID+"/batch"+q+"&partNumbers=1,2,3", nil)
		harness.MustStatus(t, r, 200)
		var batch struct{ PresignedUrls map[string]string }
		r.JSON(t, &batch)
		if len(batch.PresignedUrls) != 3 || batch.PresignedUrls["2"] == "" {
			t.Fatalf("batch: %s", r.Body)
		}
		r = e.Call(alice, "DELETE", "/s3/multipart/"+mp.UploadID+q, nil)
		if r.Status != 200 || strings.TrimSpace(string(r.Body)) != "{}" {
			t.Fatalf("abort: %d %q, want 200 {}", r.Status, r.Body)
		}
		harness.MustStatus(t, e.Call(alice, "GET", "/s3/multipart/"+mp.UploadID+q, nil), 404)

		// A single file through the POST form.
		r = e.Call(alice, "GET", "/s3/params?filename=small.txt&type=text/plain&metadata%5Bname%5D=small.txt", nil)
		harness.MustStatus(t, r, 200)
		var form formResp
		r.JSON(t, &form)
		if form.Method != "POST" || form.Fields["key"] != "users/alice/small.txt" {
			t.Fatalf("params: %s", r.Body)
		}
		if status, body := postForm(t, form, nil, "", []byte("hello")); status/100 != 2 {
			t.Fatalf("form POST: %d %s", status, body)
		}
		if got, _ := e.Object("users/alice/small.txt"); string(got) != "hello" {
			t.Fatalf("form object %q", got)
		}
		// The policy binds the key: another key, or another type, is refused.
		if status, _ := postForm(t, form, map[string]string{"key": "users/bob/x"}, "", []byte("x")); status/100 == 2 {
			t.Error("the form wrote outside its key")
		}
		if status, _ := postForm(t, form, nil, "text/html", []byte("<x>")); status/100 == 2 {
			t.Error("the form took another Content-Type")
		}

		// Escapes: dot segments, encodings, absolute names, other
		// prefixes; nothing is stored.
		before := e.StoreSnapshot(t)
		for _, name := range []string{"../bob/x", "a/../../bob/x", "./x", "a//b", "/users/bob/x", "%2e%2e/x", "a/\x00b", ""} {
			r := e.Call(alice, "POST", "/s3/multipart", map[string]any{"filename": name, "type": "text/plain"})
			if r.Status != 400 && r.Status != 403 {
				t.Errorf("multipart filename %q: %d, want 400/403", name, r.Status)
			}
			r = e.Call(alice, "GET", "/s3/params?filename="+url.QueryEscape(name), nil)
			if r.Status != 400 && r.Status != 403 {
				t.Errorf("params filename %q: %d, want 400/403", name, r.Status)
			}
		}
		bob := e.Token("bob", "users/bob/", 0, "upload")
		r = e.Call(bob, "POST", "/s3/multipart", map[string]any{"filename": "mine.bin"})
		harness.MustStatus(t, r, 200)
		r.JSON(t, &mp)
		q = "?key=" + url.QueryEscape(mp.Key)
		// alice cannot use bob's session, even with its key; bob cannot
		// point his session at alice's key.
		harness.MustStatus(t, e.Call(alice, "GET", "/s3/multipart/"+mp.UploadID+"/1"+q, nil), 403)
		harness.MustStatus(t, e.Call(bob, "GET", "/s3/multipart/"+mp.UploadID+"/1?key=users/alice/mine.bin", nil), 403)
		harness.MustStatus(t, e.Call(bob, "GET", "/s3/multipart/forged/1"+q, nil), 404)
		for _, n := range []string{"0", "10001", "-1", "x"} {
			harness.MustStatus(t, e.Call(bob, "GET", "/s3/multipart/"+mp.UploadID+"/"+n+q, nil), 400)
		}
		harness.MustStatus(t, e.Call(bob, "GET", "/s3/params?filename=a&bogus=1", nil), 400)
		harness.MustStatus(t, e.Call("", "GET", "/s3/params?filename=a", nil), 401)
		harness.MustStatus(t, e.Call(bob, "DELETE", "/s3/multipart/"+mp.UploadID+q, nil), 200)
		after := e.StoreSnapshot(t)
		if len(after) != len(before) {
			t.Errorf("refused requests changed the store: %d objects, then %d", len(before), len(after))
		}

		// /s3/sts is the credentials service: 501 on the embedded store.
		if e.Name == "embedded" {
			harness.MustStatus(t, e.Call(alice, "GET", "/s3/sts", nil), 501)
		}
	})
}

// TestUppySizeLimit: Uppy declares no size, so the limit is enforced on the
// stored parts: an upload over the token's limit is refused at completion
// and aborted (nothing assembled, no parts left), and no more part URLs
// are signed once the stored parts reach the limit.
func TestUppySizeLimit(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, func(t *testing.T, e *harness.Env) {
		tok := e.TokenArgs("capped", "--allow", "upload", "--prefix", "c/", "--max-size", "6MiB")
		data := harness.RandomBytes(7 << 20)
		key, r := uppyUpload(t, e, tok, nil, "big.bin", data, 5<<20)
		if r.Status != 413 {
			t.Fatalf("complete over the limit: %d %s, want 413", r.Status, r.Body)
		}
		if got, _ := e.Object(key); got != nil {
			t.Fatal("an upload over the limit was assembled")
		}
		if n := e.UploadsInProgress(); n != 0 {
			t.Fatalf("%d uploads left in progress, want the refused one aborted", n)
		}

		// Signing stops once the stored parts reach the limit.
		r = e.Call(tok, "POST", "/s3/multipart", map[string]any{"filename": "b.bin"})
		harness.MustStatus(t, r, 200)
		var mp uppyMultipart
		r.JSON(t, &mp)
		q := "?key=" + url.QueryEscape(mp.Key)
		for n, size := range []int{6 << 20} {
			r := e.Call(tok, "GET", "/s3/multipart/"+mp.UploadID+"/"+itoa(n+1)+q, nil)
			harness.MustStatus(t, r, 200)
			var signed struct{ URL string }
			r.JSON(t, &signed)
			if status, _, body := harness.Send(t, "PUT", signed.URL, nil, harness.RandomBytes(size)); status != 200 {
				t.Fatalf("part: %d %s", status, body)
			}
		}
		harness.MustStatus(t, e.Call(tok, "GET", "/s3/multipart/"+mp.UploadID+"/2"+q, nil), 413)
		harness.MustStatus(t, e.Call(tok, "DELETE", "/s3/multipart/"+mp.UploadID+q, nil), 200)

		// The POST form's policy carries the limit: the store refuses more.
		r = e.Call(tok, "GET", "/s3/params?filename=f.bin", nil)
		harness.MustStatus(t, r, 200)
		var form formResp
		r.JSON(t, &form)
		if status, _ := postForm(t, form, nil, "", harness.RandomBytes(6<<20+1)); status/100 == 2 {
			t.Error("the form took more than the token's limit")
		}
	})
}

// TestWebSession: the cookie sign-in sets, what it admits and what it
// refuses (other origins, missing Origin on writes, tampering, revocation,
// sign-out), and CORS for bearer callers on other origins.
func TestWebSession(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded", "--cors-origin", "http://127.0.0.1:9", "--cors-origin", "http://uppy.test")
	tok := e.Token("web", "w/", 0, "upload", "list")
	own := e.Base

	// Sign-in needs a same-origin request with a bearer token.
	harness.MustStatus(t, s3Call(t, e, tok, "POST", "/v1/session", nil, map[string]string{"Origin": "http://evil.test"}), 403)
	r := s3Call(t, e, tok, "POST", "/v1/session", nil, map[string]string{"Origin": own})
	harness.MustStatus(t, r, 200)
	sc := r.Header.Get("Set-Cookie")
	for _, want := range []string{"filegate-session=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	// The secret is base64url and may itself hold "_": split at the first two only.
	if strings.Contains(sc, tok) || strings.Contains(sc, strings.SplitN(tok, "_", 3)[2]) {
		t.Fatal("the cookie holds the token in clear")
	}
	cookie := strings.SplitN(sc, ";", 2)[0]
	with := func(h map[string]string) map[string]string {
		out := map[string]string{"Cookie": cookie}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	create := map[string]any{"filename": "c.bin"}

	harness.MustStatus(t, s3Call(t, e, "", "POST", "/s3/multipart", create, with(map[string]string{"Origin": own})), 200)
	harness.MustStatus(t, s3Call(t, e, "", "GET", "/s3/params?filename=x.txt", nil, with(nil)), 200)
	// Writes without Origin, or from another origin (even same-site), are refused.
	harness.MustStatus(t, s3Call(t, e, "", "POST", "/s3/multipart", create, with(nil)), 403)
	harness.MustStatus(t, s3Call(t, e, "", "POST", "/s3/multipart", create, with(map[string]string{"Origin": "http://127.0.0.1:9"})), 403)
	harness.MustStatus(t, s3Call(t, e, "", "GET", "/s3/params?filename=x.txt", nil, with(map[string]string{"Sec-Fetch-Site": "same-site"})), 403)
	harness.MustStatus(t, s3Call(t, e, "", "GET", "/s3/params?filename=x.txt", nil, with(map[string]string{"Sec-Fetch-Site": "cross-site"})), 403)
	// The cookie is not a bearer token for the rest of the API.
	harness.MustStatus(t, s3Call(t, e, "", "GET", "/v1/objects", nil, with(nil)), 401)
	// Tampered.
	bad := cookie[:len(cookie)-3] + "AAA"
	harness.MustStatus(t, s3Call(t, e, "", "GET", "/s3/params?filename=x.txt", nil, map[string]string{"Cookie": bad}), 401)

	// CORS: listed origins get bearer CORS, never credentials; others none.
	r = s3Call(t, e, "", "OPTIONS", "/s3/multipart", nil, map[string]string{"Origin": "http://uppy.test", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
	if r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != "http://uppy.test" || !strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") || r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight from a listed origin: %d %v", r.Status, r.Header)
	}
	r = s3Call(t, e, "", "OPTIONS", "/s3/multipart", nil, map[string]string{"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from an unlisted origin got CORS: %v", r.Header)
	}
	r = s3Call(t, e, tok, "GET", "/s3/params?filename=x.txt", nil, map[string]string{"Origin": "http://uppy.test"})
	if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "http://uppy.test" {
		t.Errorf("bearer GET from a listed origin: %d %v", r.Status, r.Header)
	}

	// Revoking the token ends the session at once.
	var out bytes.Buffer
	if err := cli.Run(context.Background(), []string{"filegate", "token", "revoke", "web", "--data", e.Data}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	harness.MustStatus(t, s3Call(t, e, "", "GET", "/s3/params?filename=x.txt", nil, with(nil)), 401)

	// Sign-out clears the cookie.
	r = s3Call(t, e, "", "DELETE", "/v1/session", nil, map[string]string{"Origin": own})
	harness.MustStatus(t, r, 200)
	if sc := strings.Join(r.Header.Values("Set-Cookie"), "\n"); !strings.Contains(sc, "filegate-session=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Errorf("sign-out Set-Cookie %q", sc)
	}
}

// TestWebAppServed: the app's page and assets, with their security headers;
// the first start prints a link that signs in through the fragment.
func TestWebAppServed(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	status, body, h := harness.Fetch(t, e.Base+"/")
	if status != 200 || !bytes.Contains(body, []byte(`<script type="module" src="/app/app.js">`)) {
		t.Fatalf("GET /: %d", status)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "connect-src 'self' http://127.0.0.1:"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, p := range []string{"/app/app.js", "/app/app.css", "/app/vendor/uppy/uppy.min.mjs", "/app/vendor/uppy/uppy.min.css", "/app/font/gobold.ttf"} {
		if status, _, h := harness.Fetch(t, e.Base+p); status != 200 || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d", p, status)
		}
	}
	for _, p := range []string{"/app/../admin.token", "/app/nope.js", "/app/vendor/uppy/LICENSE"} {
		if status, _, _ := harness.Fetch(t, e.Base+p); status != 404 && status != 400 {
			t.Errorf("GET %s: %d, want 404", p, status)
		}
	}
}
