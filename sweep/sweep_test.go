package sweep

import (
	"context"
	"testing"
	"time"

	"github.com/filegate/filegate/store"
)

type fakeStore struct {
	ups     map[string][]store.Upload
	aborted []string
}

func (f *fakeStore) ListUploads(_ context.Context, bucket, _ string) ([]store.Upload, error) {
	return f.ups[bucket], nil
}

func (f *fakeStore) AbortUpload(_ context.Context, bucket, key, _ string) error {
	f.aborted = append(f.aborted, bucket+"/"+key)
	return nil
}

func TestOnce(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	bk := "users/a/bundles/0123456789abcdef0123456789abcdef/b.zip"
	for _, c := range []struct {
		name            string
		bundles, source string
		want            []string
	}{
		{"two buckets", "B", "S", []string{"B/" + bk, "B/old-session.bin", "S/old-session.bin"}},
		{"one bucket", "S", "S", []string{"S/old-session.bin", "S/" + bk}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeStore{ups: map[string][]store.Upload{
				c.bundles: {
					{Key: bk, Initiated: now.Add(-2 * time.Hour)},
					{Key: "users/a/bundles/0123456789abcdef0123456789abcdef/new.zip", Initiated: now.Add(-time.Minute)},
					{Key: "old-session.bin", Initiated: now.Add(-8 * 24 * time.Hour)},
				},
			}}
			if c.source != c.bundles {
				f.ups[c.source] = []store.Upload{
					{Key: "old-session.bin", Initiated: now.Add(-8 * 24 * time.Hour)},
					{Key: "users/a/bundles/0123456789abcdef0123456789abcdef/x.zip", Initiated: now.Add(-2 * time.Hour)}, // a session, not a bundle: 7 days
					{Key: "fresh.bin", Initiated: now.Add(-time.Hour)},
				}
			} else {
				f.ups[c.source] = append(f.ups[c.source], store.Upload{Key: "fresh.bin", Initiated: now.Add(-3 * time.Hour)})
			}
			s := New(f, Config{Bundles: c.bundles, Source: c.source, BundleAge: time.Hour, SessionAge: 7 * 24 * time.Hour, Now: func() time.Time { return now }})
			n, err := s.Once(context.Background())
			if err != nil || n != len(c.want) {
				t.Fatalf("Once = %d, %v; aborted %v, want %v", n, err, f.aborted, c.want)
			}
			for _, w := range c.want {
				found := false
				for _, a := range f.aborted {
					found = found || a == w
				}
				if !found {
					t.Errorf("%s not aborted (aborted %v)", w, f.aborted)
				}
			}
		})
	}
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
