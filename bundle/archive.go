package bundle

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"
	"strings"
	"sync"
	"time"
)

// Method is how an entry is stored.
type Method string

// Compression choices.
const (
	Store   Method = "store"
	Deflate Method = "deflate"
	Auto    Method = "auto" // store what is already compressed, deflate the rest
)

// Entry is one file of an archive.
type Entry struct {
	Key         string
	Name        string // entry name in the archive
	Size        int64
	ETag        string
	ContentType string
	Modified    time.Time
	Method      Method // Store or Deflate, resolved
}

// Opener opens an entry's bytes.
type Opener func(ctx context.Context, e Entry) (io.ReadCloser, error)

// compressed reports whether content is already compressed, so deflating
// it again would cost CPU for nothing.
func compressed(name, contentType string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".heic", ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar",
		".mp4", ".m4v", ".mov", ".mkv", ".webm", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".flac", ".docx", ".xlsx", ".pptx", ".jar", ".apk":
		return true
	}
	ct := strings.ToLower(contentType)
	switch {
	case strings.HasPrefix(ct, "video/"), strings.HasPrefix(ct, "audio/"),
		strings.HasPrefix(ct, "image/") && ct != "image/svg+xml" && ct != "image/bmp" && ct != "image/tiff",
		ct == "application/zip", ct == "application/gzip", ct == "application/x-7z-compressed":
		return true
	}
	return false
}

func resolveMethod(m Method, e Entry) Method {
	if m == Auto {
		if compressed(e.Name, e.ContentType) {
			return Store
		}
		return Deflate
	}
	return m
}

// header is the zip header of an entry. Stored entries are written raw with
// a data descriptor, their CRC computed while streaming, so that the size of
// an all-stored archive is known before the first byte (ExactSize).
func header(e Entry) *zip.FileHeader {
	fh := &zip.FileHeader{Name: e.Name, Modified: e.Modified.UTC(), Method: zip.Deflate}
	fh.SetMode(0o644)
	if e.Method == Store {
		fh.Method = zip.Store
		fh.Flags |= 0x8 // data descriptor: the CRC follows the data
		fh.CompressedSize64 = uint64(e.Size)
		fh.UncompressedSize64 = uint64(e.Size)
	}
	return fh
}

// ExactSize returns the archive's size in bytes when every entry is stored;
// ok is false when any entry is deflated. It lays the archive out with
// archive/zip itself over a counting writer, so it cannot disagree with what
// Write produces.
func ExactSize(entries []Entry) (size int64, ok bool) {
	s := newSizer()
	for _, e := range entries {
		s.add(e)
	}
	return s.total()
}

// sizer lays an archive out entry by entry, for ExactSize and for plans
// made page by page.
type sizer struct {
	cw     *counter
	zw     *zip.Writer
	zeros  []byte
	failed bool // an entry is deflated, archive/zip refused one, or closed
}

func newSizer() sizer {
	cw := new(counter)
	return sizer{cw: cw, zw: zip.NewWriter(cw)}
}

func (s *sizer) add(e Entry) {
	if s.failed {
		return
	}
	if e.Method != Store {
		s.failed = true
		return
	}
	w, err := s.zw.CreateRaw(header(e))
	if err != nil {
		s.failed = true
		return
	}
	// Only lengths matter: the same block of zeros stands for every
	// entry's bytes (io.CopyN would allocate a buffer per entry).
	if s.zeros == nil && e.Size > 0 {
		s.zeros = make([]byte, 64<<10)
	}
	for left := e.Size; left > 0; {
		n, err := w.Write(s.zeros[:min(left, int64(len(s.zeros)))])
		if err != nil {
			s.failed = true
			return
		}
		left -= int64(n)
	}
}

// total closes the layout and returns its size; false when any entry is
// deflated. No entry may be added after it.
func (s *sizer) total() (int64, bool) {
	if s.failed {
		return 0, false
	}
	s.failed = true
	if err := s.zw.Close(); err != nil {
		return 0, false
	}
	return int64(*s.cw), true
}

type counter int64

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }

// Progress is told about every entry written.
type Progress func(e Entry, written int64, took time.Duration)

// ErrSourceChanged is returned when an object's size changed between
// selection and reading.
var ErrSourceChanged = errors.New("bundle: a source object changed while bundling")

// Write streams the entries, in order, as a zip archive into w. Up to
// prefetch entries ahead of the writer are opened concurrently (the window
// below decides how many); an opened entry holds a streaming body, so
// memory is bounded by prefetch, not by the archive.
func Write(ctx context.Context, w io.Writer, entries []Entry, open Opener, prefetch int, progress Progress) error {
	return write(ctx, w, entries, open, nil, prefetch, progress)
}

// admitter gives an entry its turn to be opened, in entry order, before
// its opener runs; the release it returns (nil: none to give back) runs
// once the entry's body is closed, or at once if it failed to open.
type admitter func(ctx context.Context, e Entry) (release func(), err error)

func write(ctx context.Context, w io.Writer, entries []Entry, open Opener, admit admitter, prefetch int, progress Progress) error {
	if prefetch < 1 {
		prefetch = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type opened struct {
		body io.ReadCloser
		err  error
	}
	slots := make([]chan opened, len(entries))
	for i := range slots {
		slots[i] = make(chan opened, 1)
	}
	win := newWindow(ctx, entries, prefetch)
	openers := newWorkers(prefetch)
	go func() {
		for i, e := range entries {
			if !win.acquire() {
				for _, s := range slots[i:] {
					s <- opened{err: ctx.Err()}
				}
				return
			}
			var release func()
			if admit != nil {
				r, err := admit(ctx, e)
				if err != nil {
					for _, s := range slots[i:] {
						s <- opened{err: err}
					}
					return
				}
				release = r
			}
			openers.Go(func() {
				body, err := open(ctx, e)
				if release != nil {
					if err != nil {
						release()
					} else {
						body = &released{ReadCloser: body, release: release}
					}
				}
				slots[i] <- opened{body, err}
			})
		}
	}()
	// On early return, close every body that was opened but not written.
	// Every slot filled, the opener loop has made its last call to Go.
	done := 0
	defer func() {
		cancel()
		for _, s := range slots[done:] {
			if o := <-s; o.body != nil {
				o.body.Close()
			}
		}
		openers.close()
	}()

	zw := zip.NewWriter(w)
	// One copy buffer for the whole archive: io.Copy would allocate 32 KiB
	// for every entry (a store's body has no WriteTo), which for thousands
	// of small objects is most of what the garbage collector has to do.
	buf := make([]byte, 32<<10)
	for i, e := range entries {
		var o opened
		select {
		case o = <-slots[i]:
		default:
			// The writer waits on the store: more requests in flight.
			win.grow()
			o = <-slots[i]
		}
		done = i + 1
		win.release()
		if o.err != nil {
			return fmt.Errorf("bundle: open %q: %w", e.Key, o.err)
		}
		start := time.Now()
		n, err := writeEntry(zw, e, o.body, buf)
		o.body.Close()
		if err != nil {
			return err
		}
		if progress != nil {
			progress(e, n, time.Since(start))
		}
	}
	return zw.Close()
}

// released gives an entry's turn back when its body is closed.
type released struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (r *released) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(r.release)
	return err
}

func writeEntry(zw *zip.Writer, e Entry, body io.Reader, buf []byte) (int64, error) {
	fh := header(e)
	if e.Method == Store {
		w, err := zw.CreateRaw(fh)
		if err != nil {
			return 0, err
		}
		crc := crc32.NewIEEE()
		n, err := io.CopyBuffer(io.MultiWriter(w, crc), body, buf)
		if err != nil {
			return n, fmt.Errorf("bundle: copy %q: %w", e.Key, err)
		}
		if n != e.Size {
			return n, fmt.Errorf("%w: %q is %d bytes, was %d", ErrSourceChanged, e.Key, n, e.Size)
		}
		fh.CRC32 = crc.Sum32() // read by archive/zip when it closes the entry
		return n, nil
	}
	w, err := zw.CreateHeader(fh)
	if err != nil {
		return 0, err
	}
	n, err := io.CopyBuffer(w, body, buf)
	if err != nil {
		return n, fmt.Errorf("bundle: copy %q: %w", e.Key, err)
	}
	if n != e.Size {
		return n, fmt.Errorf("%w: %q is %d bytes, was %d", ErrSourceChanged, e.Key, n, e.Size)
	}
	return n, nil
}

// window is how many entries the opener may run ahead of the writer. It
// starts from the entries' sizes (about 4 MiB in flight, at least 2
// entries: large objects need few requests to keep the writer busy) and
// doubles, up to max, each time the writer finds its next entry not yet
// open. By Little's law the requests in flight must cover the store's
// latency times the rate the writer takes entries at; a store whose
// answers come tens of milliseconds late (S3) starves the writer of small
// objects until the window is deep enough, and a fast local store does not.
type window struct {
	mu       sync.Mutex
	cond     sync.Cond
	inflight int
	depth    int
	max      int
	stopped  bool
}

func newWindow(ctx context.Context, entries []Entry, most int) *window {
	var total int64
	for _, e := range entries {
		total += e.Size
	}
	depth := most
	if len(entries) > 0 {
		if avg := total / int64(len(entries)); avg > 0 {
			depth = int(min(int64(most), max(2, (4<<20)/avg)))
		}
	}
	w := &window{depth: depth, max: most}
	w.cond.L = &w.mu
	context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.stopped = true
		w.mu.Unlock()
		w.cond.Broadcast()
	})
	return w
}

// acquire waits for room in the window; false when the context ended.
func (w *window) acquire() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.inflight >= w.depth && !w.stopped {
		w.cond.Wait()
	}
	if w.stopped {
		return false
	}
	w.inflight++
	return true
}

func (w *window) release() {
	w.mu.Lock()
	w.inflight--
	w.mu.Unlock()
	w.cond.Signal()
}

func (w *window) grow() {
	w.mu.Lock()
	w.depth = min(w.depth*2, w.max)
	w.mu.Unlock()
	w.cond.Signal()
}
