package client

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Transfer tunes uploads and downloads. The zero value is usable.
type Transfer struct {
	// Concurrency is how many requests to the store run at once, across
	// every file of a transfer; default 8.
	Concurrency int
	// Attempts is how many times one part or range is tried; default 5.
	Attempts int
	// State is the directory that keeps resume state (the user's cache
	// directory); "" turns resuming off.
	State string
	// ChunkSize is the size of a ranged GET of a large download; default
	// the object's part size when it can be told from its ETag, else 8 MiB.
	ChunkSize int64

	semOnce sync.Once
	sem     chan struct{}
}

func (t *Transfer) slots() chan struct{} {
	t.semOnce.Do(func() {
		n := t.Concurrency
		if n <= 0 {
			n = 8
		}
		t.sem = make(chan struct{}, n)
	})
	return t.sem
}

func (t *Transfer) workers() int {
	if t.Concurrency <= 0 {
		return 8
	}
	return t.Concurrency
}

func (t *Transfer) attempts() int {
	if t.Attempts <= 0 {
		return 5
	}
	return t.Attempts
}

// Progress receives the bytes of one file moved so far and its size; done
// may go down when a part is retried. It is called from several goroutines.
type Progress func(done, size int64)

// UploadResult is what an upload did.
type UploadResult struct {
	ObjectInfo
	Resumed   bool  // a previous run's session was continued
	PartsSent int   // parts sent by this run (0 for a single PUT)
	PartsKept int   // parts the store already had from a previous run
	Sent      int64 // bytes sent by this run
}

// ErrChanged means the local file changed while it was being sent.
var ErrChanged = errors.New("the file changed while it was being uploaded; run the command again")

// ContentType guesses a file's content type from its extension.
func ContentType(name string) string {
	if ct := mime.TypeByExtension(strings.ToLower(filepath.Ext(name))); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

// Upload sends the file at path to key: one presigned PUT for small files,
// a multipart session with parts sent in parallel above the server's
// threshold. A multipart upload is resumable: its session is kept in
// t.State until it completes, and the same call after a crash sends only the
// parts the store lacks. A session left by an older version of the file is
// aborted. Every part's ETag, and the whole object's, is checked against the
// MD5 of what was read from disk.
func (t *Transfer) Upload(ctx context.Context, c *Client, path, key string, progress Progress) (UploadResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return UploadResult{}, err
	}
	defer f.Close()
	id, err := identify(f, path)
	if err != nil {
		return UploadResult{}, err
	}
	if progress == nil {
		progress = func(int64, int64) {}
	}
	st := t.uploadState(c, key)
	if st != nil {
		prev, _ := st.load()
		switch {
		case prev == nil:
		case prev.File == id:
			res, err := t.resume(ctx, c, f, prev, st, progress)
			if err == nil || !staleSession(err) {
				return res, err
			}
			st.remove()
		default:
			// Another version of the file, or another file, was being sent to
			// this key: its session is abandoned, so drop its parts.
			_ = c.AbortUpload(ctx, prev.Session)
			st.remove()
		}
	}
	begin, err := c.StartUpload(ctx, UploadRequest{Key: key, Size: id.Size, ContentType: ContentType(path)})
	if err != nil {
		return UploadResult{}, err
	}
	if begin.Type == "put" {
		return t.put(ctx, c, f, id, key, begin, progress)
	}
	rec := &uploadRecord{File: id, Session: begin.UploadID, Key: key, Size: id.Size, PartSize: begin.PartSize, PartCount: begin.PartCount, Started: time.Now().UTC()}
	if st != nil {
		if err := st.save(rec); err != nil {
			_ = c.AbortUpload(context.WithoutCancel(ctx), begin.UploadID)
			return UploadResult{}, err
		}
	}
	urls := map[int32]string{}
	for _, p := range begin.Parts {
		urls[p.Number] = p.URL
	}
	res, err := t.multipart(ctx, c, f, rec, nil, urls, progress)
	if err == nil && st != nil {
		st.remove()
	}
	return res, err
}

// staleSession reports whether a kept session can no longer be continued
// (completed, aborted, expired, or made by another token).
func staleSession(err error) bool {
	switch StatusOf(err) {
	case http.StatusNotFound, http.StatusGone, http.StatusForbidden, http.StatusBadRequest:
		return true
	}
	return false
}

func (t *Transfer) resume(ctx context.Context, c *Client, f *os.File, rec *uploadRecord, st *stateFile, progress Progress) (UploadResult, error) {
	status, err := c.UploadStatus(ctx, rec.Session)
	if err != nil {
		return UploadResult{}, err
	}
	if status.Key != rec.Key || status.Size != rec.Size || status.PartSize != rec.PartSize {
		return UploadResult{}, &Problem{Status: http.StatusGone, Detail: "the kept session does not match this upload"}
	}
	res, err := t.multipart(ctx, c, f, rec, status.Parts, map[int32]string{}, progress)
	res.Resumed = true
	if err == nil {
		st.remove()
	}
	return res, err
}

// put sends the whole file with one presigned PUT.
func (t *Transfer) put(ctx context.Context, c *Client, f *os.File, id fileID, key string, begin Begin, progress Progress) (UploadResult, error) {
	var etag string
	err := t.retry(ctx, func(attempt int) error {
		if attempt > 0 {
			// A fresh grant: the first may have expired.
			b, err := c.StartUpload(ctx, UploadRequest{Key: key, Size: id.Size, ContentType: ContentType(f.Name())})
			if err != nil {
				return err
			}
			begin = b
		}
		sum, got, err := t.send(ctx, c, begin.Method, begin.URL, begin.Headers, io.NewSectionReader(f, 0, id.Size), id.Size, func(n int64) { progress(n, id.Size) })
		if err != nil {
			progress(0, id.Size)
			return err
		}
		if !etagMatches(got, sum) {
			return fmt.Errorf("the store's ETag %s does not match the MD5 of what was sent: %w", got, errRetry)
		}
		etag = got
		return nil
	})
	if err != nil {
		return UploadResult{}, err
	}
	if err := id.same(f); err != nil {
		return UploadResult{}, err
	}
	return UploadResult{ObjectInfo: ObjectInfo{Key: key, Size: id.Size, ETag: etag}, Sent: id.Size}, nil
}

// errRetry marks an error worth another attempt.
var errRetry = errors.New("retryable")

// send PUTs size bytes from body to a presigned URL and returns the MD5 of
// what was sent and the ETag the store answered.
func (t *Transfer) send(ctx context.Context, c *Client, method, rawURL string, header map[string]string, body io.Reader, size int64, progress func(int64)) ([]byte, string, error) {
	slots := t.slots()
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	defer func() { <-slots }()
	if method == "" {
		method = http.MethodPut
	}
	h := md5.New()
	cr := &countReader{r: io.TeeReader(body, h), fn: progress}
	var rd io.Reader = cr
	if size == 0 {
		rd = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return nil, "", err
	}
	for k, v := range header {
		if !strings.EqualFold(k, "Content-Length") && !strings.EqualFold(k, "Host") {
			req.Header.Set(k, v)
		}
	}
	req.ContentLength = size
	resp, err := c.store.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", storeErr(err), errRetry)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		p := problemFrom(resp)
		if retryable(resp.StatusCode) {
			return nil, "", fmt.Errorf("%w: %w", p, errRetry)
		}
		return nil, "", p
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if cr.n != size {
		return nil, "", fmt.Errorf("sent %d of %d bytes: %w", cr.n, size, ErrChanged)
	}
	return h.Sum(nil), resp.Header.Get("ETag"), nil
}

func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// retry runs fn until it succeeds, fails for good, or runs out of
// attempts, backing off between attempts.
func (t *Transfer) retry(ctx context.Context, fn func(attempt int) error) error {
	var err error
	for attempt := 0; attempt < t.attempts(); attempt++ {
		if attempt > 0 {
			d := min(200*time.Millisecond<<(attempt-1), 5*time.Second)
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err = fn(attempt)
		if err == nil || ctx.Err() != nil {
			return err
		}
		// A refused presigned URL has usually expired: the next attempt
		// signs a new one. Other refusals are final.
		if !errors.Is(err, errRetry) && StatusOf(err) != http.StatusForbidden {
			return err
		}
	}
	return err
}

type countReader struct {
	r  io.Reader
	n  int64
	fn func(int64)
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 {
		c.fn(c.n)
	}
	return n, err
}

// etagMatches reports whether a store ETag is the MD5 sum. Stores that do
// not use MD5 ETags (SSE-KMS, SSE-C) cannot be checked this way; they are
// told apart by an ETag that is not 32 hex digits.
func etagMatches(etag string, sum []byte) bool {
	e := strings.Trim(etag, `"`)
	if len(e) != 32 {
		return true
	}
	return strings.EqualFold(e, hex.EncodeToString(sum))
}

// multipart sends every part the store lacks, verifies the parts it has,
// and completes the upload.
func (t *Transfer) multipart(ctx context.Context, c *Client, f *os.File, rec *uploadRecord, stored []StoredPart, urls map[int32]string, progress Progress) (UploadResult, error) {
	res := UploadResult{}
	sums := make([][]byte, rec.PartCount)
	etags := make([]string, rec.PartCount)
	var done atomic.Int64
	inflight := make([]atomic.Int64, rec.PartCount)
	report := func() {
		total := done.Load()
		for i := range inflight {
			total += inflight[i].Load()
		}
		progress(total, rec.Size)
	}
	size := func(n int32) int64 {
		return min(rec.PartSize, rec.Size-int64(n-1)*rec.PartSize)
	}
	// Parts the store already has are kept when they still match the file.
	for _, p := range stored {
		if p.Number < 1 || p.Number > rec.PartCount || p.Size != size(p.Number) {
			continue
		}
		h := md5.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, int64(p.Number-1)*rec.PartSize, p.Size)); err != nil {
			return res, err
		}
		if sum := h.Sum(nil); etagMatches(p.ETag, sum) {
			sums[p.Number-1], etags[p.Number-1] = sum, p.ETag
			done.Add(p.Size)
			res.PartsKept++
		}
	}
	report()

	signer := &partSigner{c: c, id: rec.Session, urls: urls, count: rec.PartCount}
	g, gctx := errgroup.WithContext(ctx)
	next := make(chan int32)
	g.Go(func() error {
		defer close(next)
		for n := int32(1); n <= rec.PartCount; n++ {
			if etags[n-1] != "" {
				continue
			}
			select {
			case next <- n:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	var sent atomic.Int64
	var partsSent atomic.Int32
	for range t.workers() {
		g.Go(func() error {
			for n := range next {
				ps := size(n)
				err := t.retry(gctx, func(attempt int) error {
					u, err := signer.url(gctx, n, attempt > 0)
					if err != nil {
						return err
					}
					sum, etag, err := t.send(gctx, c, http.MethodPut, u, nil, io.NewSectionReader(f, int64(n-1)*rec.PartSize, ps), ps, func(b int64) {
						inflight[n-1].Store(b)
						report()
					})
					inflight[n-1].Store(0)
					if err != nil {
						return err
					}
					if !etagMatches(etag, sum) {
						return fmt.Errorf("part %d: the store's ETag %s does not match the MD5 of what was sent: %w", n, etag, errRetry)
					}
					sums[n-1], etags[n-1] = sum, etag
					return nil
				})
				if err != nil {
					return fmt.Errorf("part %d of %d: %w", n, rec.PartCount, err)
				}
				done.Add(ps)
				sent.Add(ps)
				partsSent.Add(1)
				report()
			}
			return nil
		})
	}
	err := g.Wait()
	res.Sent, res.PartsSent = sent.Load(), int(partsSent.Load())
	if err != nil {
		return res, err
	}
	if err := rec.File.same(f); err != nil {
		return res, err
	}
	parts := make([]CompletePart, rec.PartCount)
	for i := range parts {
		parts[i] = CompletePart{Number: int32(i + 1), ETag: etags[i]}
	}
	info, err := c.CompleteUpload(ctx, rec.Session, parts)
	if err != nil {
		return res, err
	}
	// The whole-object check: S3's multipart ETag is the MD5 of the parts'
	// MD5s, a dash, and the part count.
	if want := multipartETag(sums); strings.Contains(strings.Trim(info.ETag, `"`), "-") && strings.Trim(info.ETag, `"`) != want {
		return res, fmt.Errorf("the stored object's ETag %s is not %s, the one its parts make", info.ETag, want)
	}
	if info.Size != rec.Size {
		return res, fmt.Errorf("the stored object has %d bytes, not %d", info.Size, rec.Size)
	}
	res.ObjectInfo = info
	return res, nil
}

// multipartETag is the ETag S3 gives an object assembled from parts with
// these MD5 sums.
func multipartETag(sums [][]byte) string {
	h := md5.New()
	for _, s := range sums {
		h.Write(s)
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(sums))
}

// partSigner hands out part URLs, signing them in batches on demand.
type partSigner struct {
	c     *Client
	id    string
	count int32
	mu    sync.Mutex
	urls  map[int32]string
}

func (s *partSigner) url(ctx context.Context, n int32, fresh bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.urls[n]; ok && !fresh {
		return u, nil
	}
	batch := make([]int32, 0, 100)
	for m := n; m <= s.count && len(batch) < 100; m++ {
		if _, ok := s.urls[m]; !ok || m == n {
			batch = append(batch, m)
		}
	}
	parts, err := s.c.SignParts(ctx, s.id, batch)
	if err != nil {
		return "", err
	}
	for _, p := range parts {
		s.urls[p.Number] = p.URL
	}
	u, ok := s.urls[n]
	if !ok {
		return "", fmt.Errorf("the server signed no URL for part %d", n)
	}
	return u, nil
}
