// Package bundle zips a selection of objects store to store: sources are
// fetched concurrently ahead of the writer and streamed, in request order,
// into a zip archive that flows into one streamed PUT (an archive of known
// size, where the store takes one) or a multipart upload of the
// destination. Memory is bounded by the prefetch depth and the stream or
// part buffers, never by the archive's size or entry count. Any failure
// leaves nothing: the PUT never receives the archive's last bytes, the
// multipart upload is aborted. The same selection with the same source
// ETags is answered with the existing bundle.
package bundle

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/semaphore"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/grant"
	"github.com/filegate/filegate/internal/spans"
)

const abortTimeout = 30 * time.Second

// Config tunes the service; zero values take the defaults.
type Config struct {
	MaxKeys  int // largest selection; default 10,000
	Prefetch int // most sources opened ahead of the writer (the window adapts below it); default 256
	// Fetches bounds the GETs all bundles together have in flight or
	// open (a GET holds its store connection until its body is read);
	// more wait their turn, each bundle's in the order of its entries.
	// Keep it below the store connections filegate may open, so that the
	// bundles' HEADs, listings and uploads, and grants' HEADs, never queue
	// behind fetches for a connection. Default 384.
	Fetches  int
	PartSize int // destination part size; default 8 MiB
	Inflight int // parts uploading while the next fills; default 1
	// StreamMax is the largest archive of known size (every entry stored)
	// streamed into one PUT, where the bundle bucket can (a
	// filegate.StreamPutter); larger ones, and deflated ones, go up as
	// multipart uploads. Default 5 GiB, S3's largest PUT; negative: never.
	StreamMax     int64
	DefaultExpiry time.Duration // link lifetime; default 90 s
	// MemoryBudget bounds the part buffers of all bundles being written
	// (each holds (Inflight+1) buffers of at most PartSize, sized down to a
	// small bundle's known total) and 1 MiB per streamed zip; default
	// 128 MiB. Past it a bundle waits up to QueueWait (default 5 s), then
	// gets 429. A quarter of it more bounds the small objects fetched while
	// prefixes are being listed (at most 8 MiB a bundle; early.go).
	MemoryBudget int64
	QueueWait    time.Duration
	// OnEntry, when set, is told the size of every entry written (metrics).
	OnEntry func(bytes int64)
	Tracer  trace.Tracer

	// Jobs keeps async job records with conditional writes (package
	// store's Documents over the bundle bucket); default: plain writes to
	// the bundle bucket, which cannot arbitrate between replicas.
	Jobs Documents
	// Lease is how long a replica may go without renewing a running job
	// before another takes it over (default 30 s); Holder names this
	// replica in job records (default random).
	Lease  time.Duration
	Holder string
	// Dispatch, when set, runs an accepted job elsewhere (on Lambda: an
	// asynchronous invocation of the function, which calls Resume) instead
	// of in this process.
	Dispatch func(ctx context.Context, id string) error
}

// Service makes bundles. It is safe for concurrent use.
type Service struct {
	src    filegate.Bucket // where sources are read
	out    filegate.Bucket // where bundles are written
	grants *grant.Service
	cfg    Config
	memory *semaphore.Weighted
	early  *semaphore.Weighted // objects fetched while a prefix is listed (early.go)
	// fetches: GETs in flight or open, all bundles (Config.Fetches)
	fetches *semaphore.Weighted
	// parts keeps part buffers of cfg.PartSize between bundles: a bundle
	// that allocated its own would leave its predecessor's as garbage, and
	// the heap's peak would hold both.
	parts sync.Pool

	base   context.Context // parent of async jobs; cancelled by Close
	stop   context.CancelFunc
	jobs   sync.WaitGroup
	closed bool
	mu     sync.Mutex
}

// New returns a Service reading from st's source bucket and writing to its
// bundle bucket.
func New(src, out filegate.Bucket, g *grant.Service, cfg Config) *Service {
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = 10000
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 256
	}
	if cfg.Fetches <= 0 {
		cfg.Fetches = 384
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = 8 << 20
	}
	if cfg.Inflight == 0 {
		cfg.Inflight = 1
	}
	if cfg.StreamMax == 0 {
		cfg.StreamMax = 5 << 30
	}
	if cfg.DefaultExpiry == 0 {
		cfg.DefaultExpiry = 90 * time.Second
	}
	if cfg.MemoryBudget == 0 {
		cfg.MemoryBudget = 128 << 20
	}
	if cfg.QueueWait == 0 {
		cfg.QueueWait = 5 * time.Second
	}
	if cfg.Tracer == nil {
		cfg.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if cfg.Jobs == nil {
		cfg.Jobs = plainDocuments{out}
	}
	if cfg.Lease == 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Holder == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		cfg.Holder = hex.EncodeToString(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{src: src, out: out, grants: g, cfg: cfg, base: ctx, stop: cancel, memory: semaphore.NewWeighted(cfg.MemoryBudget),
		early: semaphore.NewWeighted(max(earlyObject, cfg.MemoryBudget/4)), fetches: semaphore.NewWeighted(int64(cfg.Fetches))}
}

// Request selects what to bundle: Keys or Prefix.
type Request struct {
	Keys        []string
	Prefix      string
	Name        string // file name of the archive; default "bundle.zip"
	ExpiresIn   time.Duration
	Compression Method // store, deflate or auto (default)
	Missing     string // "fail" (default) or "skip"
}

// Plan is a resolved selection, ready to be written.
type Plan struct {
	Entries []Entry
	Skipped []string
	Name    string // archive file name
	Key     string // destination key in the bundle bucket
	// Size is the archive's exact size when every entry is stored
	// (SizeKnown), which lets a direct stream send Content-Length.
	Size      int64
	SizeKnown bool
	principal *filegate.Principal
	expires   time.Duration
	req       Request // what Prepare was asked, for a job another replica takes over
	early     *early  // small objects fetched while the prefix was listed; nil for keys
}

// Prepare checks the request and resolves the selection: every source
// exists (or is skipped), lies inside p's scope, and is named safely.
// Nothing is written.
func (s *Service) Prepare(ctx context.Context, p *filegate.Principal, req Request) (*Plan, error) {
	const op = "bundle.Prepare"
	method, name, err := s.checkRequest(op, p, req)
	if err != nil {
		return nil, err
	}
	exp := req.ExpiresIn
	if exp == 0 {
		exp = s.cfg.DefaultExpiry
	}
	if exp, err = s.grants.Expiry(ctx, op, exp); err != nil {
		return nil, err
	}
	var skipped []string
	var pre *early
	sctx, cancel := shallow(ctx) // the listing's or the keys' store calls
	defer cancel()
	// Entry names are relative to the folder the prefix ends in, or to
	// the token's own prefix for chosen keys.
	base := p.Prefix
	if req.Prefix != "" {
		base = req.Prefix[:strings.LastIndexByte(req.Prefix, '/')+1]
	}
	pl := newPlanner(method, name, base)
	if req.Prefix != "" {
		// As many fetches in flight as the writer keeps: on a store tens
		// of milliseconds away, fewer left the store idle while the
		// listing went on (2026-12-03, a 5,000-object prefix through the
		// bench's delay proxy: 1,100 objects fetched by the end of the
		// listing with 64; with 256, all the 8 MiB then allowed (2,048),
		// and 2,830 of the 16 MiB now allowed).
		pre = newEarly(ctx, s.src, s.early, s.fetches, max(1, s.cfg.Prefetch))
		err = s.selectPrefix(sctx, op, p, req.Prefix, func(page []filegate.ObjectInfo) {
			pre.add(page)
			pl.add(page) // while the next page is listed
		})
	} else {
		var infos []filegate.ObjectInfo
		infos, skipped, err = s.selectKeys(sctx, op, p, req.Keys, req.Missing == "skip")
		pl.add(infos)
	}
	if err == nil && len(pl.entries) == 0 {
		err = filegate.NewError(filegate.NotFound, op, "empty_selection", "the selection holds no objects")
	}
	if err != nil {
		pre.close()
		return nil, err
	}
	plan := &Plan{Entries: pl.entries, Skipped: skipped, Name: name, principal: p, expires: exp, req: req, early: pre,
		Key: p.Prefix + "bundles/" + hex.EncodeToString(pl.fp.Sum(nil))[:32] + "/" + name}
	plan.Size, plan.SizeKnown = pl.size.total()
	return plan, nil
}

// planner builds a plan's entries, its fingerprint and its size as the
// selection comes in: for a prefix, page by page while the next page is
// listed, rather than all at once after the last.
type planner struct {
	method  Method
	base    string // the folder entry names are relative to
	names   uniqueNames
	fp      hash.Hash
	entries []Entry
	size    sizer
}

func newPlanner(method Method, name, base string) *planner {
	pl := &planner{method: method, base: base, names: uniqueNames{}, fp: sha256.New(), size: newSizer()}
	fmt.Fprintf(pl.fp, "filegate bundle v1\x00%s\x00%s\x00", method, name)
	return pl
}

func (pl *planner) add(infos []filegate.ObjectInfo) {
	for _, in := range infos {
		e := Entry{Key: in.Key, Size: in.Size, ETag: in.ETag, ContentType: in.ContentType, Modified: in.LastModified}
		e.Name = pl.names.take(EntryName(in.Key, pl.base))
		e.Method = resolveMethod(pl.method, e)
		pl.entries = append(pl.entries, e)
		fmt.Fprintf(pl.fp, "%s\x00%s\x00%s\x00%d\x00", e.Key, e.Name, e.ETag, e.Size)
		pl.size.add(e)
	}
}

// checkRequest validates what needs no store call and returns the
// compression method and the archive's file name.
func (s *Service) checkRequest(op string, p *filegate.Principal, req Request) (Method, string, error) {
	bad := func(code, msg string) (Method, string, error) {
		return "", "", filegate.NewError(filegate.Invalid, op, code, msg)
	}
	if !p.Can(filegate.ActBundle) {
		return "", "", filegate.NewError(filegate.Forbidden, op, "action_not_allowed", "token may not bundle")
	}
	if (len(req.Keys) == 0) == (req.Prefix == "") {
		return bad("invalid_selection", "give exactly one of keys and prefix")
	}
	if len(req.Keys) > s.cfg.MaxKeys {
		return "", "", filegate.NewError(filegate.TooLarge, op, "too_many_keys", fmt.Sprintf("at most %d keys per bundle", s.cfg.MaxKeys))
	}
	method := req.Compression
	switch method {
	case "":
		method = Auto
	case Store, Deflate, Auto:
	default:
		return bad("invalid_compression", `compression must be "store", "deflate" or "auto"`)
	}
	switch req.Missing {
	case "", "fail", "skip":
	default:
		return bad("invalid_missing", `missing must be "fail" or "skip"`)
	}
	name, err := archiveName(op, req.Name)
	if err != nil {
		return "", "", err
	}
	return method, name, nil
}

// selectPrefix lists every object under prefix, which must lie inside p's
// scope, giving each page to each.
func (s *Service) selectPrefix(ctx context.Context, op string, p *filegate.Principal, prefix string, each func([]filegate.ObjectInfo)) error {
	if err := filegate.ValidatePrefix(op, prefix); err != nil {
		return err
	}
	if !strings.HasPrefix(prefix, p.Prefix) {
		return filegate.NewError(filegate.Forbidden, op, "key_outside_scope", "prefix is outside the token's prefix").WithKey(prefix)
	}
	return s.listAll(ctx, prefix, each)
}

// selectKeys checks every key and that it exists; missing keys fail the
// selection unless skip, when they are returned as skipped.
func (s *Service) selectKeys(ctx context.Context, op string, p *filegate.Principal, keys []string, skip bool) ([]filegate.ObjectInfo, []string, error) {
	for _, k := range keys {
		if err := filegate.ValidateKey(op, k); err != nil {
			return nil, nil, err
		}
		if err := p.Authorize(op, filegate.ActBundle, k); err != nil {
			return nil, nil, err
		}
	}
	infos, missing, err := s.headAll(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	if len(missing) > 0 && !skip {
		shown := missing
		if len(shown) > 50 {
			shown = shown[:50]
		}
		return nil, nil, filegate.NewError(filegate.NotFound, op, "missing_keys",
			fmt.Sprintf("%d of the selected objects do not exist: %s", len(missing), strings.Join(shown, ", ")))
	}
	return infos, missing, nil
}

func archiveName(op, n string) (string, error) {
	if n == "" {
		return "bundle.zip", nil
	}
	if len(n) > 200 || strings.ContainsAny(n, "/\\") || n == "." || n == ".." || strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", filegate.NewError(filegate.Invalid, op, "invalid_name", "name must be a file name (no slashes or control characters, at most 200 bytes)")
	}
	if !strings.HasSuffix(strings.ToLower(n), ".zip") {
		n += ".zip"
	}
	return n, nil
}

// headAll checks every key, 16 at a time, keeping request order.
func (s *Service) headAll(ctx context.Context, keys []string) ([]filegate.ObjectInfo, []string, error) {
	infos := make([]filegate.ObjectInfo, len(keys))
	errs := make([]error, len(keys))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			infos[i], errs[i] = s.src.Head(ctx, k)
		})
	}
	wg.Wait()
	var out []filegate.ObjectInfo
	var missing []string
	seen := map[string]bool{}
	for i, err := range errs {
		switch {
		case err == nil:
			if !seen[keys[i]] { // a key listed twice is bundled once
				seen[keys[i]] = true
				out = append(out, infos[i])
			}
		case filegate.KindOf(err) == filegate.NotFound:
			missing = append(missing, keys[i])
		default:
			return nil, nil, err
		}
	}
	return out, missing, nil
}

// firstPage is how many keys the first page of a listing asks for.
const firstPage = 100

// listAll lists every object under prefix, giving each page (folder
// markers left out) to each as it comes.
func (s *Service) listAll(ctx context.Context, prefix string, each func([]filegate.ObjectInfo)) error {
	token := ""
	n := 0
	// The first page is small: a store lists 100 keys sooner than 1,000,
	// and the objects fetched early wait for it. Each page after it is
	// three times as large, up to the 1,000 S3 gives: through 20 ms of
	// latency the 100 objects of the first page are fetched before a page
	// of 1,000 comes, and one of 300 comes sooner (2026-12-03, alternated
	// bench runs: 0.99–1.02 s against 0.98–1.04 s, within the VM's noise
	// but ahead in each pair).
	limit := int32(firstPage)
	for {
		page, err := s.src.List(ctx, filegate.ListInput{Prefix: prefix, Token: token, Limit: limit})
		limit = min(limit*3, 1000)
		if err != nil {
			return err
		}
		objs := make([]filegate.ObjectInfo, 0, len(page.Objects))
		for _, o := range page.Objects {
			if strings.HasSuffix(o.Key, "/") && o.Size == 0 {
				continue // folder markers
			}
			objs = append(objs, o)
		}
		if n += len(objs); n > s.cfg.MaxKeys {
			return filegate.NewError(filegate.TooLarge, "bundle.Prepare", "too_many_keys", fmt.Sprintf("the prefix holds more than %d objects", s.cfg.MaxKeys))
		}
		each(objs)
		if page.Next == "" {
			return nil
		}
		token = page.Next
	}
}

// Result is a stored bundle and its link.
type Result struct {
	Key       string
	URL       string
	ExpiresAt time.Time
	Size      int64
	Entries   int
	Skipped   []string
	Reused    bool
}

// Create writes the plan's archive into the bundle bucket (or finds the
// same bundle already there) and signs a link to it.
func (s *Service) Create(ctx context.Context, plan *Plan, progress Progress) (Result, error) {
	ctx, span := s.cfg.Tracer.Start(ctx, "bundle.Create", trace.WithAttributes(
		attribute.Int("bundle.entries", len(plan.Entries)), attribute.String("bundle.key", plan.Key)))
	defer span.End()
	defer plan.early.close()
	ctx, cancel := shallow(ctx)
	defer cancel()
	res := Result{Key: plan.Key, Entries: len(plan.Entries), Skipped: plan.Skipped}
	// The bundle may be stored already (the same selection, unchanged):
	// the HEAD of its key decides, while the writer starts behind a gate.
	g := newGate()
	var existing filegate.ObjectInfo
	var headErr error
	go func() {
		existing, headErr = s.out.Head(ctx, plan.Key)
		g.decide(filegate.KindOf(headErr) == filegate.NotFound)
	}()
	info, err := s.write(ctx, plan, progress, g)
	<-g.done
	switch {
	case headErr == nil:
		res.Size, res.Reused = existing.Size, true
		span.SetAttributes(attribute.Bool("bundle.reused", true))
	case filegate.KindOf(headErr) != filegate.NotFound:
		return Result{}, headErr
	case err != nil:
		span.SetStatus(codes.Error, "bundle failed")
		return Result{}, err
	default:
		res.Size = info.Size
	}
	span.SetAttributes(attribute.Int64("bundle.bytes", res.Size))
	link, err := s.out.PresignGet(ctx, plan.Key, filegate.GetOptions{
		Expires: plan.expires, ContentDisposition: mime.FormatMediaType("attachment", map[string]string{"filename": plan.Name}),
	})
	if err != nil {
		return Result{}, err
	}
	res.URL, res.ExpiresAt = link.URL, link.Expires
	return res, nil
}

// reserve takes n bytes of the memory budget, waiting up to QueueWait.
//
// Behind a gate (nil: none) it waits only once the gate has opened: a
// bundle that may exist already queues for memory only once the HEAD has
// found that it does not (reused, it needs none).
func (s *Service) reserve(ctx context.Context, op string, n int64, g *gate) (func(), error) {
	n = min(n, s.cfg.MemoryBudget) // a bundle larger than the budget runs alone
	release := func() { s.memory.Release(n) }
	if s.memory.TryAcquire(n) {
		return release, nil
	}
	if err := g.wait(ctx); err != nil {
		return nil, err
	}
	qctx, cancel := context.WithTimeout(ctx, s.cfg.QueueWait)
	defer cancel()
	if err := s.memory.Acquire(qctx, n); err != nil {
		return nil, filegate.NewError(filegate.Busy, op, "busy", "too many bundles in progress; try again shortly").Wrap(err)
	}
	return release, nil
}

// Bound is an upper bound of the archive's size: exact when every entry is
// stored, otherwise each entry's size plus deflate's worst-case growth and
// the zip headers. On incompressible data compress/flate ends a block
// every 16,384 tokens and stores it: 5 bytes of block header per 16 KiB
// (measured: 1 MiB of random bytes deflates to 320 bytes more); a
// thousandth leaves room to spare.
func Bound(plan *Plan) int64 {
	if plan.SizeKnown {
		return plan.Size
	}
	var b int64 = 22 + 56 + 20 // end of central directory, Zip64 records
	for _, e := range plan.Entries {
		b += e.Size + e.Size/1024 + 16 + int64(len(e.Name))*2 + 256
	}
	return b
}

// streamBuffer is the pipe's buffer between a streamed archive's writer
// and its PUT: enough to hold what the writer makes from objects fetched
// early while the HEAD of the bundle's key is answered.
const streamBuffer = 8 << 20

// write writes the plan's archive into the bundle bucket once g opens
// (Create); errNotWritten if it shuts.
func (s *Service) write(ctx context.Context, plan *Plan, progress Progress, g *gate) (filegate.ObjectInfo, error) {
	partSize := s.cfg.PartSize
	bound := Bound(plan)
	if need := bound/9000 + 1; need > int64(partSize) { // stay well inside 10,000 parts
		partSize = int((need + (1<<20 - 1)) &^ (1<<20 - 1))
	}
	inflight := s.cfg.Inflight
	// Streamed into one PUT: no part buffers, no multipart calls, and (on
	// the embedded store) no copy of the parts into the object at the end.
	// A PUT that fails is not retried: the bundle fails and can be asked
	// again; a multipart upload retries a part.
	sp, stream := s.out.(filegate.StreamPutter)
	stream = stream && plan.SizeKnown && bound <= s.cfg.StreamMax
	if stream {
		partSize, inflight = int(min(bound, streamBuffer)), 0
	} else if bound < int64(partSize) {
		// One part holds it all: one buffer of the archive's size.
		partSize, inflight = int(bound), 0
	}
	release, err := s.reserve(ctx, "bundle.Create", int64(partSize)*int64(inflight+1), g)
	if err != nil {
		return filegate.ObjectInfo{}, err
	}
	defer release()
	var sk interface {
		io.Writer
		Commit() (filegate.ObjectInfo, error)
		Abort()
	}
	if stream {
		var buf []byte
		if partSize == s.cfg.PartSize {
			if p, ok := s.parts.Get().(*[]byte); ok {
				buf = *p
			}
		}
		if buf == nil {
			buf = make([]byte, max(partSize, 1))
		}
		defer func() { // once the sink is done with it (Commit, Abort)
			if cap(buf) == s.cfg.PartSize {
				buf = buf[:0]
				s.parts.Put(&buf)
			}
		}()
		sk = newStreamSink(ctx, sp, plan.Key, bound, buf, g)
	} else if inflight == 0 {
		// One PUT once the archive is whole: on a store with tens of
		// milliseconds a call, the create and complete of a multipart
		// upload (and the HEAD after it) are most of a small bundle's time.
		sk = &putSink{ctx: ctx, st: s.out, key: plan.Key, buf: make([]byte, 0, partSize), gate: g}
	} else {
		var pool *sync.Pool
		if partSize == s.cfg.PartSize {
			pool = &s.parts
		}
		sk = newSink(ctx, s.out, plan.Key, partSize, inflight, pool, g)
	}
	if err := s.writeTo(ctx, plan, sk, progress, g); err != nil {
		sk.Abort()
		return filegate.ObjectInfo{}, err
	}
	return sk.Commit()
}

// WriteTo streams the plan's archive into w (a direct download).
func (s *Service) WriteTo(ctx context.Context, plan *Plan, w io.Writer, progress Progress) error {
	defer plan.early.close()
	ctx, cancel := shallow(ctx)
	defer cancel()
	release, err := s.reserve(ctx, "bundle.Stream", 1<<20, nil)
	if err != nil {
		return err
	}
	defer release()
	return s.writeTo(ctx, plan, w, progress, nil)
}

// writeTo writes the archive into w. Behind a gate (nil: none), it writes
// the objects fetched early at once, fetches others (as far as its window
// reaches) but writes them only once the gate opens, and holds back the
// entries' reports (trace spans, metrics, job progress) until then: a
// bundle found already stored reports none.
func (s *Service) writeTo(ctx context.Context, plan *Plan, w io.Writer, progress Progress, g *gate) error {
	// A fetch takes its turn in entry order, so that a bundle holding
	// turns holds the one its writer waits for, and gives its turns back
	// as it writes: bundles waiting on each other's turns cannot deadlock.
	// Objects fetched early need none (an early fetch that failed is
	// fetched again without one).
	admit := func(ctx context.Context, e Entry) (func(), error) {
		if plan.early.claim(e.Key) {
			return nil, nil
		}
		if err := g.shut(); err != nil {
			return nil, err
		}
		if err := s.fetches.Acquire(ctx, 1); err != nil {
			return nil, err
		}
		return func() { s.fetches.Release(1) }, nil
	}
	// Fetches start before the HEAD of the bundle's key answers, but no
	// entry fetched then is written (nor its failure reported) until it
	// has: a bundle found stored costs at most the writer's window of
	// GETs, and one that is not loses no time. On a store 20 ms away the
	// HEAD took 30-70 ms after the listing's end, while no fetch ran
	// (2026-12-04, the bench's delay proxy).
	open := func(ctx context.Context, e Entry) (io.ReadCloser, error) {
		if body, ok := plan.early.take(ctx, e); ok {
			return body, nil
		}
		body, err := s.fetch(ctx, e)
		if werr := g.wait(ctx); werr != nil {
			if body != nil {
				body.Close()
			}
			return nil, werr
		}
		return body, err
	}
	type report struct {
		e    Entry
		n    int64
		took time.Duration
		end  time.Time
	}
	emit := func(r report) {
		_, sp := spans.Start(ctx, s.cfg.Tracer, "bundle.entry", trace.WithTimestamp(r.end.Add(-r.took)),
			trace.WithAttributes(attribute.String("bundle.entry.key", r.e.Key), attribute.Int64("bundle.entry.bytes", r.n)))
		sp.End(trace.WithTimestamp(r.end))
		if s.cfg.OnEntry != nil {
			s.cfg.OnEntry(r.n)
		}
		if progress != nil {
			progress(r.e, r.n, r.took)
		}
	}
	var held []report // the writer calls back from one goroutine
	flush := func() {
		for _, r := range held {
			emit(r)
		}
		held = nil
	}
	err := write(ctx, w, plan.Entries, open, admit, s.cfg.Prefetch, func(e Entry, n int64, took time.Duration) {
		r := report{e, n, took, time.Now()}
		if !g.passed() {
			held = append(held, r)
			return
		}
		flush()
		emit(r)
	})
	if err == nil && len(held) > 0 {
		if err = g.wait(ctx); err == nil {
			flush()
		}
	}
	if errors.Is(err, ErrSourceChanged) {
		return filegate.NewError(filegate.Conflict, "bundle.Write", "source_changed", err.Error()).Wrap(err)
	}
	return err
}

// fetch opens an entry's object in the source: read whole when it is
// small (getSmall), streamed otherwise.
func (s *Service) fetch(ctx context.Context, e Entry) (io.ReadCloser, error) {
	if body, ok, err := s.getSmall(ctx, e); ok {
		return body, err
	}
	body, info, err := s.src.Get(ctx, e.Key)
	if err != nil {
		return nil, changed(err, e.Key)
	}
	if e.ETag != "" && info.ETag != "" && info.ETag != e.ETag {
		body.Close()
		return nil, fmt.Errorf("%w: %q was replaced", ErrSourceChanged, e.Key)
	}
	return body, nil
}

// getSmall reads a small entry whole where the source has a cheaper way
// to (filegate.SmallGetter), holding its size of the early fetches' memory
// budget until the body is closed; ok is false where that does not apply
// (or the budget is spent), and the entry is streamed.
func (s *Service) getSmall(ctx context.Context, e Entry) (body io.ReadCloser, ok bool, err error) {
	sg, can := s.src.(filegate.SmallGetter)
	if !can || e.Size <= 0 || e.Size > earlyObject || !s.early.TryAcquire(e.Size) {
		return nil, false, nil
	}
	release := func() { s.early.Release(e.Size) }
	data, info, err := sg.GetSmall(ctx, e.Key)
	if err != nil {
		release()
		return nil, true, changed(err, e.Key)
	}
	if e.ETag != "" && info.ETag != "" && info.ETag != e.ETag {
		release()
		return nil, true, fmt.Errorf("%w: %q was replaced", ErrSourceChanged, e.Key)
	}
	// A size other than the listed one fails in writeEntry.
	return &earlyBody{Reader: bytes.NewReader(data), release: release}, true, nil
}

// changed says that an object was deleted, or grew past what a small read
// takes, since it was listed; other errors are returned as they are.
func changed(err error, key string) error {
	switch filegate.KindOf(err) {
	case filegate.NotFound:
		return fmt.Errorf("%w: %q was deleted", ErrSourceChanged, key)
	case filegate.TooLarge:
		return fmt.Errorf("%w: %q grew", ErrSourceChanged, key)
	}
	return err
}
