package bundle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/filegate/filegate"
)

// partTimeout bounds one part upload.
const partTimeout = 5 * time.Minute

// sink is an io.Writer that streams into a multipart upload: it fills part
// buffers of partSize and uploads up to inflight of them concurrently, so
// memory stays at (inflight+1) × partSize whatever the object's size.
// Commit completes the upload; Abort (or any failure) discards it, leaving
// no object and no multipart upload behind.
//
// Written here rather than with feature/s3/transfermanager (v0.x) because a
// bundle needs exactly this contract: a fixed buffer bound, and an abort
// that is certain on every failure path, including a client that goes away.
type sink struct {
	ctx      context.Context
	st       filegate.Bucket
	key      string
	partSize int

	// The multipart upload is created in the background while the first
	// part fills (on a store with tens of milliseconds per call, a round
	// trip saved); created is closed once uploadID or createErr is set.
	created   chan struct{}
	uploadID  string
	createErr error

	buf   []byte
	next  int32
	free  chan []byte
	pool  *sync.Pool // where buffers come from and go back to; nil: allocated
	wg    sync.WaitGroup
	mu    sync.Mutex
	parts []filegate.Part
	err   error
	size  int64
}

// The upload is created once g opens: parts wait for it.
func newSink(ctx context.Context, st filegate.Bucket, key string, partSize, inflight int, pool *sync.Pool, g *gate) *sink {
	s := &sink{ctx: ctx, st: st, key: key, partSize: partSize, next: 1, free: make(chan []byte, inflight+1), created: make(chan struct{}), pool: pool}
	for range inflight + 1 {
		s.free <- nil // buffers are allocated on first use
	}
	go func() {
		defer close(s.created)
		if s.createErr = g.wait(ctx); s.createErr == nil {
			s.uploadID, s.createErr = st.CreateUpload(ctx, key, "application/zip", nil)
		}
		if s.createErr != nil {
			s.mu.Lock()
			if s.err == nil {
				s.err = s.createErr
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *sink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *sink) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if err := s.failed(); err != nil {
			return n, err
		}
		if s.buf == nil {
			select {
			case b := <-s.free:
				if b == nil && s.pool != nil {
					if p, ok := s.pool.Get().(*[]byte); ok {
						b = *p
					}
				}
				if b == nil {
					b = make([]byte, 0, s.partSize)
				}
				s.buf = b[:0]
			case <-s.ctx.Done():
				return n, s.ctx.Err()
			}
		}
		c := min(len(p), s.partSize-len(s.buf))
		s.buf = append(s.buf, p[:c]...)
		p, n = p[c:], n+c
		if len(s.buf) == s.partSize {
			s.flush()
		}
	}
	return n, nil
}

// flush uploads the current buffer as the next part, in the background.
func (s *sink) flush() {
	buf, num := s.buf, s.next
	s.buf, s.next = nil, s.next+1
	s.size += int64(len(buf))
	s.wg.Go(func() {
		if err := s.ctx.Err(); err != nil {
			s.mu.Lock()
			if s.err == nil {
				s.err = err
			}
			s.mu.Unlock()
			s.free <- buf
			return
		}
		// Not s.ctx: a part request cancelled by its client may still be
		// written by the store after the abort and bring the upload back.
		// A started part always finishes (or times out) before Abort runs.
		<-s.created
		if s.createErr != nil {
			s.free <- buf
			return
		}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), partTimeout)
		etag, err := s.st.UploadPart(pctx, s.key, s.uploadID, num, buf)
		cancel()
		s.mu.Lock()
		if err != nil && s.err == nil {
			s.err = err
		}
		s.parts = append(s.parts, filegate.Part{Number: num, ETag: etag, Size: int64(len(buf))})
		s.mu.Unlock()
		s.free <- buf
	})
}

// Commit uploads the last part and completes the upload.
func (s *sink) Commit() (filegate.ObjectInfo, error) {
	if s.buf != nil && (len(s.buf) > 0 || s.next == 1) {
		s.flush()
	} else if s.next == 1 {
		s.buf = []byte{}
		s.flush()
	}
	s.wg.Wait()
	<-s.created
	if err := s.failed(); err != nil {
		s.Abort()
		return filegate.ObjectInfo{}, err
	}
	if err := s.ctx.Err(); err != nil {
		s.Abort()
		return filegate.ObjectInfo{}, err
	}
	s.recycle()
	parts := make([]filegate.Part, len(s.parts))
	for _, p := range s.parts {
		parts[p.Number-1] = p
	}
	info, err := s.st.CompleteUpload(s.ctx, s.key, s.uploadID, parts)
	if err != nil {
		s.Abort()
		return filegate.ObjectInfo{}, err
	}
	return info, nil
}

// Abort waits for parts in flight and discards the upload. It uses a
// context of its own: the request's may be why we are aborting.
func (s *sink) Abort() {
	s.mu.Lock()
	if s.err == nil {
		s.err = errors.New("bundle: aborted")
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.recycle()
	<-s.created
	if s.createErr != nil {
		return // no upload to discard
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), abortTimeout)
	defer cancel()
	// Abort, then check that the upload is really gone (stores may finish
	// work in the background); try again a few times if it is not.
	for attempt := range 4 {
		_ = s.st.AbortUpload(ctx, s.key, s.uploadID)
		if _, err := s.st.ListParts(ctx, s.key, s.uploadID); filegate.KindOf(err) == filegate.NotFound {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
		}
	}
}

// recycle gives the part buffers back to the pool once no part is in
// flight (after wg.Wait).
func (s *sink) recycle() {
	if s.buf != nil {
		s.free <- s.buf
		s.buf = nil
	}
	for {
		select {
		case b := <-s.free:
			if b != nil && s.pool != nil && cap(b) == s.partSize {
				b = b[:0]
				s.pool.Put(&b)
			}
		default:
			return
		}
	}
}

// putSink holds an archive known to fit in one part and stores it with a
// single PUT on Commit. Nothing reaches the store before: Abort has
// nothing to discard.
type putSink struct {
	ctx  context.Context
	st   filegate.Bucket
	key  string
	buf  []byte
	gate *gate
}

func (s *putSink) Write(p []byte) (int, error) {
	if len(s.buf)+len(p) > cap(s.buf) {
		// The bound was computed from the listed sizes: more means a
		// source grew, which the writer reports as changed anyway.
		return 0, fmt.Errorf("%w: the archive outgrew its bound of %d bytes", ErrSourceChanged, cap(s.buf))
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

func (s *putSink) Commit() (filegate.ObjectInfo, error) {
	if err := s.gate.wait(s.ctx); err != nil {
		return filegate.ObjectInfo{}, err
	}
	if err := s.ctx.Err(); err != nil {
		return filegate.ObjectInfo{}, err
	}
	if err := s.st.Put(s.ctx, s.key, "application/zip", s.buf); err != nil {
		return filegate.ObjectInfo{}, err
	}
	return filegate.ObjectInfo{Key: s.key, Size: int64(len(s.buf))}, nil
}

func (s *putSink) Abort() { s.buf = nil }
