package client

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// ParallelAbove is the size above which a download is split into ranged
// GETs sent in parallel.
const ParallelAbove = 16 << 20

// DownloadResult is what a download did.
type DownloadResult struct {
	Key      string
	Size     int64
	ETag     string
	Resumed  bool  // a previous run's partial file was continued
	Fetched  int64 // bytes fetched by this run
	Verified bool  // the content was checked against the store's ETag
}

// downloadRecord is a download in progress: which chunks of the partial
// file are written, and their MD5s.
type downloadRecord struct {
	Server string            `json:"server"`
	Key    string            `json:"key"`
	ETag   string            `json:"etag"`
	Size   int64             `json:"size"`
	Chunk  int64             `json:"chunk"`
	Sums   map[string]string `json:"sums"` // chunk index → MD5 hex
}

// Download fetches key into the file dest through a download grant.
// Large objects are fetched as parallel ranged GETs written in place into
// dest's partial file (dest + ".filegate-partial"), which a later run
// continues; the file appears under dest only when it is whole and checked
// against the store's ETag (an MD5, or S3's multipart form when the part
// size can be told from the object's size and part count).
func (t *Transfer) Download(ctx context.Context, c *Client, key, dest string, progress Progress) (DownloadResult, error) {
	if progress == nil {
		progress = func(int64, int64) {}
	}
	g, err := c.Download(ctx, DownloadRequest{Key: key})
	if err != nil {
		return DownloadResult{}, err
	}
	res := DownloadResult{Key: key, Size: g.Size, ETag: g.ETag}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return res, err
	}
	partial := dest + ".filegate-partial"
	chunk := t.chunkFor(g.Size, g.ETag)
	abs, _ := filepath.Abs(dest)
	statePath := ""
	if t.State != "" {
		statePath = stateName(t.State, "downloads", c.base, key, abs)
	}
	rec := &downloadRecord{Server: c.base, Key: key, ETag: g.ETag, Size: g.Size, Chunk: chunk, Sums: map[string]string{}}
	if statePath != "" {
		var prev downloadRecord
		if readJSON(statePath, &prev) == nil && prev.ETag == g.ETag && prev.Size == g.Size && prev.Chunk == chunk {
			if fi, err := os.Stat(partial); err == nil && fi.Size() == g.Size {
				rec.Sums = prev.Sums
				res.Resumed = len(prev.Sums) > 0
			}
		}
	}
	flags := os.O_RDWR | os.O_CREATE
	if !res.Resumed {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(partial, flags, 0o644)
	if err != nil {
		return res, err
	}
	defer f.Close()
	if err := f.Truncate(g.Size); err != nil {
		return res, err
	}

	n := int((g.Size + chunk - 1) / chunk)
	if g.Size == 0 {
		n = 0
	}
	sums := make([][]byte, n)
	var done atomic.Int64
	inflight := make([]atomic.Int64, n)
	report := func() {
		total := done.Load()
		for i := range inflight {
			total += inflight[i].Load()
		}
		progress(total, g.Size)
	}
	for i := range n {
		if s, ok := rec.Sums[strconv.Itoa(i)]; ok {
			if b, err := hex.DecodeString(s); err == nil && len(b) == md5.Size {
				sums[i] = b
				done.Add(min(chunk, g.Size-int64(i)*chunk))
			}
		}
	}
	report()
	var mu sync.Mutex // rec.Sums and its file
	var fetched atomic.Int64
	var grantMu sync.Mutex
	url := g.URL
	eg, gctx := errgroup.WithContext(ctx)
	next := make(chan int)
	eg.Go(func() error {
		defer close(next)
		for i := range n {
			if sums[i] != nil {
				continue
			}
			select {
			case next <- i:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	workers := t.workers()
	if n <= 1 {
		workers = 1
	}
	for range workers {
		eg.Go(func() error {
			for i := range next {
				start := int64(i) * chunk
				size := min(chunk, g.Size-start)
				err := t.retry(gctx, func(attempt int) error {
					grantMu.Lock()
					if attempt > 0 {
						// The grant may have expired: ask for a new one.
						ng, err := c.Download(gctx, DownloadRequest{Key: key})
						if err != nil {
							grantMu.Unlock()
							return err
						}
						if ng.ETag != g.ETag || ng.Size != g.Size {
							grantMu.Unlock()
							return fmt.Errorf("%s changed in the store during the download; run the command again", key)
						}
						url = ng.URL
					}
					u := url
					grantMu.Unlock()
					sum, err := t.fetchRange(gctx, c, u, f, start, size, g.ETag, func(b int64) {
						inflight[i].Store(b)
						report()
					})
					inflight[i].Store(0)
					if err != nil {
						return err
					}
					sums[i] = sum
					return nil
				})
				if err != nil {
					return err
				}
				done.Add(size)
				fetched.Add(size)
				report()
				if statePath != "" {
					mu.Lock()
					rec.Sums[strconv.Itoa(i)] = hex.EncodeToString(sums[i])
					err := writeJSON(statePath, rec)
					mu.Unlock()
					if err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	err = eg.Wait()
	res.Fetched = fetched.Load()
	if err != nil {
		return res, err
	}
	verified, err := verify(f, g.Size, g.ETag, chunk, sums)
	if err != nil {
		// What was written cannot be trusted: start over next time.
		_ = os.Remove(partial)
		if statePath != "" {
			_ = os.Remove(statePath)
		}
		return res, err
	}
	res.Verified = verified
	if err := f.Sync(); err != nil {
		return res, err
	}
	if err := f.Close(); err != nil {
		return res, err
	}
	if err := os.Rename(partial, dest); err != nil {
		return res, err
	}
	if statePath != "" {
		_ = os.Remove(statePath)
	}
	return res, nil
}

// chunkFor picks the range size: the object's own part size when its ETag
// tells it (so each range's MD5 is one part's, and the whole can be checked
// against the multipart ETag), else one range for small objects and
// t.ChunkSize (8 MiB) for large ones.
func (t *Transfer) chunkFor(size int64, etag string) int64 {
	if t.ChunkSize > 0 {
		return t.ChunkSize
	}
	if ps := partSizeOf(size, etag); ps > 0 {
		return ps
	}
	if size <= ParallelAbove {
		return max(size, 1)
	}
	return 8 << 20
}

// partSizeOf guesses the part size of a multipart object from its size and
// the part count in its ETag: the first of the sizes uploaders commonly use
// (8 MiB as the aws CLI and filegate do, 5 MiB, 16 MiB, then the smallest
// whole MiB) that gives that count. 0 when the ETag is not multipart or no
// such size fits.
func partSizeOf(size int64, etag string) int64 {
	if c := partSizes(size, etag); len(c) > 0 {
		return c[0]
	}
	return 0
}

func partSizes(size int64, etag string) []int64 {
	e := strings.Trim(etag, `"`)
	i := strings.LastIndexByte(e, '-')
	if i < 0 {
		return nil
	}
	parts, err := strconv.ParseInt(e[i+1:], 10, 64)
	if err != nil || parts < 1 || parts > 10000 {
		return nil
	}
	if parts == 1 {
		return []int64{max(size, 1)}
	}
	const mib = 1 << 20
	lo := (size + parts - 1) / parts
	var out []int64
	for _, ps := range []int64{8 * mib, 5 * mib, 16 * mib, (lo + mib - 1) / mib * mib, lo} {
		if ps > 0 && (size+ps-1)/ps == parts && !slices.Contains(out, ps) {
			out = append(out, ps)
		}
	}
	return out
}

// fetchRange GETs size bytes at start into f, returning their MD5.
func (t *Transfer) fetchRange(ctx context.Context, c *Client, url string, f *os.File, start, size int64, etag string, progress func(int64)) ([]byte, error) {
	slots := t.slots()
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-slots }()
	end := start + size - 1
	if size == 0 {
		end = -1
	}
	resp, err := c.Fetch(ctx, url, start, end)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		if s := StatusOf(err); s == 0 || retryable(s) {
			return nil, fmt.Errorf("%w: %w", err, errRetry)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if e := resp.Header.Get("ETag"); e != "" && etag != "" && strings.Trim(e, `"`) != strings.Trim(etag, `"`) {
		return nil, fmt.Errorf("the object changed in the store during the download; run the command again")
	}
	if size > 0 && resp.StatusCode != http.StatusPartialContent && !(start == 0 && resp.ContentLength == size) {
		return nil, fmt.Errorf("the store ignored the range request (status %d)", resp.StatusCode)
	}
	h := md5.New()
	w := &countWriter{w: io.MultiWriter(io.NewOffsetWriter(f, start), h), fn: progress}
	n, err := io.Copy(w, io.LimitReader(resp.Body, size))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", storeErr(err), errRetry)
	}
	if n != size {
		return nil, fmt.Errorf("got %d of %d bytes: %w", n, size, errRetry)
	}
	return h.Sum(nil), nil
}

type countWriter struct {
	w  io.Writer
	n  int64
	fn func(int64)
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.fn(c.n)
	return n, err
}

// verify checks the downloaded bytes against the store's ETag. It reports
// whether a check was possible.
func verify(f *os.File, size int64, etag string, chunk int64, sums [][]byte) (bool, error) {
	e := strings.Trim(etag, `"`)
	switch {
	case strings.Contains(e, "-"):
		if partSizeOf(size, etag) == chunk && multipartETag(sums) == e {
			return true, nil
		}
		// The part size was guessed: try the other sizes that give the same
		// part count, hashing the file again.
		for _, ps := range partSizes(size, etag) {
			if ps == chunk {
				continue
			}
			var s [][]byte
			for off := int64(0); off < size; off += ps {
				h := md5.New()
				if _, err := io.Copy(h, io.NewSectionReader(f, off, min(ps, size-off))); err != nil {
					return false, err
				}
				s = append(s, h.Sum(nil))
			}
			if multipartETag(s) == e {
				return true, nil
			}
		}
		// Either the object was uploaded with parts of another size, or
		// the content is wrong: the ETag cannot tell which.
		return false, nil
	case len(e) == 32:
		var sum []byte
		if len(sums) == 1 {
			sum = sums[0]
		} else {
			// Several ranges of a single-part object: hash the file again.
			h := md5.New()
			if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
				return false, err
			}
			sum = h.Sum(nil)
		}
		if size == 0 {
			sum = md5.New().Sum(nil)
		}
		if !strings.EqualFold(hex.EncodeToString(sum), e) {
			return false, fmt.Errorf("downloaded content does not match the store's ETag %s", e)
		}
		return true, nil
	}
	return false, nil
}

// IsLocalPath reports whether rel, a key relative to a downloaded prefix,
// names a file strictly inside the destination directory: no empty, "."
// or ".." segment (even one that resolves inside, such as "a/.."), no
// absolute form, no NUL.
func IsLocalPath(rel string) bool {
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsRune(seg, 0) {
			return false
		}
	}
	return filepath.IsLocal(filepath.FromSlash(rel))
}
