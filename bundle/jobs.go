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
	"strings"
	"sync/atomic"
	"time"

	"github.com/filegate/filegate"
)

// Documents are small JSON documents written with conditional writes, so
// that two replicas never both believe they hold a job (package store's
// Documents over the bundle bucket).
type Documents interface {
	// Load returns a document and its version; (nil, "", nil) when absent.
	Load(ctx context.Context, key, known string) ([]byte, string, error)
	// Save writes it if its version is still version ("": absent), or
	// fails with a Conflict.
	Save(ctx context.Context, key string, content []byte, version string) (string, error)
}

// maxAttempts is how many replicas may take a job up before it is failed.
const maxAttempts = 3

// Job is the state of an asynchronous bundle, kept as JSON in the bundle
// bucket (under .filegate/jobs/, outside every token's prefix) so that any
// replica can report it, and take it over when the replica running it
// stops renewing its lease.
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
	// Holder is the replica running the job ("" while it waits to be
	// taken up), until LeaseUntil; Attempts counts the replicas that took
	// it up.
	Holder     string    `json:"holder"`
	LeaseUntil time.Time `json:"lease_until"`
	Attempts   int       `json:"attempts"`
	// What to do and for whom, so that another replica can redo it.
	Request   jobRequest   `json:"request"`
	Principal jobPrincipal `json:"principal"`
	// URL and ExpiresAt are signed when the job is read, never stored.
	URL       string    `json:"-"`
	ExpiresAt time.Time `json:"-"`
}

type jobRequest struct {
	Keys        []string `json:"keys,omitempty"`
	Prefix      string   `json:"prefix,omitempty"`
	Name        string   `json:"name,omitempty"`
	ExpiresIn   int64    `json:"expires_in,omitempty"`
	Compression Method   `json:"compression,omitempty"`
	Missing     string   `json:"missing,omitempty"`
}

type jobPrincipal struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Actions []filegate.Action `json:"actions"`
	Prefix  string            `json:"prefix"`
}

func jobKey(id string) string { return ".filegate/jobs/" + id + ".json" }

// save writes j if its stored version is still version.
func (s *Service) save(ctx context.Context, j *Job, version string) (string, error) {
	j.Updated = time.Now().UTC()
	b, err := json.Marshal(j)
	if err != nil {
		return "", err
	}
	return s.cfg.Jobs.Save(ctx, jobKey(j.ID), b, version)
}

func (s *Service) load(ctx context.Context, id string) (*Job, string, error) {
	b, v, err := s.cfg.Jobs.Load(ctx, jobKey(id), "")
	if err != nil {
		return nil, "", err
	}
	if b == nil {
		return nil, "", filegate.NewError(filegate.NotFound, "bundle.job", "unknown_job", "no such bundle job")
	}
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, "", filegate.NewError(filegate.Internal, "bundle.job", "", "").Wrap(fmt.Errorf("job %s: %w", id, err))
	}
	return &j, v, nil
}

// Start records the job and returns it at once: the work runs in this
// process, or wherever Dispatch sends it.
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
	p := plan.principal
	j := &Job{ID: hex.EncodeToString(id), Owner: p.ID, State: "running", EntriesTotal: len(plan.Entries),
		Key: plan.Key, Name: plan.Name, Skipped: plan.Skipped, ExpiresIn: int64(plan.expires / time.Second),
		Request: jobRequest{Keys: plan.req.Keys, Prefix: plan.req.Prefix, Name: plan.req.Name, ExpiresIn: int64(plan.req.ExpiresIn / time.Second),
			Compression: plan.req.Compression, Missing: plan.req.Missing},
		Principal: jobPrincipal{ID: p.ID, Name: p.Name, Actions: p.Actions, Prefix: p.Prefix},
	}
	if s.cfg.Dispatch == nil {
		j.Holder, j.Attempts, j.LeaseUntil = s.cfg.Holder, 1, time.Now().Add(s.cfg.Lease).UTC()
	}
	v, err := s.save(ctx, j, "")
	if err != nil {
		s.jobs.Done()
		return nil, err
	}
	if s.cfg.Dispatch != nil {
		s.jobs.Done()
		if err := s.cfg.Dispatch(ctx, j.ID); err != nil {
			// The record stays, free to take: a poll or a retry picks it up.
			return nil, filegate.NewError(filegate.Unavailable, "bundle.Start", "", "the job could not be dispatched").Wrap(err)
		}
		return j, nil
	}
	go func() {
		defer s.jobs.Done()
		s.work(j, v, plan)
	}()
	return j, nil
}

// Resume takes up job id if nobody holds it (it was dispatched, or its
// holder stopped renewing the lease) and runs it to the end. It returns
// nil when there is nothing to do: the job ended, or another replica holds
// it. On Lambda, a dispatched invocation calls it.
func (s *Service) Resume(ctx context.Context, id string) error {
	j, v, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if j.State != "running" || (j.Holder != "" && time.Now().Before(j.LeaseUntil)) {
		return nil
	}
	if j.Attempts >= maxAttempts {
		j.State, j.Error, j.Holder = "failed", "interrupted: the replicas running it stopped, "+fmt.Sprint(j.Attempts)+" times", ""
		_, err := s.save(ctx, j, v)
		return ignoreConflict(err)
	}
	j.Holder, j.LeaseUntil, j.Attempts = s.cfg.Holder, time.Now().Add(s.cfg.Lease).UTC(), j.Attempts+1
	if v, err = s.save(ctx, j, v); err != nil {
		return ignoreConflict(err) // another replica took it first
	}
	req := Request{Keys: j.Request.Keys, Prefix: j.Request.Prefix, Name: j.Request.Name,
		ExpiresIn: time.Duration(j.Request.ExpiresIn) * time.Second, Compression: j.Request.Compression, Missing: j.Request.Missing}
	p := &filegate.Principal{ID: j.Principal.ID, Name: j.Principal.Name, Actions: j.Principal.Actions, Prefix: j.Principal.Prefix}
	plan, err := s.Prepare(ctx, p, req)
	if err != nil {
		s.finish(ctx, j, v, nil, err)
		return nil
	}
	plan.Key = j.Key
	j.EntriesTotal, j.ExpiresIn = len(plan.Entries), int64(plan.expires/time.Second)
	s.work(j, v, plan)
	return nil
}

func ignoreConflict(err error) error {
	if filegate.KindOf(err) == filegate.Conflict {
		return nil
	}
	return err
}

// work writes the plan, renewing the lease with the progress about once a
// second; if another replica took the job over meanwhile (the renewal is
// refused), it stops and leaves the job to it.
func (s *Service) work(j *Job, version string, plan *Plan) {
	ctx, cancel := context.WithCancel(s.base)
	defer cancel()
	var entries, size atomic.Int64
	var lost atomic.Bool
	done := make(chan struct{})
	versions := make(chan string, 1)
	go func() { // lease keeper and progress saver
		v := version
		defer func() { versions <- v }()
		t := time.NewTicker(min(time.Second, s.cfg.Lease/3))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				snap := *j
				snap.EntriesDone, snap.BytesDone = int(entries.Load()), size.Load()
				snap.LeaseUntil = time.Now().Add(s.cfg.Lease).UTC()
				nv, err := s.save(ctx, &snap, v)
				switch {
				case err == nil:
					v = nv
				case filegate.KindOf(err) == filegate.Conflict:
					lost.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	res, err := s.Create(ctx, plan, func(_ Entry, n int64, _ time.Duration) {
		entries.Add(1)
		size.Add(n)
	})
	close(done)
	v := <-versions
	if lost.Load() {
		return
	}
	j.EntriesDone, j.BytesDone = int(entries.Load()), size.Load()
	if err == nil {
		j.Size, j.EntriesDone = res.Size, len(plan.Entries)
	}
	if s.base.Err() != nil {
		// Shutting down: leave the job for another replica to take over.
		return
	}
	s.finish(ctx, j, v, &res, err)
}

// finish records the outcome, unless another replica holds the job now.
func (s *Service) finish(ctx context.Context, j *Job, version string, res *Result, err error) {
	if err != nil {
		j.State = "failed"
		j.Error = "bundle failed"
		var fe *filegate.Error
		if errors.As(err, &fe) && fe.Kind != filegate.Internal && fe.Msg != "" {
			j.Error = fe.Msg
		}
	} else {
		j.State, j.Size = "done", res.Size
	}
	j.Holder = ""
	save, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = s.save(save, j, version)
}

// Job reports a job of p's; when done, with a fresh link. A running job
// whose holder stopped renewing its lease is taken over here (or
// dispatched again), so it completes while its owner keeps asking.
func (s *Service) Job(ctx context.Context, p *filegate.Principal, id string) (*Job, error) {
	const op = "bundle.Job"
	if len(id) != 32 || !isHex(id) {
		return nil, filegate.NewError(filegate.NotFound, op, "unknown_job", "no such bundle job")
	}
	j, _, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.Owner != p.ID {
		return nil, filegate.NewError(filegate.Forbidden, op, "job_not_yours", "this bundle job belongs to another token")
	}
	if j.State == "running" && time.Now().After(j.LeaseUntil.Add(s.cfg.Lease)) {
		s.takeOver(j.ID)
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
	return j, nil
}

// takeOver runs Resume for an abandoned job: here in the background, or
// dispatched.
func (s *Service) takeOver(id string) {
	if s.cfg.Dispatch != nil {
		_ = s.cfg.Dispatch(context.WithoutCancel(s.base), id)
		return
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.jobs.Add(1)
	}
	s.mu.Unlock()
	if closed {
		return
	}
	go func() {
		defer s.jobs.Done()
		_ = s.Resume(s.base, id)
	}()
}

// Adopt takes over abandoned jobs found in the bundle bucket, every lease,
// until ctx ends: a job whose replica died completes even if nobody asks
// for it. Records untouched for a day are left alone.
func (s *Service) Adopt(ctx context.Context) {
	t := time.NewTicker(s.cfg.Lease)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cursor := ""
		for pages := 0; pages < 100; pages++ {
			page, err := s.out.List(ctx, filegate.ListInput{Prefix: ".filegate/jobs/", Token: cursor, Limit: 1000})
			if err != nil {
				break
			}
			for _, o := range page.Objects {
				if time.Since(o.LastModified) > 24*time.Hour || time.Since(o.LastModified) < s.cfg.Lease {
					continue
				}
				id := strings.TrimSuffix(strings.TrimPrefix(o.Key, ".filegate/jobs/"), ".json")
				if j, _, err := s.load(ctx, id); err == nil && j.State == "running" && time.Now().After(j.LeaseUntil) {
					s.takeOver(id)
				}
			}
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
	}
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// Close stops taking jobs, cancels the running ones and waits for them;
// their records keep their leases, so another replica takes them over.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.jobs.Wait()
}

// plainDocuments keeps job records with plain writes: enough for one
// replica, not for several.
type plainDocuments struct{ b filegate.Bucket }

func (d plainDocuments) Load(ctx context.Context, key, _ string) ([]byte, string, error) {
	body, _, err := d.b.Get(ctx, key)
	if filegate.KindOf(err) == filegate.NotFound {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 1<<20))
	return b, "v", err
}

func (d plainDocuments) Save(ctx context.Context, key string, content []byte, _ string) (string, error) {
	return "v", d.b.Put(ctx, key, "application/json", content)
}
