package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/filegate/filegate/internal/cli"
	"github.com/filegate/filegate/internal/harness"
)

func TestListFoldersAndPagination(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, func(t *testing.T, e *harness.Env) {
		for i := range 5 {
			e.Put(fmt.Sprintf("docs/a%d.txt", i), []byte("x"))
		}
		e.Put("docs/sub/deep.txt", []byte("y"))
		e.Put("pics/cat.jpg", []byte("z"))
		e.Put("top.txt", []byte("t"))

		var root listResp
		r := e.Call(e.Admin, "GET", "/v1/objects?delimiter=/", nil)
		harness.MustStatus(t, r, 200)
		r.JSON(t, &root)
		if got, want := strings.Join(root.Folders, ","), "docs/,pics/"; got != want {
			t.Errorf("folders = %q, want %q", got, want)
		}
		if len(root.Objects) != 1 || root.Objects[0].Key != "top.txt" || root.Objects[0].Size != 1 {
			t.Errorf("objects = %+v, want top.txt alone", root.Objects)
		}

		// Page through docs/ two at a time: every key once, in order.
		var keys []string
		cursor, pages := "", 0
		for {
			q := url.Values{"prefix": {"docs/"}, "limit": {"2"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			var page listResp
			r := e.Call(e.Admin, "GET", "/v1/objects?"+q.Encode(), nil)
			harness.MustStatus(t, r, 200)
			r.JSON(t, &page)
			if len(page.Objects) > 2 {
				t.Fatalf("page of %d objects with limit 2", len(page.Objects))
			}
			for _, o := range page.Objects {
				keys = append(keys, o.Key)
			}
			pages++
			if page.Cursor == "" || pages > 10 {
				break
			}
			cursor = page.Cursor
		}
		want := "docs/a0.txt,docs/a1.txt,docs/a2.txt,docs/a3.txt,docs/a4.txt,docs/sub/deep.txt"
		if got := strings.Join(keys, ","); got != want {
			t.Errorf("paged keys = %s, want %s", got, want)
		}
		if pages < 3 || pages > 4 { // a store may end with an empty page
			t.Errorf("%d pages, want 3 (or 4 with an empty last page)", pages)
		}

		for _, bad := range []string{"?limit=0", "?limit=1001", "?limit=x", "?delimiter=-", "?cursor=%%%", "?prefx=docs/", "?prefix=a&prefix=b"} {
			r := e.Call(e.Admin, "GET", "/v1/objects"+bad, nil)
			if r.Status != 400 {
				t.Errorf("GET /v1/objects%s: status %d, want 400", bad, r.Status)
			}
		}
	})
}

type listResp struct {
	Objects []struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
	} `json:"objects"`
	Folders []string `json:"folders"`
	Cursor  string   `json:"cursor"`
}

type downloadResp struct {
	URL       string    `json:"url"`
	Method    string    `json:"method"`
	ExpiresAt time.Time `json:"expires_at"`
	Size      *int64    `json:"size"`
	ETag      string    `json:"etag"`
}

func TestDownloadGrant(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, func(t *testing.T, e *harness.Env) {
		body := bytes.Repeat([]byte("filegate\x00\xff"), 1000)
		e.Put("reports/q3 final (v2)+ü.bin", body)

		var d downloadResp
		r := e.Call(e.Admin, "POST", "/v1/downloads", map[string]any{"key": "reports/q3 final (v2)+ü.bin", "filename": "Überblick – Q3.bin"})
		harness.MustStatus(t, r, 200)
		r.JSON(t, &d)
		if d.Method != "GET" || d.Size == nil || *d.Size != int64(len(body)) || d.ETag == "" {
			t.Errorf("grant = %+v, want GET with size %d and an etag", d, len(body))
		}
		if left := time.Until(d.ExpiresAt); left < 14*time.Minute || left > 16*time.Minute {
			t.Errorf("expires in %v, want the 15 min default", left)
		}
		status, got, h := harness.Fetch(t, d.URL)
		if status != 200 || !bytes.Equal(got, body) {
			t.Fatalf("GET grant: status %d, %d bytes; want 200 and the %d stored bytes", status, len(got), len(body))
		}
		if cd := h.Get("Content-Disposition"); !strings.Contains(cd, "attachment") || !strings.Contains(cd, "%C3%9Cberblick") {
			t.Errorf("Content-Disposition = %q, want attachment with the UTF-8 file name", cd)
		}

		// Tampered: another key under the same signature, or a changed signature.
		u, _ := url.Parse(d.URL)
		other := *u
		other.Path = strings.Replace(u.Path, "q3", "q4", 1)
		e.Put("reports/q4 final (v2)+ü.bin", []byte("secret"))
		if status, got, _ := harness.Fetch(t, other.String()); status != 403 || bytes.Contains(got, []byte("secret")) {
			t.Errorf("tampered key: status %d, want 403 and no bytes", status)
		}
		q := u.Query()
		sig := q.Get("X-Amz-Signature")
		q.Set("X-Amz-Signature", strings.Repeat("0", len(sig)))
		tampered := *u
		tampered.RawQuery = q.Encode()
		if status, _, _ := harness.Fetch(t, tampered.String()); status != 403 {
			t.Errorf("tampered signature: status %d, want 403", status)
		}
		q = u.Query()
		q.Set("X-Amz-Expires", "604800")
		tampered.RawQuery = q.Encode()
		if status, _, _ := harness.Fetch(t, tampered.String()); status != 403 {
			t.Errorf("tampered expiry: status %d, want 403", status)
		}

		// Expired.
		r = e.Call(e.Admin, "POST", "/v1/downloads", map[string]any{"key": "reports/q3 final (v2)+ü.bin", "expires_in": 1})
		harness.MustStatus(t, r, 200)
		r.JSON(t, &d)
		time.Sleep(2100 * time.Millisecond)
		if status, got, _ := harness.Fetch(t, d.URL); status != 403 || bytes.Equal(got, body) {
			t.Errorf("expired grant: status %d, want 403", status)
		}

		// The redirect form.
		r = e.Call(e.Admin, "GET", "/v1/objects/reports/q3%20final%20(v2)+%C3%BC.bin?disposition=inline", nil)
		harness.MustStatus(t, r, 302)
		if status, got, _ := harness.Fetch(t, r.Header.Get("Location")); status != 200 || !bytes.Equal(got, body) {
			t.Errorf("redirect target: status %d, want 200 and the bytes", status)
		}

		// Without the existence check: no size, still a working URL.
		r = e.Call(e.Admin, "POST", "/v1/downloads", map[string]any{"key": "reports/q3 final (v2)+ü.bin", "check": false})
		harness.MustStatus(t, r, 200)
		var unchecked downloadResp
		r.JSON(t, &unchecked)
		if unchecked.Size != nil {
			t.Errorf("unchecked grant has a size")
		}
		if status, _, _ := harness.Fetch(t, unchecked.URL); status != 200 {
			t.Errorf("unchecked grant: status %d", status)
		}
	})
}

func TestDownloadMissingKey(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, func(t *testing.T, e *harness.Env) {
		r := e.Call(e.Admin, "POST", "/v1/downloads", map[string]any{"key": "nope/missing.txt"})
		harness.MustStatus(t, r, 404)
		p := r.Problem(t)
		if p["code"] != "not_found" || bytes.Contains(r.Body, []byte("X-Amz")) {
			t.Errorf("problem = %v, want code not_found and no URL", p)
		}
		r = e.Call(e.Admin, "GET", "/v1/objects/nope/missing.txt", nil)
		harness.MustStatus(t, r, 404)
		if r.Header.Get("Location") != "" {
			t.Error("404 carries a Location")
		}
	})
}

func TestExpiryBounds(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded", "--max-expiry", "1h", "--default-expiry", "90s")
	e.Put("a.txt", []byte("a"))
	var d downloadResp
	r := e.Call(e.Admin, "POST", "/v1/downloads", map[string]any{"key": "a.txt"})
	harness.MustStatus(t, r, 200)
	r.JSON(t, &d)
	if left := time.Until(d.ExpiresAt); left < 80*time.Second || left > 95*time.Second {
		t.Errorf("default expiry %v, want 90s", left)
	}
	if !strings.Contains(d.URL, "X-Amz-Expires=90&") {
		t.Errorf("URL does not sign 90 s: %s", d.URL)
	}
	for _, secs := range []any{0, -5, 3601, 604801, 1e12, "60", 1.5} {
		r := e.Call(e.Admin, "POST", "/v1/downloads", map[string]any{"key": "a.txt", "expires_in": secs})
		if r.Status != 400 || bytes.Contains(r.Body, []byte("X-Amz")) {
			t.Errorf("expires_in %v: status %d, want 400 and no URL", secs, r.Status)
		} else if p := r.Problem(t); p["code"] != "invalid_expiry" {
			t.Errorf("expires_in %v: code %v, want invalid_expiry", secs, p["code"])
		}
	}
	r = e.Call(e.Admin, "POST", "/v1/downloads", map[string]any{"key": "a.txt", "expires_in": 3600})
	harness.MustStatus(t, r, 200)
}

func TestScopeEscapes(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, func(t *testing.T, e *harness.Env) {
		alice := e.Token("alice", "users/alice", 0, "list", "download")
		e.Put("users/alice/x", []byte("mine"))
		e.Put("users/bob/x", []byte("bob's"))
		e.Put("users/alice2/x", []byte("neighbour"))
		e.Put("x", []byte("root"))

		r := e.Call(alice, "POST", "/v1/downloads", map[string]any{"key": "users/alice/x"})
		harness.MustStatus(t, r, 200)

		escapes := []struct {
			key    string
			status int
		}{
			{"users/alice/../bob/x", 400},
			{"users/alice/./x", 400},
			{"users/alice/%2e%2e/bob/x", 400},
			{"users/alice/%2E%2E/bob/x", 400},
			{"users/alice/..%2fbob/x", 400},
			{"/users/alice/x", 400},
			{"users/alice//x", 400},
			{"users/alice/x\x00", 400},
			{"users/alice/\nx", 400},
			{"users/alice/\u0085x", 400},
			{"users/alice\\..\\bob\\x", 400},
			{"users/alice/" + strings.Repeat("a", 1013), 400},
			{"", 400},
			{"users/alice2/x", 403},
			{"users/bob/x", 403},
			{"users/alice", 403},
			{"x", 403},
		}
		for _, c := range escapes {
			r := e.Call(alice, "POST", "/v1/downloads", map[string]any{"key": c.key})
			if r.Status != c.status || bytes.Contains(r.Body, []byte("X-Amz")) {
				t.Errorf("download %q: status %d, want %d and no URL; body %s", c.key, r.Status, c.status, r.Body)
			}
		}
		// The same through the redirect route, with raw percent-encodings in the path.
		for _, p := range []string{"users/alice/%2e%2e/bob/x", "users/alice/..%2Fbob/x", "users/alice2/x", "users/bob/x", "users%2Fbob%2Fx", "users/alice/%FF", "users/alice/%00"} {
			r := e.Call(alice, "GET", "/v1/objects/"+p, nil)
			if r.Status != 400 && r.Status != 403 || r.Header.Get("Location") != "" {
				t.Errorf("redirect %q: status %d, want 400 or 403 and no Location", p, r.Status)
			}
		}
		// Listing a neighbour prefix, or the root.
		for _, p := range []string{"users/", "users/alice2/", "users/bob/", "users/alice/../bob/"} {
			r := e.Call(alice, "GET", "/v1/objects?prefix="+url.QueryEscape(p), nil)
			if r.Status != 403 && r.Status != 400 {
				t.Errorf("list %q: status %d, want 403 or 400", p, r.Status)
			}
		}
		var own listResp
		r = e.Call(alice, "GET", "/v1/objects", nil)
		harness.MustStatus(t, r, 200)
		r.JSON(t, &own)
		if len(own.Objects) != 1 || own.Objects[0].Key != "users/alice/x" {
			t.Errorf("alice lists %+v, want only users/alice/x", own.Objects)
		}
		// A token without the download action.
		lister := e.Token("lister", "", 0, "list")
		r = e.Call(lister, "POST", "/v1/downloads", map[string]any{"key": "x"})
		harness.MustStatus(t, r, 403)
		if p := r.Problem(t); p["code"] != "action_not_allowed" {
			t.Errorf("code = %v, want action_not_allowed", p["code"])
		}
		// Nothing was written by any of this.
		out, err := e.S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &e.Bucket})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 4 {
			t.Errorf("%d objects in the bucket, want the 4 seeded", len(out.Contents))
		}
	})
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	e.Put("a.txt", []byte("a"))
	body := map[string]any{"key": "a.txt"}

	r := e.Call("", "POST", "/v1/downloads", body)
	harness.MustStatus(t, r, 401)
	if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("WWW-Authenticate = %q, want Bearer", got)
	}
	if p := r.Problem(t); p["code"] != "missing_token" {
		t.Errorf("code = %v, want missing_token", p["code"])
	}
	// A well-formed token whose secret is wrong, garbage, another scheme.
	wrong := e.Admin[:len(e.Admin)-4] + "AAAA"
	for _, tok := range []string{wrong, "fg_0000000000000000_" + strings.Repeat("A", 43), "nonsense", "fg_", "fg__"} {
		r := e.Call(tok, "POST", "/v1/downloads", body)
		if r.Status != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("token %q: status %d, want 401 invalid_token", tok, r.Status)
		}
	}
	req, _ := http.NewRequest("GET", e.Base+"/v1/objects", nil)
	req.Header.Set("Authorization", "Basic "+e.Admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("Basic scheme: status %d, want 401", resp.StatusCode)
	}

	// Revoked: works, then refused from the next request on, without restart.
	tok := e.Token("temp", "", 0, "download")
	harness.MustStatus(t, e.Call(tok, "POST", "/v1/downloads", body), 200)
	var out bytes.Buffer
	if err := cli.Run(context.Background(), []string{"filegate", "token", "revoke", "temp", "--data", e.Data}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	harness.MustStatus(t, e.Call(tok, "POST", "/v1/downloads", body), 401)

	// Expired.
	short := e.Token("short", "", time.Second, "download")
	harness.MustStatus(t, e.Call(short, "POST", "/v1/downloads", body), 200)
	time.Sleep(1100 * time.Millisecond)
	harness.MustStatus(t, e.Call(short, "POST", "/v1/downloads", body), 401)

	// token list shows names and never secrets.
	out.Reset()
	if err := cli.Run(context.Background(), []string{"filegate", "token", "list", "--data", e.Data}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "admin") || !strings.Contains(out.String(), "short") || strings.Contains(out.String(), "temp") {
		t.Errorf("token list:\n%s\nwant admin and short, not the revoked temp", out.String())
	}
	for _, s := range e.ExtraSecrets {
		if strings.Contains(out.String(), s[20:]) {
			t.Error("token list shows a secret")
		}
	}
	// Stored hashed: the token file never holds a secret.
	raw, err := os.ReadFile(filepath.Join(e.Data, "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(e.ExtraSecrets, e.Admin) {
		if bytes.Contains(raw, []byte(s[20:])) {
			t.Error("tokens.json holds a token secret")
		}
	}
}

func TestFilesAndModes(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	for _, name := range []string{"admin.token", "store.json", "tokens.json"} {
		fi, err := os.Stat(filepath.Join(e.Data, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	sf := harness.StoreFileOf(t, e.Data)
	if sf.Endpoint == "" || sf.Region != "us-east-1" || sf.AccessKeyID == "" || sf.SecretAccessKey == "" || sf.Buckets["source"] != "filegate" || sf.Buckets["bundles"] != "filegate-bundles" {
		t.Errorf("store.json = %+v", sf)
	}
	// A second start keeps the credentials and the admin token, and prints no new token.
	admin, secret := e.Admin, sf.SecretAccessKey
	e.Restart()
	if e.Admin != admin {
		t.Error("admin token changed on restart")
	}
	harness.Response{Body: harness.MustRead(t, filepath.Join(e.Data, "store.json"))}.JSON(t, &sf)
	if sf.SecretAccessKey != secret {
		t.Error("store credentials changed on restart")
	}
	harness.MustStatus(t, e.Call(e.Admin, "GET", "/v1/objects", nil), 200)
}

func TestOperationsEndpoints(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	harness.MustStatus(t, e.Call("", "GET", "/healthz", nil), 200)
	harness.MustStatus(t, e.Call("", "GET", "/readyz", nil), 200)
	r := e.Call("", "GET", "/openapi.yaml", nil)
	harness.MustStatus(t, r, 200)
	if !bytes.HasPrefix(r.Body, []byte("openapi: 3")) {
		t.Error("/openapi.yaml does not serve the spec")
	}
	e.Call(e.Admin, "GET", "/v1/objects", nil)
	r = e.Call("", "GET", "/metrics", nil)
	harness.MustStatus(t, r, 200)
	if !bytes.Contains(r.Body, []byte(`filegate_http_requests_total{code="200",method="GET",route="GET /v1/objects"}`)) {
		t.Errorf("metrics lack the request counter:\n%.2000s", r.Body)
	}

	// Unknown route, wrong method, unclean path: problems.
	r = e.Call(e.Admin, "GET", "/v2/nothing", nil)
	harness.MustStatus(t, r, 404)
	if p := r.Problem(t); p["code"] != "not_found" {
		t.Errorf("unknown route code %v", p["code"])
	}
	r = e.Call(e.Admin, "PUT", "/v1/downloads", "{}")
	harness.MustStatus(t, r, 405)
	if r.Header.Get("Allow") != "POST" {
		t.Errorf("Allow = %q, want POST", r.Header.Get("Allow"))
	}
	r.Problem(t)

	// Bad bodies.
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"key":"a","extra":1}`, 400},
		{`{"key":`, 400},
		{`{"key":"a"}{"key":"b"}`, 400},
		{`[]`, 400},
		{``, 400},
		{`{"key":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
	} {
		r := e.Call(e.Admin, "POST", "/v1/downloads", c.body)
		if r.Status != c.status {
			t.Errorf("body %.40q: status %d, want %d", c.body, r.Status, c.status)
		}
		r.Problem(t)
	}
}

func TestReadyzWhenStoreIsDown(t *testing.T) {
	t.Parallel()
	// An external store that does not answer: filegate starts, /readyz says 503.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	e := harness.Start(t, "external", "--endpoint", dead, "--bucket", "b", "--access-key-id", "k", "--secret-access-key", "secret-never-logged", "--store-timeout", "1s")
	harness.MustStatus(t, e.Call("", "GET", "/healthz", nil), 200)
	r := e.Call("", "GET", "/readyz", nil)
	harness.MustStatus(t, r, 503)
	if p := r.Problem(t); p["code"] != "unavailable" {
		t.Errorf("code %v, want unavailable", p["code"])
	}
	// A grant request needing the store is a 503 too, not a 500.
	harness.MustStatus(t, e.Call(e.Admin, "POST", "/v1/downloads", map[string]any{"key": "a"}), 503)
}
