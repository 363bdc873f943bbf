// Package sweep aborts the multipart uploads filegate started and no
// longer tracks: bundles whose writer died (kill -9, a lost machine) and
// upload sessions past their expiry. Stores without lifecycle rules (the
// embedded store, MinIO without ILM) would otherwise keep their parts
// forever.
package sweep

import (
	"context"
	"log/slog"
	"regexp"
	"time"

	"github.com/filegate/filegate"
)

// bundleKey matches the keys bundles are written to:
// <scope prefix>bundles/<32 hex>/<name>.
var bundleKey = regexp.MustCompile(`(^|/)bundles/[0-9a-f]{32}/[^/]+$`)

// IsBundleKey reports whether key is where a bundle is written.
func IsBundleKey(key string) bool { return bundleKey.MatchString(key) }

// Config says what to sweep.
type Config struct {
	Bundles filegate.Bucket // where bundles are written
	Source  filegate.Bucket // where users upload
	// BundleAge: a bundle upload older than this is abandoned (its writer
	// is gone). SessionAge: an upload session older than this has expired.
	BundleAge  time.Duration
	SessionAge time.Duration
	Every      time.Duration // how often Run sweeps; default BundleAge/2, at most 10 min
	Log        *slog.Logger
	Now        func() time.Time
}

// Sweeper aborts abandoned multipart uploads.
type Sweeper struct{ cfg Config }

// New returns a Sweeper.
func New(cfg Config) *Sweeper {
	if cfg.Every <= 0 {
		cfg.Every = min(max(cfg.BundleAge/2, time.Second), 10*time.Minute)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sweeper{cfg: cfg}
}

// Once sweeps both buckets and returns how many uploads it aborted.
// In the bundle bucket, a bundle key older than BundleAge is aborted; every
// other upload (in either bucket) older than SessionAge is. When both
// buckets are one, its bundle keys follow the bundle rule.
func (s *Sweeper) Once(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	aborted := 0
	buckets := []filegate.Bucket{s.cfg.Bundles}
	if s.cfg.Source.Name() != s.cfg.Bundles.Name() {
		buckets = append(buckets, s.cfg.Source)
	}
	for i, b := range buckets {
		ups, err := b.ListUploads(ctx, "")
		if err != nil {
			return aborted, err
		}
		for _, u := range ups {
			age := now.Sub(u.Initiated)
			limit := s.cfg.SessionAge
			if i == 0 && IsBundleKey(u.Key) {
				limit = s.cfg.BundleAge
			}
			if age <= limit {
				continue
			}
			if err := b.AbortUpload(ctx, u.Key, u.ID); err != nil {
				s.cfg.Log.Warn("sweep: abort failed", "bucket", b.Name(), "key", u.Key, "err", err.Error())
				continue
			}
			aborted++
			s.cfg.Log.Info("sweep: aborted an abandoned multipart upload", "bucket", b.Name(), "key", u.Key, "age", age.Round(time.Second).String())
		}
	}
	return aborted, nil
}

// Run sweeps now and then every cfg.Every until ctx is done.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Every)
	defer t.Stop()
	for {
		if _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Log.Warn("sweep failed", "err", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
