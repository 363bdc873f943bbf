package sweep

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/filegate/filegate/memstore"
)

// seed opens multipart uploads in b at the given ages.
func seed(t *testing.T, b *memstore.Bucket, now time.Time, ages map[string]time.Duration) {
	t.Helper()
	for key, age := range ages {
		b.Now = func() time.Time { return now.Add(-age) }
		if _, err := b.CreateUpload(context.Background(), key, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	b.Now = func() time.Time { return now }
}

func left(t *testing.T, b *memstore.Bucket) []string {
	t.Helper()
	ups, err := b.ListUploads(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range ups {
		keys = append(keys, u.Key)
	}
	slices.Sort(keys)
	return keys
}

func TestOnce(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	bk := "users/a/bundles/0123456789abcdef0123456789abcdef/b.zip"
	fresh := "users/a/bundles/0123456789abcdef0123456789abcdef/new.zip"
	cfg := func(out, src *memstore.Bucket) Config {
		return Config{Bundles: out, Source: src, BundleAge: time.Hour, SessionAge: 7 * 24 * time.Hour, Now: func() time.Time { return now }}
	}
	t.Run("two buckets", func(t *testing.T) {
		out, src := memstore.New("B"), memstore.New("S")
		seed(t, out, now, map[string]time.Duration{bk: 2 * time.Hour, fresh: time.Minute, "old-session.bin": 8 * 24 * time.Hour})
		// In the source bucket a bundle-like key is a session: 7 days.
		seed(t, src, now, map[string]time.Duration{"old-session.bin": 8 * 24 * time.Hour, "users/a/bundles/0123456789abcdef0123456789abcdef/x.zip": 2 * time.Hour, "fresh.bin": time.Hour})
		n, err := New(cfg(out, src)).Once(context.Background())
		if err != nil || n != 3 {
			t.Fatalf("Once = %d, %v", n, err)
		}
		if got := left(t, out); !slices.Equal(got, []string{fresh}) {
			t.Errorf("bundle bucket keeps %q", got)
		}
		if got := left(t, src); !slices.Equal(got, []string{"fresh.bin", "users/a/bundles/0123456789abcdef0123456789abcdef/x.zip"}) {
			t.Errorf("source bucket keeps %q", got)
		}
	})
	t.Run("one bucket", func(t *testing.T) {
		b := memstore.New("S")
		seed(t, b, now, map[string]time.Duration{bk: 2 * time.Hour, fresh: time.Minute, "old-session.bin": 8 * 24 * time.Hour, "fresh.bin": 3 * time.Hour})
		n, err := New(cfg(b, b)).Once(context.Background())
		if err != nil || n != 2 {
			t.Fatalf("Once = %d, %v", n, err)
		}
		if got := left(t, b); !slices.Equal(got, []string{"fresh.bin", fresh}) {
			t.Errorf("bucket keeps %q", got)
		}
	})
}

func TestIsBundleKey(t *testing.T) {
	for k, want := range map[string]bool{
		"bundles/0123456789abcdef0123456789abcdef/a.zip":     true,
		"u/x/bundles/0123456789abcdef0123456789abcdef/a.zip": true,
		"u/xbundles/0123456789abcdef0123456789abcdef/a.zip":  false,
		"bundles/0123456789abcdef0123456789abcdef/sub/a.zip": false,
		"bundles/0123456789ABCDEF0123456789abcdef/a.zip":     false,
		"photos/bundles/short/a.zip":                         false,
	} {
		if IsBundleKey(k) != want {
			t.Errorf("IsBundleKey(%q) = %v", k, !want)
		}
	}
}
