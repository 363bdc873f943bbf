package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/harness"
)

func cloudfrontFlags(t *testing.T, extra ...string) []string {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cf.pem")
	writeFile(t, p, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	return append([]string{"--cloudfront-domain", "d111.cloudfront.net", "--cloudfront-key-id", "K2JCJMDEHXQW5F", "--cloudfront-private-key", p}, extra...)
}

func TestCloudFrontDownloadsAndCookies(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded", cloudfrontFlags(t)...)
	e.Put("users/alice/a.jpg", []byte("jpeg"))
	alice := e.Token("alice", "users/alice/", 0, "list", "download")

	// via cloudfront: a CloudFront signed URL, after the existence check.
	r := e.Call(alice, "POST", "/v1/downloads", map[string]any{"key": "users/alice/a.jpg", "via": "cloudfront", "expires_in": 600})
	harness.MustStatus(t, r, 200)
	var d struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
		Size      int64     `json:"size"`
	}
	r.JSON(t, &d)
	u, err := url.Parse(d.URL)
	if err != nil || u.Host != "d111.cloudfront.net" || u.Path != "/users/alice/a.jpg" || u.Query().Get("Key-Pair-Id") != "K2JCJMDEHXQW5F" || u.Query().Get("Signature") == "" {
		t.Fatalf("CloudFront URL %s", d.URL)
	}
	if exp, _ := strconv.ParseInt(u.Query().Get("Expires"), 10, 64); exp != d.ExpiresAt.Unix() || time.Until(d.ExpiresAt) > 601*time.Second || d.Size != 4 {
		t.Fatalf("expiry %s vs %v, size %d", u.Query().Get("Expires"), d.ExpiresAt, d.Size)
	}
	// With conditions: a custom policy.
	r = e.Call(alice, "POST", "/v1/downloads", map[string]any{"key": "users/alice/a.jpg", "via": "cloudfront", "source_ip": "192.0.2.0/24", "not_before": time.Now().Add(time.Minute).UTC().Format(time.RFC3339)})
	harness.MustStatus(t, r, 200)
	r.JSON(t, &d)
	if !strings.Contains(d.URL, "Policy=") || strings.Contains(d.URL, "Expires=") {
		t.Fatalf("custom-policy URL %s", d.URL)
	}
	// The same scope and existence rules as S3 grants; bad conditions refused.
	for _, c := range []struct {
		body map[string]any
		want int
	}{
		{map[string]any{"key": "users/alice/missing.jpg", "via": "cloudfront"}, 404},
		{map[string]any{"key": "users/bob/a.jpg", "via": "cloudfront"}, 403},
		{map[string]any{"key": "users/alice/a.jpg", "via": "cloudfront", "source_ip": "not-an-ip"}, 400},
		{map[string]any{"key": "users/alice/a.jpg", "via": "s3", "source_ip": "192.0.2.0/24"}, 400},
		{map[string]any{"key": "users/alice/a.jpg", "via": "ftp"}, 400},
	} {
		if r := e.Call(alice, "POST", "/v1/downloads", c.body); r.Status != c.want {
			t.Errorf("%v: %d, want %d: %s", c.body, r.Status, c.want, r.Body)
		}
	}
	// Without via, the default is still S3.
	r = e.Call(alice, "POST", "/v1/downloads", map[string]any{"key": "users/alice/a.jpg"})
	harness.MustStatus(t, r, 200)
	r.JSON(t, &d)
	if strings.Contains(d.URL, "cloudfront.net") {
		t.Fatalf("default grant went through CloudFront: %s", d.URL)
	}

	// Cookies for the caller's prefix.
	status, h, body := e.Raw(alice, "POST", "/v1/cookies", "application/json", []byte(`{"expires_in":900}`))
	if status != 200 {
		t.Fatalf("cookies: %d %s", status, body)
	}
	resp := http.Response{Header: h}
	cookies := resp.Cookies()
	if len(cookies) != 3 {
		t.Fatalf("Set-Cookie: %v", h.Values("Set-Cookie"))
	}
	names := map[string]bool{}
	for _, c := range cookies {
		names[c.Name] = true
		if !c.Secure || !c.HttpOnly || c.Domain != "d111.cloudfront.net" || c.Path != "/" || c.Value == "" ||
			time.Until(c.Expires) > 901*time.Second || time.Until(c.Expires) < 800*time.Second {
			t.Errorf("cookie %s: %+v", c.Name, c)
		}
	}
	if !names["CloudFront-Policy"] || !names["CloudFront-Signature"] || !names["CloudFront-Key-Pair-Id"] {
		t.Fatalf("cookie names %v", names)
	}
	if !strings.Contains(string(body), `"resource":"https://d111.cloudfront.net/users/alice/*"`) {
		t.Fatalf("cookies body %s", body)
	}
	for _, c := range []struct {
		body string
		want int
	}{
		{`{"prefix":"users/alice/sub/"}`, 200},
		{`{"prefix":"users/bob/"}`, 403},
		{`{"prefix":"users/"}`, 403},
		{`{"prefix":"users/alice/*/"}`, 400},
	} {
		if status, _, body := e.Raw(alice, "POST", "/v1/cookies", "application/json", []byte(c.body)); status != c.want {
			t.Errorf("cookies %s: %d, want %d: %s", c.body, status, c.want, body)
		}
	}
	noDownload := e.Token("lister", "users/alice/", 0, "list")
	if status, _, _ := e.Raw(noDownload, "POST", "/v1/cookies", "application/json", nil); status != 403 {
		t.Errorf("cookies for a token that may not download: %d", status)
	}
}

func TestCloudFrontByDefaultAndUnconfigured(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded", cloudfrontFlags(t, "--downloads-via", "cloudfront")...)
	e.Put("k.txt", []byte("x"))
	r := e.Call(e.Admin, "POST", "/v1/downloads", map[string]any{"key": "k.txt"})
	harness.MustStatus(t, r, 200)
	if !strings.Contains(string(r.Body), "https://d111.cloudfront.net/k.txt?Expires=") {
		t.Fatalf("--downloads-via cloudfront: %s", r.Body)
	}
	r = e.Call(e.Admin, "POST", "/v1/downloads", map[string]any{"key": "k.txt", "via": "s3"})
	if harness.MustStatus(t, r, 200); strings.Contains(string(r.Body), "cloudfront.net") {
		t.Fatalf("via s3: %s", r.Body)
	}

	plain := harness.Start(t, "embedded")
	plain.Put("k.txt", []byte("x"))
	if r := plain.Call(plain.Admin, "POST", "/v1/downloads", map[string]any{"key": "k.txt", "via": "cloudfront"}); r.Status != 501 || r.Problem(t)["code"] != "cloudfront_unavailable" {
		t.Fatalf("via cloudfront without a distribution: %d %s", r.Status, r.Body)
	}
	if status, _, body := plain.Raw(plain.Admin, "POST", "/v1/cookies", "application/json", nil); status != 501 {
		t.Fatalf("cookies without a distribution: %d %s", status, body)
	}
}

func TestCloudFrontUploads(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded", cloudfrontFlags(t, "--cloudfront-uploads")...)
	alice := e.Token("alice", "users/alice/", 0, "upload")
	r := e.Call(alice, "POST", "/v1/uploads", map[string]any{"key": "users/alice/v.mp4", "size": 200 << 20, "content_type": "video/mp4", "via": "cloudfront"})
	harness.MustStatus(t, r, 200)
	var up struct {
		Type    string            `json:"type"`
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	}
	r.JSON(t, &up)
	u, err := url.Parse(up.URL)
	if err != nil || up.Type != "put" || up.Method != "PUT" || u.Host != "d111.cloudfront.net" || u.Path != "/users/alice/v.mp4" ||
		u.Query().Get("x-filegate-length") != "209715200" || u.Query().Get("Policy") == "" {
		t.Fatalf("CloudFront PUT grant %+v", up)
	}
	if up.Headers["Content-Length"] != "209715200" || up.Headers["Content-Type"] != "video/mp4" {
		t.Fatalf("headers %v", up.Headers)
	}
	for _, c := range []struct {
		body map[string]any
		want int
	}{
		{map[string]any{"key": "users/bob/v.mp4", "size": 10, "via": "cloudfront"}, 403},
		{map[string]any{"key": "users/alice/big.bin", "size": 6 << 30, "via": "cloudfront"}, 413},
		{map[string]any{"key": "users/alice/m.bin", "size": 10, "via": "cloudfront", "metadata": map[string]string{"a": "b"}}, 400},
	} {
		if r := e.Call(alice, "POST", "/v1/uploads", c.body); r.Status != c.want {
			t.Errorf("%v: %d, want %d: %s", c.body, r.Status, c.want, r.Body)
		}
	}
	off := harness.Start(t, "embedded", cloudfrontFlags(t)...)
	if r := off.Call(off.Admin, "POST", "/v1/uploads", map[string]any{"key": "x.bin", "size": 10, "via": "cloudfront"}); r.Status != 501 {
		t.Fatalf("without --cloudfront-uploads: %d %s", r.Status, r.Body)
	}
}
