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
)

func TestListFoldersAndPagination(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		for i := range 5 {
			e.put(fmt.Sprintf("docs/a%d.txt", i), []byte("x"))
		}
		e.put("docs/sub/deep.txt", []byte("y"))
		e.put("pics/cat.jpg", []byte("z"))
		e.put("top.txt", []byte("t"))

		var root listResp
		r := e.call(e.admin, "GET", "/v1/objects?delimiter=/", nil)
		mustStatus(t, r, 200)
		r.json(t, &root)
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
			r := e.call(e.admin, "GET", "/v1/objects?"+q.Encode(), nil)
			mustStatus(t, r, 200)
			r.json(t, &page)
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
			r := e.call(e.admin, "GET", "/v1/objects"+bad, nil)
			if r.status != 400 {
				t.Errorf("GET /v1/objects%s: status %d, want 400", bad, r.status)
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

func mustStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body: %s", r.status, want, r.body)
	}
}

func fetch(t *testing.T, rawURL string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func TestDownloadGrant(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		body := bytes.Repeat([]byte("filegate\x00\xff"), 1000)
		e.put("reports/q3 final (v2)+ü.bin", body)

		var d downloadResp
		r := e.call(e.admin, "POST", "/v1/downloads", map[string]any{"key": "reports/q3 final (v2)+ü.bin", "filename": "Überblick – Q3.bin"})
		mustStatus(t, r, 200)
		r.json(t, &d)
		if d.Method != "GET" || d.Size == nil || *d.Size != int64(len(body)) || d.ETag == "" {
			t.Errorf("grant = %+v, want GET with size %d and an etag", d, len(body))
		}
		if left := time.Until(d.ExpiresAt); left < 14*time.Minute || left > 16*time.Minute {
			t.Errorf("expires in %v, want the 15 min default", left)
		}
		status, got, h := fetch(t, d.URL)
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
		e.put("reports/q4 final (v2)+ü.bin", []byte("secret"))
		if status, got, _ := fetch(t, other.String()); status != 403 || bytes.Contains(got, []byte("secret")) {
			t.Errorf("tampered key: status %d, want 403 and no bytes", status)
		}
		q := u.Query()
		sig := q.Get("X-Amz-Signature")
		q.Set("X-Amz-Signature", strings.Repeat("0", len(sig)))
		tampered := *u
		tampered.RawQuery = q.Encode()
		if status, _, _ := fetch(t, tampered.String()); status != 403 {
			t.Errorf("tampered signature: status %d, want 403", status)
		}
		q = u.Query()
		q.Set("X-Amz-Expires", "604800")
		tampered.RawQuery = q.Encode()
		if status, _, _ := fetch(t, tampered.String()); status != 403 {
			t.Errorf("tampered expiry: status %d, want 403", status)
		}

		// Expired.
		r = e.call(e.admin, "POST", "/v1/downloads", map[string]any{"key": "reports/q3 final (v2)+ü.bin", "expires_in": 1})
		mustStatus(t, r, 200)
		r.json(t, &d)
		time.Sleep(2100 * time.Millisecond)
		if status, got, _ := fetch(t, d.URL); status != 403 || bytes.Equal(got, body) {
			t.Errorf("expired grant: status %d, want 403", status)
		}

		// The redirect form.
		r = e.call(e.admin, "GET", "/v1/objects/reports/q3%20final%20(v2)+%C3%BC.bin?disposition=inline", nil)
		mustStatus(t, r, 302)
		if status, got, _ := fetch(t, r.header.Get("Location")); status != 200 || !bytes.Equal(got, body) {
			t.Errorf("redirect target: status %d, want 200 and the bytes", status)
		}

		// Without the existence check: no size, still a working URL.
		r = e.call(e.admin, "POST", "/v1/downloads", map[string]any{"key": "reports/q3 final (v2)+ü.bin", "check": false})
		mustStatus(t, r, 200)
		var unchecked downloadResp
		r.json(t, &unchecked)
		if unchecked.Size != nil {
			t.Errorf("unchecked grant has a size")
		}
		if status, _, _ := fetch(t, unchecked.URL); status != 200 {
			t.Errorf("unchecked grant: status %d", status)
		}
	})
}

func TestDownloadMissingKey(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		r := e.call(e.admin, "POST", "/v1/downloads", map[string]any{"key": "nope/missing.txt"})
		mustStatus(t, r, 404)
		p := r.problem(t)
		if p["code"] != "not_found" || bytes.Contains(r.body, []byte("X-Amz")) {
			t.Errorf("problem = %v, want code not_found and no URL", p)
		}
		r = e.call(e.admin, "GET", "/v1/objects/nope/missing.txt", nil)
		mustStatus(t, r, 404)
		if r.header.Get("Location") != "" {
			t.Error("404 carries a Location")
		}
	})
}

func TestExpiryBounds(t *testing.T) {
	e := start(t, "embedded", "--max-expiry", "1h", "--default-expiry", "90s")
	e.put("a.txt", []byte("a"))
	var d downloadResp
	r := e.call(e.admin, "POST", "/v1/downloads", map[string]any{"key": "a.txt"})
	mustStatus(t, r, 200)
	r.json(t, &d)
	if left := time.Until(d.ExpiresAt); left < 80*time.Second || left > 95*time.Second {
		t.Errorf("default expiry %v, want 90s", left)
	}
	if !strings.Contains(d.URL, "X-Amz-Expires=90&") {
		t.Errorf("URL does not sign 90 s: %s", d.URL)
	}
	for _, secs := range []any{0, -5, 3601, 604801, 1e12, "60", 1.5} {
		r := e.call(e.admin, "POST", "/v1/downloads", map[string]any{"key": "a.txt", "expires_in": secs})
		if r.status != 400 || bytes.Contains(r.body, []byte("X-Amz")) {
			t.Errorf("expires_in %v: status %d, want 400 and no URL", secs, r.status)
		} else if p := r.problem(t); p["code"] != "invalid_expiry" {
			t.Errorf("expires_in %v: code %v, want invalid_expiry", secs, p["code"])
		}
	}
	r = e.call(e.admin, "POST", "/v1/downloads", map[string]any{"key": "a.txt", "expires_in": 3600})
	mustStatus(t, r, 200)
}

func TestScopeEscapes(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		alice := e.token("alice", "users/alice", 0, "list", "download")
		e.put("users/alice/x", []byte("mine"))
		e.put("users/bob/x", []byte("bob's"))
		e.put("users/alice2/x", []byte("neighbour"))
		e.put("x", []byte("root"))

		r := e.call(alice, "POST", "/v1/downloads", map[string]any{"key": "users/alice/x"})
		mustStatus(t, r, 200)

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
			r := e.call(alice, "POST", "/v1/downloads", map[string]any{"key": c.key})
			if r.status != c.status || bytes.Contains(r.body, []byte("X-Amz")) {
				t.Errorf("download %q: status %d, want %d and no URL; body %s", c.key, r.status, c.status, r.body)
			}
		}
		// The same through the redirect route, with raw percent-encodings in the path.
		for _, p := range []string{"users/alice/%2e%2e/bob/x", "users/alice/..%2Fbob/x", "users/alice2/x", "users/bob/x", "users%2Fbob%2Fx", "users/alice/%FF", "users/alice/%00"} {
			r := e.call(alice, "GET", "/v1/objects/"+p, nil)
			if r.status != 400 && r.status != 403 || r.header.Get("Location") != "" {
				t.Errorf("redirect %q: status %d, want 400 or 403 and no Location", p, r.status)
			}
		}
		// Listing a neighbour prefix, or the root.
		for _, p := range []string{"users/", "users/alice2/", "users/bob/", "users/alice/../bob/"} {
			r := e.call(alice, "GET", "/v1/objects?prefix="+url.QueryEscape(p), nil)
			if r.status != 403 && r.status != 400 {
				t.Errorf("list %q: status %d, want 403 or 400", p, r.status)
			}
		}
		var own listResp
		r = e.call(alice, "GET", "/v1/objects", nil)
		mustStatus(t, r, 200)
		r.json(t, &own)
		if len(own.Objects) != 1 || own.Objects[0].Key != "users/alice/x" {
			t.Errorf("alice lists %+v, want only users/alice/x", own.Objects)
		}
		// A token without the download action.
		lister := e.token("lister", "", 0, "list")
		r = e.call(lister, "POST", "/v1/downloads", map[string]any{"key": "x"})
		mustStatus(t, r, 403)
		if p := r.problem(t); p["code"] != "action_not_allowed" {
			t.Errorf("code = %v, want action_not_allowed", p["code"])
		}
		// Nothing was written by any of this.
		out, err := e.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &e.bucket})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 4 {
			t.Errorf("%d objects in the bucket, want the 4 seeded", len(out.Contents))
		}
	})
}

func TestAuthentication(t *testing.T) {
	e := start(t, "embedded")
	e.put("a.txt", []byte("a"))
	body := map[string]any{"key": "a.txt"}

	r := e.call("", "POST", "/v1/downloads", body)
	mustStatus(t, r, 401)
	if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("WWW-Authenticate = %q, want Bearer", got)
	}
	if p := r.problem(t); p["code"] != "missing_token" {
		t.Errorf("code = %v, want missing_token", p["code"])
	}
	// A well-formed token whose secret is wrong, garbage, another scheme.
	wrong := e.admin[:len(e.admin)-4] + "AAAA"
	for _, tok := range []string{wrong, "fg_0000000000000000_" + strings.Repeat("A", 43), "nonsense", "fg_", "fg__"} {
		r := e.call(tok, "POST", "/v1/downloads", body)
		if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("token %q: status %d, want 401 invalid_token", tok, r.status)
		}
	}
	req, _ := http.NewRequest("GET", e.base+"/v1/objects", nil)
	req.Header.Set("Authorization", "Basic "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("Basic scheme: status %d, want 401", resp.StatusCode)
	}

	// Revoked: works, then refused from the next request on, without restart.
	tok := e.token("temp", "", 0, "download")
	mustStatus(t, e.call(tok, "POST", "/v1/downloads", body), 200)
	var out bytes.Buffer
	if err := cli.Run(context.Background(), []string{"filegate", "token", "revoke", "temp", "--data", e.data}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, e.call(tok, "POST", "/v1/downloads", body), 401)

	// Expired.
	short := e.token("short", "", time.Second, "download")
	mustStatus(t, e.call(short, "POST", "/v1/downloads", body), 200)
	time.Sleep(1100 * time.Millisecond)
	mustStatus(t, e.call(short, "POST", "/v1/downloads", body), 401)

	// token list shows names and never secrets.
	out.Reset()
	if err := cli.Run(context.Background(), []string{"filegate", "token", "list", "--data", e.data}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "admin") || !strings.Contains(out.String(), "short") || strings.Contains(out.String(), "temp") {
		t.Errorf("token list:\n%s\nwant admin and short, not the revoked temp", out.String())
	}
	for _, s := range e.extraSecrets {
		if strings.Contains(out.String(), s[20:]) {
			t.Error("token list shows a secret")
		}
	}
	// Stored hashed: the token file never holds a secret.
	raw, err := os.ReadFile(filepath.Join(e.data, "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(e.extraSecrets, e.admin) {
		if bytes.Contains(raw, []byte(s[20:])) {
			t.Error("tokens.json holds a token secret")
		}
	}
}

func TestFilesAndModes(t *testing.T) {
	e := start(t, "embedded")
	for _, name := range []string{"admin.token", "store.json", "tokens.json"} {
		fi, err := os.Stat(filepath.Join(e.data, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	sf := storeFileOf(t, e.data)
	if sf.Endpoint == "" || sf.Region != "us-east-1" || sf.AccessKeyID == "" || sf.SecretAccessKey == "" || sf.Buckets["source"] != "filegate" || sf.Buckets["bundles"] != "filegate-bundles" {
		t.Errorf("store.json = %+v", sf)
	}
	// A second start keeps the credentials and the admin token, and prints no new token.
	admin, secret := e.admin, sf.SecretAccessKey
	e.restart()
	if e.admin != admin {
		t.Error("admin token changed on restart")
	}
	response{body: mustRead(t, filepath.Join(e.data, "store.json"))}.json(t, &sf)
	if sf.SecretAccessKey != secret {
		t.Error("store credentials changed on restart")
	}
	mustStatus(t, e.call(e.admin, "GET", "/v1/objects", nil), 200)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOperationsEndpoints(t *testing.T) {
	e := start(t, "embedded")
	mustStatus(t, e.call("", "GET", "/healthz", nil), 200)
	mustStatus(t, e.call("", "GET", "/readyz", nil), 200)
	r := e.call("", "GET", "/openapi.yaml", nil)
	mustStatus(t, r, 200)
	if !bytes.HasPrefix(r.body, []byte("openapi: 3")) {
		t.Error("/openapi.yaml does not serve the spec")
	}
	e.call(e.admin, "GET", "/v1/objects", nil)
	r = e.call("", "GET", "/metrics", nil)
	mustStatus(t, r, 200)
	if !bytes.Contains(r.body, []byte(`filegate_http_requests_total{code="200",method="GET",route="GET /v1/objects"}`)) {
		t.Errorf("metrics lack the request counter:\n%.2000s", r.body)
	}

	// Unknown route, wrong method, unclean path: problems.
	r = e.call(e.admin, "GET", "/v2/nothing", nil)
	mustStatus(t, r, 404)
	if p := r.problem(t); p["code"] != "not_found" {
		t.Errorf("unknown route code %v", p["code"])
	}
	r = e.call(e.admin, "PUT", "/v1/downloads", "{}")
	mustStatus(t, r, 405)
	if r.header.Get("Allow") != "POST" {
		t.Errorf("Allow = %q, want POST", r.header.Get("Allow"))
	}
	r.problem(t)

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
		r := e.call(e.admin, "POST", "/v1/downloads", c.body)
		if r.status != c.status {
			t.Errorf("body %.40q: status %d, want %d", c.body, r.status, c.status)
		}
		r.problem(t)
	}
}

func TestReadyzWhenStoreIsDown(t *testing.T) {
	// An external store that does not answer: filegate starts, /readyz says 503.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	e := start(t, "external", "--endpoint", dead, "--bucket", "b", "--access-key-id", "k", "--secret-access-key", "secret-never-logged")
	mustStatus(t, e.call("", "GET", "/healthz", nil), 200)
	r := e.call("", "GET", "/readyz", nil)
	mustStatus(t, r, 503)
	if p := r.problem(t); p["code"] != "unavailable" {
		t.Errorf("code %v, want unavailable", p["code"])
	}
	// A grant request needing the store is a 503 too, not a 500.
	mustStatus(t, e.call(e.admin, "POST", "/v1/downloads", map[string]any{"key": "a"}), 503)
}
