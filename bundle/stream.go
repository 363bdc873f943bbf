package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/filegate/filegate"
)

// errNotWritten stops a bundle's writer when its key's HEAD finds the
// bundle already stored (or fails): nothing of it reaches the store.
var errNotWritten = errors.New("bundle: not written")

// gate holds a bundle's store calls until the HEAD of its key has
// answered. The writer starts at once, with the objects fetched while the
// prefix was listed, into a sink that holds its bytes; fresh GETs and the
// upload wait for the gate. A bundle found already stored thus costs no
// store call beyond the HEAD, and one that is not saves the HEAD's round
// trip (on a store tens of milliseconds away, 20–60 ms of a second).
type gate struct {
	done chan struct{}
	open bool // after done: the bundle is to be written
}

func newGate() *gate { return &gate{done: make(chan struct{})} }

// decide opens or shuts the gate, once.
func (g *gate) decide(open bool) {
	g.open = open
	close(g.done)
}

// wait blocks until the gate is decided and reports whether it opened. A
// nil gate is open.
func (g *gate) wait(ctx context.Context) error {
	if g == nil {
		return nil
	}
	select {
	case <-g.done:
		return g.outcome()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shut reports, without waiting, errNotWritten if the gate has shut; nil
// while it is undecided or open.
func (g *gate) shut() error {
	if g == nil || !g.decided() {
		return nil
	}
	return g.outcome()
}

// passed reports, without waiting, whether the gate is open.
func (g *gate) passed() bool {
	return g == nil || (g.decided() && g.open)
}

func (g *gate) decided() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// outcome is errNotWritten for a gate decided shut, nil for one open.
func (g *gate) outcome() error {
	if !g.open {
		return errNotWritten
	}
	return nil
}

// streamSink streams an archive of known size into one PUT as it is
// written (filegate.StreamPutter), through a pipe with a buffer: no part
// buffers beyond it, no multipart calls, and a PUT that ends with the
// archive's last byte (a multipart upload then still uploads its last
// part and completes: two round trips more). The PUT starts when the gate
// opens; until then the pipe's buffer holds what the writer makes.
//
// The store receives the archive's last bytes only once Commit has
// checked its size (the PutStream contract: the body must end first), so
// a writer that fails at any point leaves nothing stored.
type streamSink struct {
	size    int64
	written int64
	pipe    *pipe
	done    chan struct{}
	info    filegate.ObjectInfo
	err     error
	unwatch func() bool
}

func newStreamSink(ctx context.Context, st filegate.StreamPutter, key string, size int64, buf []byte, g *gate) *streamSink {
	s := &streamSink{size: size, pipe: newPipe(buf), done: make(chan struct{})}
	// A writer blocked on a full pipe wakes when the bundle's context ends.
	s.unwatch = context.AfterFunc(ctx, func() { s.pipe.closeWrite(ctx.Err()) })
	go func() {
		defer close(s.done)
		if err := g.wait(ctx); err != nil {
			s.err = err
		} else {
			s.info, s.err = st.PutStream(ctx, key, "application/zip", size, s.pipe)
		}
		// The transport may still hold the body after the answer: from
		// here on reads fail without touching the buffer.
		if s.err != nil {
			s.pipe.closeRead(s.err)
		} else {
			s.pipe.closeRead(errors.New("bundle: the upload has ended"))
		}
	}()
	return s
}

func (s *streamSink) Write(p []byte) (int, error) {
	if s.written+int64(len(p)) > s.size {
		// The size was computed from the listed sizes: more means a source
		// grew, which the writer reports as changed anyway.
		return 0, fmt.Errorf("%w: the archive outgrew its size of %d bytes", ErrSourceChanged, s.size)
	}
	n, err := s.pipe.Write(p)
	s.written += int64(n)
	return n, err
}

// Commit ends the archive and waits for the PUT.
func (s *streamSink) Commit() (filegate.ObjectInfo, error) {
	if s.written != s.size {
		s.Abort()
		return filegate.ObjectInfo{}, fmt.Errorf("%w: the archive is %d bytes, not %d", ErrSourceChanged, s.written, s.size)
	}
	s.pipe.closeWrite(nil)
	<-s.done
	s.unwatch()
	return s.info, s.err
}

// Abort fails the PUT's body (the store keeps nothing) and waits for it.
func (s *streamSink) Abort() {
	s.pipe.closeWrite(errors.New("bundle: aborted"))
	<-s.done
	s.unwatch()
}

// pipe is an io.Pipe with a fixed buffer between its ends, so that the
// writer can run ahead of the reader (and before it starts) by up to the
// buffer's size. Written here because io.Pipe has no buffer and the
// buffered pipes in libraries either grow without bound or spill to
// files; this one is a ring under a mutex.
type pipe struct {
	mu   sync.Mutex
	cond sync.Cond
	buf  []byte
	r, n int   // unread bytes: n of them from r, wrapping around
	werr error // the writer's end: io.EOF once complete, else why it failed
	rerr error // the reader's end: why it stopped
}

func newPipe(buf []byte) *pipe {
	p := &pipe{buf: buf[:cap(buf)]}
	p.cond.L = &p.mu
	return p
}

func (p *pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	total := 0
	for len(b) > 0 {
		for p.n == len(p.buf) && p.rerr == nil && p.werr == nil {
			p.cond.Wait()
		}
		if p.rerr != nil {
			return total, p.rerr
		}
		if p.werr != nil {
			return total, p.werr
		}
		w := (p.r + p.n) % len(p.buf)
		end := len(p.buf)
		if w < p.r {
			end = p.r
		}
		c := copy(p.buf[w:end], b)
		p.n += c
		b = b[c:]
		total += c
		p.cond.Broadcast()
	}
	return total, nil
}

// Read gives buffered bytes; once the writer has failed, only its error
// (what is buffered is never delivered).
func (p *pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.n == 0 && p.werr == nil && p.rerr == nil {
		p.cond.Wait()
	}
	switch {
	case p.rerr != nil:
		return 0, p.rerr
	case p.werr != nil && p.werr != io.EOF:
		return 0, p.werr
	case p.n == 0:
		return 0, io.EOF
	}
	c := copy(b, p.buf[p.r:min(p.r+p.n, len(p.buf))])
	p.r = (p.r + c) % len(p.buf)
	p.n -= c
	p.cond.Broadcast()
	return c, nil
}

// closeWrite ends the writer's side: complete (err nil) or failed.
func (p *pipe) closeWrite(err error) {
	if err == nil {
		err = io.EOF
	}
	p.mu.Lock()
	if p.werr == nil {
		p.werr = err
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// closeRead ends the reader's side: writes fail with err from now on.
func (p *pipe) closeRead(err error) {
	p.mu.Lock()
	if p.rerr == nil {
		p.rerr = err
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}
