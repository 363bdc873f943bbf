package grant

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/memstore"
)

var alice = &filegate.Principal{ID: "a", Actions: []filegate.Action{filegate.ActDownload}, Prefix: "users/alice/"}

func TestExpiry(t *testing.T) {
	b := memstore.New("b")
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	s := New(b, Limits{DefaultExpiry: time.Minute, MaxExpiry: time.Hour})
	s.now = func() time.Time { return now }
	for _, c := range []struct {
		asked, want time.Duration
		ok          bool
	}{{0, time.Minute, true}, {30 * time.Second, 30 * time.Second, true}, {time.Hour, time.Hour, true}, {time.Hour + time.Second, 0, false}, {time.Millisecond, 0, false}} {
		got, err := s.Expiry(context.Background(), "t", c.asked)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Expiry(%v) = %v, %v; want %v ok=%v", c.asked, got, err, c.want, c.ok)
		}
	}
	// Never beyond the signing credentials.
	b.Expiry = now.Add(10 * time.Minute)
	if got, err := s.Expiry(context.Background(), "t", time.Hour); err != nil || got != 10*time.Minute {
		t.Errorf("with credentials ending in 10 min: %v, %v", got, err)
	}
	b.Expiry = now.Add(-time.Second)
	if _, err := s.Expiry(context.Background(), "t", 0); filegate.KindOf(err) != filegate.Unavailable {
		t.Errorf("with expired credentials: %v", err)
	}
	if l := New(b, Limits{DefaultExpiry: 8 * 24 * time.Hour}).Limits(); l.MaxExpiry != MaxExpiry || l.DefaultExpiry != MaxExpiry {
		t.Errorf("limits = %+v", l)
	}
}

func TestDownload(t *testing.T) {
	b := memstore.New("b")
	_ = b.Put(context.Background(), "users/alice/a.txt", "text/plain", []byte("hello"))
	s := New(b, Limits{})
	d, err := s.Download(context.Background(), alice, DownloadRequest{Key: "users/alice/a.txt", Filename: "C:report.txt"})
	if err != nil || d.Size != 5 || d.ETag == "" || d.Method != "GET" {
		t.Fatalf("Download = %+v, %v", d, err)
	}
	u, _ := url.Parse(d.URL)
	if cd := u.Query().Get("response-content-disposition"); cd != "attachment; filename=C_report.txt" {
		t.Errorf("disposition %q", cd)
	}
	for _, c := range []struct {
		req  DownloadRequest
		kind filegate.Kind
	}{
		{DownloadRequest{Key: "users/alice/missing"}, filegate.NotFound},
		{DownloadRequest{Key: "users/bob/a.txt"}, filegate.Forbidden},
		{DownloadRequest{Key: "users/alice/../bob/a.txt"}, filegate.Invalid},
		{DownloadRequest{Key: "users/alice/a.txt", Disposition: "evil"}, filegate.Invalid},
		{DownloadRequest{Key: "users/alice/a.txt", Filename: strings.Repeat("x", 256)}, filegate.Invalid},
		{DownloadRequest{Key: "users/alice/a.txt", Filename: "..."}, filegate.Invalid},
		{DownloadRequest{Key: "users/alice/a.txt", ExpiresIn: 8 * 24 * time.Hour}, filegate.Invalid},
	} {
		if _, err := s.Download(context.Background(), alice, c.req); filegate.KindOf(err) != c.kind {
			t.Errorf("%+v: %v, want %v", c.req, err, c.kind)
		}
	}
	if d, err := s.Download(context.Background(), alice, DownloadRequest{Key: "users/alice/missing", SkipCheck: true, Disposition: "inline"}); err != nil || d.Size != 0 {
		t.Errorf("SkipCheck: %+v, %v", d, err)
	}
	lister := &filegate.Principal{Actions: []filegate.Action{filegate.ActList}}
	if _, err := s.Download(context.Background(), lister, DownloadRequest{Key: "users/alice/a.txt"}); filegate.KindOf(err) != filegate.Forbidden {
		t.Errorf("a token without download: %v", err)
	}
}
