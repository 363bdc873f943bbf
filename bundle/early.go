package bundle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/filegate/filegate"
)

// Small objects fetched ahead of the writer, in any order. A prefix is
// listed 1,000 keys a page, one page after another; on a store whose
// answers come tens of milliseconds late (S3) that is a few hundred
// milliseconds before the archive's name (a digest of the whole listing)
// is known and writing can start. Meanwhile the small objects already
// listed are fetched into memory, so that the writer finds them ready;
// and fetching goes on, ahead of the writer, once the listing has ended.
// The writer takes the entries in order, but early fetches end in any
// order: a slow answer holds back none of the others, where the writer's
// own window of fetches (write) waits on its oldest. With the early
// fetcher stopped at the listing's end, the 2-core machine idled 10-14% of
// the time while the writer fetched the rest of a 5,000-object prefix
// through 20 ms of latency (2026-12-04).
//
// Memory is bounded twice: earlyBytes per bundle, fetched and not yet
// written, and a budget shared by all bundles (Config.MemoryBudget / 4)
// taken without waiting: when it is spent, objects are simply left to the
// writer. Only objects of at most earlyObject bytes are fetched early. An
// object the writer reaches before the early fetcher has started it is
// the writer's (claim): it is never fetched twice.
//
// earlyBytes is 16 MiB, about 4,000 objects of 4 KiB: with 8 MiB a 5,000-
// object listing through 20 ms of latency filled it by its third page, and
// the store then idled while the last two were listed.
const (
	earlyBytes  = 16 << 20
	earlyObject = 64 << 10
)

// early holds the objects of one bundle fetched ahead of the plan.
type early struct {
	ctx     context.Context
	cancel  context.CancelFunc
	unwatch func() bool // stops close from running when the plan's context ends
	src     filegate.Bucket
	budget  *semaphore.Weighted
	turns   *semaphore.Weighted // GETs in flight, all bundles (Config.Fetches)
	slots   chan struct{}       // fetches in flight
	fetches *workers
	wg      sync.WaitGroup // the pages' loops
	last    chan struct{}  // closed when the last page added has been gone through

	mu     sync.Mutex
	room   sync.Cond // on mu: left grew, or closed
	got    map[string]*earlyObj
	left   int64 // of earlyBytes
	closed bool
}

// claimed marks, in early.got, a key the writer fetches itself.
var claimed = &earlyObj{}

type earlyObj struct {
	done chan struct{}
	data []byte
	etag string
	err  error
	size int64 // budget held; 0 once given back
}

// newEarly starts an early fetcher for a plan made under ctx. Whoever ends
// up with the plan closes it; a plan nobody writes gives its memory back
// when ctx ends.
func newEarly(ctx context.Context, src filegate.Bucket, budget, turns *semaphore.Weighted, inflight int) *early {
	fctx, cancel := shallow(ctx)
	e := &early{ctx: fctx, cancel: cancel, src: src, budget: budget, turns: turns, slots: make(chan struct{}, inflight), fetches: newWorkers(inflight), got: map[string]*earlyObj{}, left: earlyBytes}
	e.room.L = &e.mu
	e.unwatch = context.AfterFunc(ctx, e.close)
	return e
}

// add starts fetching the small objects of one listed page, in order and
// after those of the pages added before, in the background; it returns at
// once (it is called by one goroutine, the listing's).
func (e *early) add(page []filegate.ObjectInfo) {
	if e == nil {
		return
	}
	prev, done := e.last, make(chan struct{})
	e.last = done
	e.wg.Go(func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		for _, o := range page {
			if o.Size > earlyObject || o.Size <= 0 {
				continue
			}
			e.mu.Lock()
			for o.Size > e.left && !e.closed {
				e.room.Wait() // until the writer has written some
			}
			_, dup := e.got[o.Key]
			stop := e.closed
			e.mu.Unlock()
			if stop {
				return
			}
			if dup {
				continue
			}
			// A slot and a turn before the object is entered: the writer
			// waits only for fetches under way, which end without it, and
			// fetches an object not entered yet itself (claim). Entered
			// while waiting for a turn, an object the writer waited for
			// could wait on turns held by writers' windows, its own
			// included.
			select {
			case e.slots <- struct{}{}:
			case <-e.ctx.Done():
				return
			}
			if err := e.turns.Acquire(e.ctx, 1); err != nil {
				<-e.slots
				return
			}
			e.mu.Lock()
			_, dup = e.got[o.Key]
			if e.closed || dup || !e.budget.TryAcquire(o.Size) {
				stop := e.closed
				e.mu.Unlock()
				e.turns.Release(1)
				<-e.slots
				if stop {
					return
				}
				continue
			}
			e.left -= o.Size
			obj := &earlyObj{done: make(chan struct{}), size: o.Size}
			e.got[o.Key] = obj
			e.mu.Unlock()
			e.fetches.Go(func() {
				defer func() { <-e.slots }()
				defer e.turns.Release(1) // the body is read whole
				defer close(obj.done)
				obj.data, obj.etag, obj.err = e.fetch(o)
			})
		}
	})
}

func (e *early) fetch(o filegate.ObjectInfo) ([]byte, string, error) {
	if sg, ok := e.src.(filegate.SmallGetter); ok {
		data, info, err := sg.GetSmall(e.ctx, o.Key)
		if err != nil {
			return nil, "", err
		}
		if int64(len(data)) != o.Size {
			return nil, "", errChangedEarly // the writer fetches it and finds out
		}
		return data, info.ETag, nil
	}
	body, info, err := e.src.Get(e.ctx, o.Key)
	if err != nil {
		return nil, "", err
	}
	defer body.Close()
	if info.Size >= 0 && info.Size != o.Size {
		return nil, "", errChangedEarly // the writer fetches it and finds out
	}
	// Read into a buffer of exactly the listed size, at once: io.ReadAll
	// would grow one several times, and one byte more (to catch an object
	// that grew) would put a 4 KiB object in the allocator's 4,864-byte
	// class, a sixth more memory for every such object.
	data := make([]byte, o.Size)
	if _, err := io.ReadFull(body, data); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = errChangedEarly
		}
		return nil, "", err
	}
	if info.Size < 0 { // no length given: look for more
		var one [1]byte
		if n, _ := io.ReadFull(body, one[:]); n > 0 {
			return nil, "", errChangedEarly
		}
	}
	return data, info.ETag, nil
}

// errChangedEarly: an object fetched early is not the size listed. The
// writer fetches it again itself and reports the change.
var errChangedEarly = errors.New("bundle: an object fetched early is not the size listed")

// claim says whether the object was fetched early or is being (or will
// be) fetched: then the writer takes it (take) without a fetch of its own.
// Otherwise the object is the writer's, and is not fetched early.
func (e *early) claim(key string) bool {
	if e == nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if obj := e.got[key]; obj != nil && obj != claimed {
		return true
	}
	e.got[key] = claimed
	return false
}

// take returns the object's bytes if it was fetched early and is still
// the one listed (same ETag and size); false otherwise, and the writer
// fetches it itself. A fetch still in flight is waited for: it is the
// request the writer would make. The body gives the memory back when
// closed.
func (e *early) take(ctx context.Context, en Entry) (io.ReadCloser, bool) {
	if e == nil {
		return nil, false
	}
	e.mu.Lock()
	obj := e.got[en.Key]
	if obj != claimed {
		delete(e.got, en.Key)
	}
	e.mu.Unlock()
	if obj == nil || obj == claimed {
		return nil, false
	}
	select {
	case <-obj.done:
	case <-ctx.Done():
		// Still being fetched: close gives it back once the fetch ends.
		e.mu.Lock()
		e.got[en.Key] = obj
		e.mu.Unlock()
		return nil, false
	}
	if obj.err != nil || int64(len(obj.data)) != en.Size || (en.ETag != "" && obj.etag != "" && obj.etag != en.ETag) {
		e.giveBack(obj)
		return nil, false
	}
	return &earlyBody{Reader: bytes.NewReader(obj.data), release: func() { e.giveBack(obj) }}, true
}

func (e *early) giveBack(obj *earlyObj) {
	e.mu.Lock()
	n := obj.size
	obj.size = 0
	e.left += n
	e.room.Broadcast()
	e.mu.Unlock()
	if n > 0 {
		e.budget.Release(n)
	}
}

// close stops fetching and gives back the memory of every object not
// taken. Bodies already taken give theirs back when closed.
func (e *early) close() {
	if e == nil {
		return
	}
	e.mu.Lock()
	e.closed = true
	e.room.Broadcast()
	e.mu.Unlock()
	// A long-lived context (a job's) would otherwise keep this fetcher
	// registered, and reachable, until it ends.
	e.unwatch()
	e.cancel()
	e.wg.Wait()
	e.fetches.close()
	e.mu.Lock()
	rest := e.got
	e.got = map[string]*earlyObj{}
	e.mu.Unlock()
	for _, obj := range rest {
		if obj != claimed {
			e.giveBack(obj)
		}
	}
}

type earlyBody struct {
	*bytes.Reader
	once    sync.Once
	release func()
}

func (b *earlyBody) Close() error {
	b.once.Do(b.release)
	return nil
}
