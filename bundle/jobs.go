package bundle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"sync/atomic"
	"time"

	"github.com/filegate/filegate"
)

// Job is the state of an asynchronous bundle, kept as JSON in the bundle
// bucket (under .filegate/jobs/, outside every token's prefix) so that any
// replica can report it.
type Job struct {
	ID           string    `json:"id"`
	Owner        string    `json:"owner"`
	State        string    `json:"state"` // running, done, failed
	EntriesTotal int       `json:"entries_total"`
	EntriesDone  int       `json:"entries_done"`
	BytesDone    int64     `json:"bytes_done"`
	Key          string    `json:"key"`
	Name         string    `json:"name"`
	Size         int64     `json:"size,omitempty"`
	Skipped      []string  `json:"skipped,omitempty"`
	Error        string    `json:"error,omitempty"`
	ExpiresIn    int64     `json:"expires_in"`
	Updated      time.Time `json:"updated"`
	// URL and ExpiresAt are signed when the job is read, never stored.
	URL       string    `json:"-"`
	ExpiresAt time.Time `json:"-"`
}

// staleAfter is how long a running job may go without saving progress
// before readers report it failed.
var staleAfter = 30 * time.Second

func jobKey(id string) string { return ".filegate/jobs/" + id + ".json" }

func (s *Service) saveJob(ctx context.Context, j *Job) error {
	j.Updated = time.Now().UTC()
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return s.out.Put(ctx, jobKey(j.ID), "application/json", b)
}

// Start writes the plan in the background and returns the job at once.
// Progress is saved about once a second.
func (s *Service) Start(ctx context.Context, plan *Plan) (*Job, error) {
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.jobs.Add(1)
	}
	s.mu.Unlock()
	if closed {
		return nil, filegate.NewError(filegate.Unavailable, "bundle.Start", "", "shutting down")
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	j := &Job{ID: hex.EncodeToString(id), Owner: plan.principal.ID, State: "running", EntriesTotal: len(plan.Entries),
		Key: plan.Key, Name: plan.Name, Skipped: plan.Skipped, ExpiresIn: int64(plan.expires / time.Second)}
	if err := s.saveJob(ctx, j); err != nil {
		s.jobs.Done()
		return nil, err
	}
	go func() {
		defer s.jobs.Done()
		s.run(j, plan)
	}()
	return j, nil
}

func (s *Service) run(j *Job, plan *Plan) {
	ctx := s.base
	var entries, bytes atomic.Int64
	done := make(chan struct{})
	go func() { // progress saver
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				snap := *j
				snap.EntriesDone, snap.BytesDone = int(entries.Load()), bytes.Load()
				_ = s.saveJob(ctx, &snap)
			}
		}
	}()
	res, err := s.Create(ctx, plan, func(_ Entry, n int64, _ time.Duration) {
		entries.Add(1)
		bytes.Add(n)
	})
	close(done)
	j.EntriesDone, j.BytesDone = int(entries.Load()), bytes.Load()
	if err != nil {
		j.State = "failed"
		j.Error = "bundle failed"
		var fe *filegate.Error
		if errors.As(err, &fe) && fe.Kind != filegate.Internal && fe.Msg != "" {
			j.Error = fe.Msg
		}
		if ctx.Err() != nil {
			j.Error = "interrupted: filegate shut down"
		}
	} else {
		j.State, j.Size, j.EntriesDone = "done", res.Size, len(plan.Entries)
	}
	save, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = s.saveJob(save, j)
}

// Job reports a job of p's; when done, with a fresh link.
func (s *Service) Job(ctx context.Context, p *filegate.Principal, id string) (*Job, error) {
	const op = "bundle.Job"
	if len(id) != 32 || !isHex(id) {
		return nil, filegate.NewError(filegate.NotFound, op, "unknown_job", "no such bundle job")
	}
	body, _, err := s.out.Get(ctx, jobKey(id))
	if err != nil {
		if filegate.KindOf(err) == filegate.NotFound {
			return nil, filegate.NewError(filegate.NotFound, op, "unknown_job", "no such bundle job")
		}
		return nil, err
	}
	defer body.Close()
	var j Job
	if err := json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&j); err != nil {
		return nil, filegate.NewError(filegate.Internal, op, "", "").Wrap(fmt.Errorf("job %s: %w", id, err))
	}
	if j.Owner != p.ID {
		return nil, filegate.NewError(filegate.Forbidden, op, "job_not_yours", "this bundle job belongs to another token")
	}
	// A running job's filegate saves progress every second; silence means
	// it died with the job (its multipart upload is then left for the
	// bucket's abort-incomplete lifecycle rule).
	if j.State == "running" && time.Since(j.Updated) > staleAfter {
		j.State, j.Error = "failed", "interrupted: the filegate running it stopped responding"
	}
	if j.State == "done" {
		g, err := s.out.PresignGet(ctx, j.Key, filegate.GetOptions{
			Expires: time.Duration(j.ExpiresIn) * time.Second, ContentDisposition: mime.FormatMediaType("attachment", map[string]string{"filename": j.Name}),
		})
		if err != nil {
			return nil, err
		}
		j.URL, j.ExpiresAt = g.URL, g.Expires
	}
	return &j, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// Close stops taking jobs, cancels the running ones (their uploads are
// aborted and they are marked failed) and waits for them.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.jobs.Wait()
}
