package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/embedded/gateway"
	"github.com/filegate/filegate/grant"
	"github.com/filegate/filegate/store"
	"github.com/filegate/filegate/storetest"
)

func TestMain(m *testing.M) {
	gateway.StandIn() // the test binary is also the embedded store's helper
	os.Exit(m.Run())
}

// realStore starts an embedded store for the test.
func realStore(t *testing.T) *store.Store {
	t.Helper()
	srv := storetest.StartEmbedded(t)
	st, err := store.New(context.Background(), store.Config{Endpoint: srv.Endpoint, Region: "us-east-1", AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, Bucket: "src", BundleBucket: "dst"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"src", "dst"} {
		if err := st.EnsureBucket(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func put(t *testing.T, st *store.Store, key string, body []byte) {
	t.Helper()
	if err := st.Put(context.Background(), st.Bucket, key, "application/octet-stream", body); err != nil {
		t.Fatal(err)
	}
}

// debris counts objects and multipart uploads in the bundle bucket.
func debris(t *testing.T, st *store.Store) (int, int) {
	t.Helper()
	ctx := context.Background()
	out, err := st.Output().List(ctx, filegate.ListInput{})
	if err != nil {
		t.Fatal(err)
	}
	ups, err := st.ListUploads(ctx, st.Bundles, "")
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Objects), len(ups)
}

var admin = &filegate.Principal{ID: "admin", Actions: filegate.Actions}

func TestNoDebrisOnFailure(t *testing.T) {
	t.Parallel()
	// A multipart upload with small parts, so that failures land after
	// parts were uploaded; and one streamed PUT of 64 MiB, through a pipe
	// smaller than the archive.
	t.Run("multipart", func(t *testing.T) { t.Parallel(); noDebris(t, -1) })
	t.Run("streamed", func(t *testing.T) { t.Parallel(); noDebris(t, 0) })
}

func noDebris(t *testing.T, streamMax int64) {
	st := realStore(t)
	svc := New(st.Source(), st.Output(), grant.New(st.Source(), grant.Limits{}), Config{PartSize: 5 << 20, Prefetch: 2, StreamMax: streamMax})
	const reps = 1 << 20 // 16 MiB objects
	big := bytes.Repeat([]byte("0123456789abcdef"), reps)
	for i := range 4 {
		put(t, st, fmt.Sprintf("f/%d.bin", i), big)
	}
	ctx := context.Background()
	req := Request{Prefix: "f/", Compression: Store}

	// A source vanishing between selection and writing.
	plan, err := svc.Prepare(ctx, admin, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, st.Bucket, "f/3.bin"); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Create(ctx, plan, nil)
	if filegate.KindOf(err) != filegate.Conflict || !errors.Is(err, ErrSourceChanged) {
		t.Fatalf("vanished source: %v, want a Conflict (source changed)", err)
	}
	if objs, ups := debris(t, st); objs != 0 || ups != 0 {
		t.Fatalf("vanished source left %d objects, %d uploads", objs, ups)
	}

	// A source replaced with other bytes of the same size.
	put(t, st, "f/3.bin", big)
	plan, err = svc.Prepare(ctx, admin, req)
	if err != nil {
		t.Fatal(err)
	}
	put(t, st, "f/2.bin", bytes.Repeat([]byte("fedcba9876543210"), reps))
	if _, err := svc.Create(ctx, plan, nil); !errors.Is(err, ErrSourceChanged) {
		t.Fatalf("replaced source: %v", err)
	}
	if objs, ups := debris(t, st); objs != 0 || ups != 0 {
		t.Fatalf("replaced source left %d objects, %d uploads", objs, ups)
	}

	// The client going away half-way.
	plan, err = svc.Prepare(ctx, admin, req)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	_, err = svc.Create(cctx, plan, func(e Entry, _ int64, _ time.Duration) {
		if e.Key == "f/1.bin" {
			cancel()
		}
	})
	if err == nil {
		t.Fatal("a cancelled bundle succeeded")
	}
	if objs, ups := debris(t, st); objs != 0 || ups != 0 {
		t.Fatalf("cancelled bundle left %d objects, %d uploads", objs, ups)
	}

	// And a good run leaves exactly one object.
	res, err := svc.Create(ctx, plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	if size, _ := ExactSize(plan.Entries); res.Size != size {
		t.Errorf("stored %d bytes, ExactSize said %d", res.Size, size)
	}
	if objs, ups := debris(t, st); objs != 1 || ups != 0 {
		t.Fatalf("good run: %d objects, %d uploads", objs, ups)
	}
}

// TestJobsSurviveTheirReplica: a job nobody runs (dispatched to a replica
// that died) or whose holder stopped renewing its lease is taken over by
// another replica, exactly once, and completes.
func TestJobsSurviveTheirReplica(t *testing.T) {
	t.Parallel()
	st := realStore(t)
	ctx := context.Background()
	for i := range 6 {
		if err := st.Source().Put(ctx, fmt.Sprintf("jobs/%d.bin", i), "application/octet-stream", bytes.Repeat([]byte{byte(i)}, 1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	var written atomic.Int64
	replica := func(dispatch func(context.Context, string) error) *Service {
		svc := New(st.Source(), st.Output(), grant.New(st.Source(), grant.Limits{}), Config{
			Jobs: st.Documents("dst"), Lease: 300 * time.Millisecond, Dispatch: dispatch,
			OnEntry: func(int64) { written.Add(1) },
		})
		t.Cleanup(svc.Close)
		return svc
	}
	dead := replica(func(context.Context, string) error { return nil }) // accepts, never runs
	b, c := replica(nil), replica(nil)
	plan, err := dead.Prepare(ctx, admin, Request{Prefix: "jobs/", Compression: Store})
	if err != nil {
		t.Fatal(err)
	}
	j, err := dead.Start(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	// Two replicas race to take it up: one runs it.
	errs := make(chan error, 2)
	for _, r := range []*Service{b, c} {
		go func() { errs <- r.Resume(ctx, j.ID) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.Job(ctx, admin, j.ID)
	if err != nil || got.State != "done" || got.URL == "" || got.Attempts != 1 || written.Load() != 6 {
		t.Fatalf("after the takeover: %+v, %v; %d entries written (want 6, once)", got, err, written.Load())
	}

	// A holder that stopped renewing: the next status read takes over.
	stale := &Job{ID: "0123456789abcdef0123456789abcdef", Owner: admin.ID, State: "running", Key: plan.Key + ".2", Name: "n.zip",
		Holder: "gone", LeaseUntil: time.Now().Add(-time.Minute), Attempts: 1, EntriesTotal: 6,
		Request: jobRequest{Prefix: "jobs/", Compression: Store}, Principal: jobPrincipal{ID: admin.ID, Name: admin.Name, Actions: admin.Actions, Prefix: admin.Prefix}}
	if _, err := b.save(ctx, stale, ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err = c.Job(ctx, admin, stale.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != "running" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got.State != "done" || got.Attempts != 2 {
		t.Fatalf("a stale job: %+v", got)
	}

	// A job abandoned too often fails instead of looping.
	worn := *stale
	worn.ID, worn.State, worn.Attempts = "fedcba9876543210fedcba9876543210", "running", maxAttempts
	if _, err := b.save(ctx, &worn, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(ctx, worn.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Job(ctx, admin, worn.ID); got.State != "failed" || !strings.Contains(got.Error, "interrupted") {
		t.Fatalf("an exhausted job: %+v", got)
	}
}

// synthetic is an Opener over generated bytes.
func synthetic(_ context.Context, e Entry) (io.ReadCloser, error) {
	return io.NopCloser(io.LimitReader(repeat(e.Name), e.Size)), nil
}

type repeat string

func (r repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r[i%len(r)]
	}
	return len(p), nil
}

// TestZip64Entries writes more than 65,535 entries: archive/zip switches to
// Zip64 end records, and readers (Go's, unzip) see every entry.
func TestZip64Entries(t *testing.T) {
	t.Parallel()
	n := 70000
	if testing.Short() {
		t.Skip("writes 70,000 entries")
	}
	entries := make([]Entry, n)
	for i := range entries {
		entries[i] = Entry{Key: fmt.Sprint(i), Name: fmt.Sprintf("d%d/f%d.txt", i%100, i), Size: int64(i % 7), Method: Store, Modified: time.Unix(1_700_000_000, 0)}
	}
	path := filepath.Join(t.TempDir(), "big.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(context.Background(), f, entries, synthetic, 8, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(path)
	if size, ok := ExactSize(entries); !ok || size != fi.Size() {
		t.Errorf("ExactSize = %d, %v; the archive is %d bytes", size, ok, fi.Size())
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != n {
		t.Fatalf("reader sees %d entries, want %d", len(zr.File), n)
	}
	last := zr.File[n-1]
	rc, _ := last.Open()
	b, _ := io.ReadAll(rc)
	rc.Close()
	if last.Name != fmt.Sprintf("d%d/f%d.txt", (n-1)%100, n-1) || len(b) != (n-1)%7 {
		t.Errorf("last entry %s with %d bytes", last.Name, len(b))
	}
	if _, err := exec.LookPath("unzip"); err == nil {
		if out, err := exec.Command("unzip", "-tq", path).CombinedOutput(); err != nil {
			t.Fatalf("unzip -t: %v\n%s", err, out)
		}
	}
}

// TestZip64Size streams an entry over 4 GiB through the writer without
// storing it: the archive's size must match ExactSize and a reader must see
// the Zip64 sizes. Behind -large, as it pushes 4 GiB through CRC-32.
func TestZip64Size(t *testing.T) {
	t.Parallel()
	if os.Getenv("FILEGATE_LARGE_TESTS") == "" {
		t.Skip("set FILEGATE_LARGE_TESTS=1 to push 4 GiB through the writer")
	}
	entries := []Entry{{Key: "a", Name: "a.bin", Size: 4<<30 + 17, Method: Store}, {Key: "b", Name: "b.txt", Size: 3, Method: Store}}
	var tail tailWriter
	if err := Write(context.Background(), &tail, entries, synthetic, 2, nil); err != nil {
		t.Fatal(err)
	}
	if size, _ := ExactSize(entries); size != tail.n {
		t.Errorf("ExactSize %d, wrote %d", size, tail.n)
	}
}

// TestZip64Readable writes an archive with an entry over 4 GiB to disk and
// reads it back with Go's zip reader: Zip64 sizes, and the entry after it.
func TestZip64Readable(t *testing.T) {
	t.Parallel()
	if os.Getenv("FILEGATE_LARGE_TESTS") == "" {
		t.Skip("set FILEGATE_LARGE_TESTS=1 to write a 4 GiB archive")
	}
	entries := []Entry{{Key: "a", Name: "a.bin", Size: 4<<30 + 17, Method: Store}, {Key: "b", Name: "b.txt", Size: 3, Method: Store}}
	path := filepath.Join(t.TempDir(), "big.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(context.Background(), f, entries, synthetic, 2, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 2 || zr.File[0].UncompressedSize64 != 4<<30+17 {
		t.Fatalf("reader sees %d entries, first of %d bytes", len(zr.File), zr.File[0].UncompressedSize64)
	}
	rc, err := zr.File[1].Open()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "b.t" {
		t.Errorf("entry after the 4 GiB one reads %q", b)
	}
	if _, err := exec.LookPath("unzip"); err == nil {
		if out, err := exec.Command("unzip", "-tq", path).CombinedOutput(); err != nil {
			t.Errorf("unzip -t: %v\n%s", err, out)
		}
	}
}

type tailWriter struct{ n int64 }

func (w *tailWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func TestExactSizeMatchesWrite(t *testing.T) {
	t.Parallel()
	for _, sizes := range [][]int64{{0}, {1, 2, 3}, {100000, 0, 5}} {
		var entries []Entry
		for i, s := range sizes {
			entries = append(entries, Entry{Key: fmt.Sprint(i), Name: fmt.Sprintf("ü/%d", i), Size: s, Method: Store, Modified: time.Now()})
		}
		var buf bytes.Buffer
		if err := Write(context.Background(), &buf, entries, synthetic, 3, nil); err != nil {
			t.Fatal(err)
		}
		if size, ok := ExactSize(entries); !ok || size != int64(buf.Len()) {
			t.Errorf("sizes %v: ExactSize %d, archive %d", sizes, size, buf.Len())
		}
	}
	if _, ok := ExactSize([]Entry{{Method: Deflate}}); ok {
		t.Error("ExactSize claims to know a deflated size")
	}
}

// TestBoundHoldsDeflate: a deflated archive of incompressible entries
// stays within Bound, which sizes a small bundle's one buffer.
func TestBoundHoldsDeflate(t *testing.T) {
	t.Parallel()
	sizes := []int64{0, 1, 1000, 16384, 16385, 3<<20 + 7}
	for range 8 {
		sizes = append(sizes, 1<<20)
	}
	data := make([]byte, 3<<20+7)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	var entries []Entry
	for i, s := range sizes {
		entries = append(entries, Entry{Key: fmt.Sprint(i), Name: fmt.Sprintf("r/%d.bin", i), Size: s, Method: Deflate, Modified: time.Now()})
	}
	random := func(_ context.Context, e Entry) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data[:e.Size])), nil
	}
	var w tailWriter
	if err := Write(context.Background(), &w, entries, random, 3, nil); err != nil {
		t.Fatal(err)
	}
	plan := &Plan{Entries: entries}
	if b := Bound(plan); w.n > b {
		t.Errorf("archive %d bytes, Bound %d", w.n, b)
	}
}

func TestEntryNames(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"users/alice/a.txt":        "a.txt",
		"users/alice/x/../../b":    "x/b",
		"users/alice//c":           "c",
		"users/alice/./d/./e":      "d/e",
		"users/alice/\\evil\\path": "evil/path",
		"users/alice/ctl\x01name":  "ctl_name",
		"users/alice/bad\xffutf8":  "bad\uFFFDutf8",
		"users/alice/../..":        "",
	} {
		if got := EntryName(key, "users/alice/"); got != want {
			t.Errorf("EntryName(%q) = %q, want %q", key, got, want)
		}
	}
	u := uniqueNames{}
	for _, c := range [][2]string{{"a.txt", "a.txt"}, {"a.txt", "a (2).txt"}, {"A.TXT", "A (2).TXT"}, {"a.txt", "a (4).txt"}, {"", "unnamed"}, {".env", ".env"}, {".env", ".env (2)"}} {
		if got := u.take(c[0]); got != c[1] && !(c[0] == "A.TXT" && strings.EqualFold(got, "A (3).TXT")) {
			t.Errorf("take(%q) = %q, want %q", c[0], got, c[1])
		}
	}
}

// FuzzEntryName: whatever the key, the entry name is safe to unpack.
func FuzzEntryName(f *testing.F) {
	for _, s := range []string{"a/b", "../../etc/passwd", "/abs", "a\\..\\b", "\x00", "ü/./x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		n := EntryName(key, "")
		if n != "" && !validName(n) {
			t.Fatalf("EntryName(%q) = %q is not safe", key, n)
		}
		u := uniqueNames{}
		a, b := u.take(n), u.take(n)
		if a == b || !validName(a) || !validName(b) {
			t.Fatalf("take gave %q then %q", a, b)
		}
	})
}

// TestMemoryBudget: a small bundle reserves about its own size, not two
// full part buffers, so many run within a small budget; past the budget a
// bundle waits, then is refused as Busy, and leaves nothing behind.
func TestMemoryBudget(t *testing.T) {
	t.Parallel()
	st := realStore(t)
	for i := range 20 {
		put(t, st, fmt.Sprintf("s/%02d.txt", i), bytes.Repeat([]byte{'a' + byte(i)}, 1000))
	}
	svc := New(st.Source(), st.Output(), grant.New(st.Source(), grant.Limits{}), Config{MemoryBudget: 64 << 10, QueueWait: 200 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			plan, err := svc.Prepare(context.Background(), admin, Request{Keys: []string{fmt.Sprintf("s/%02d.txt", i)}})
			if err == nil {
				_, err = svc.Create(context.Background(), plan, nil)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a 1 KB bundle within a 64 KiB budget: %v", err)
		}
	}
	// Hold the whole budget: the next bundle waits QueueWait, then is Busy.
	release, err := svc.reserve(context.Background(), "test", 64<<10, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := svc.Prepare(context.Background(), admin, Request{Keys: []string{"s/00.txt"}, Name: "other.zip"})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = svc.Create(context.Background(), plan, nil)
	if filegate.KindOf(err) != filegate.Busy || time.Since(began) < 150*time.Millisecond {
		t.Errorf("with the budget held: %v after %v, want Busy after the queue wait", err, time.Since(began))
	}
	release()
	if _, ups := debris(t, st); ups != 0 {
		t.Errorf("%d multipart uploads left", ups)
	}
	if _, err := svc.Create(context.Background(), plan, nil); err != nil {
		t.Errorf("after release: %v", err)
	}
}

// orderedSource records the order of a bucket's List and Get calls.
type orderedSource struct {
	filegate.Bucket
	mu     sync.Mutex
	lists  int            // List calls answered
	before map[string]int // Get calls, by the number of List calls answered then
	gets   map[string]int // Get calls per key
}

func (o *orderedSource) List(ctx context.Context, in filegate.ListInput) (filegate.ListPage, error) {
	page, err := o.Bucket.List(ctx, in)
	time.Sleep(50 * time.Millisecond) // a store whose answers come late, as S3's do
	o.mu.Lock()
	o.lists++
	o.mu.Unlock()
	return page, err
}

func (o *orderedSource) Get(ctx context.Context, key string) (io.ReadCloser, filegate.ObjectInfo, error) {
	o.mu.Lock()
	o.before[fmt.Sprint(o.lists)]++
	o.gets[key]++
	o.mu.Unlock()
	return o.Bucket.Get(ctx, key)
}

// TestEarlyFetch: the small objects of a prefix are fetched while the
// next page is being listed, each once, and the archive holds exactly the
// listed objects; the memory they took is given back, whether the plan
// is written or dropped.
func TestEarlyFetch(t *testing.T) {
	t.Parallel()
	st := realStore(t)
	want := map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range 1500 { // two pages
		k := fmt.Sprintf("e/%04d.txt", i)
		body := []byte(fmt.Sprintf("object %d", i))
		if i == 7 {
			body = bytes.Repeat([]byte("L"), earlyObject+1) // too large to fetch early
		}
		mu.Lock()
		want[k] = body
		mu.Unlock()
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			put(t, st, k, body)
		})
	}
	wg.Wait()
	src := &orderedSource{Bucket: st.Source(), before: map[string]int{}, gets: map[string]int{}}
	svc := New(src, st.Output(), grant.New(st.Source(), grant.Limits{}), Config{})
	full := svc.cfg.MemoryBudget / 4

	plan, err := svc.Prepare(context.Background(), admin, Request{Prefix: "e/"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := svc.WriteTo(context.Background(), plan, &buf, nil); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	if src.before["1"] == 0 {
		t.Errorf("no object was fetched while the second page was being listed (Gets by List calls answered: %v)", src.before)
	}
	for k := range want {
		if src.gets[k] != 1 {
			t.Errorf("%s fetched %d times, want once", k, src.gets[k])
		}
	}
	src.mu.Unlock()
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != len(want) {
		t.Errorf("%d entries, want %d", len(zr.File), len(want))
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want["e/"+f.Name]) {
			t.Errorf("%s: %d bytes, %v; want the stored %d", f.Name, len(got), err, len(want["e/"+f.Name]))
		}
	}
	if !svc.early.TryAcquire(full) {
		t.Error("memory of early fetches not given back after the archive was written")
	} else {
		svc.early.Release(full)
	}

	// A plan nobody writes gives its memory back when its request ends.
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := svc.Prepare(ctx, admin, Request{Prefix: "e/", Name: "dropped.zip"}); err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for !svc.early.TryAcquire(full) {
		if time.Now().After(deadline) {
			t.Fatal("memory of early fetches not given back after the request ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	svc.early.Release(full)
}

// TestEarlyAheadOfWriter: once the listing has ended, small objects go on
// being fetched ahead of a slower writer, out of its order, but never more
// than earlyBytes of them fetched and not yet written (plus the writer's
// window); each object is fetched once.
func TestEarlyAheadOfWriter(t *testing.T) {
	t.Parallel()
	const (
		n      = 3000
		size   = 8 << 10 // n × size is more than earlyBytes
		window = 16
	)
	st := realStore(t)
	body := bytes.Repeat([]byte("e"), size)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			put(t, st, fmt.Sprintf("a/%04d.bin", i), body)
		})
	}
	wg.Wait()
	src := &orderedSource{Bucket: st.Source(), before: map[string]int{}, gets: map[string]int{}}
	svc := New(src, st.Output(), grant.New(st.Source(), grant.Limits{}), Config{Prefetch: window})
	plan, err := svc.Prepare(context.Background(), admin, Request{Prefix: "a/", Compression: Store})
	if err != nil {
		t.Fatal(err)
	}
	gets := func() int {
		src.mu.Lock()
		defer src.mu.Unlock()
		total := 0
		for _, c := range src.gets {
			total += c
		}
		return total
	}
	written, most, at2500 := 0, 0, 0
	err = svc.WriteTo(context.Background(), plan, io.Discard, func(Entry, int64, time.Duration) {
		written++
		time.Sleep(200 * time.Microsecond) // a writer slower than the store
		ahead := gets() - written
		most = max(most, ahead)
		if written == 2500 {
			at2500 = ahead
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if limit := earlyBytes/size + window + 1; most > limit {
		t.Errorf("%d objects fetched and not yet written at most, want at most %d (earlyBytes and the window)", most, limit)
	}
	if at2500 < 400 {
		t.Errorf("%d objects fetched ahead of the writer at entry 2,500 of %d, want the rest (%d) or most of it", at2500, n, n-2500)
	}
	for k, c := range src.gets {
		if c != 1 {
			t.Errorf("%s fetched %d times, want once", k, c)
		}
	}
}

// countingOut counts the calls that store an object.
type countingOut struct {
	filegate.Bucket
	puts, uploads, streams atomic.Int64
}

// streamingOut is a countingOut that streams PUTs too.
type streamingOut struct{ *countingOut }

func (s streamingOut) PutStream(ctx context.Context, key, contentType string, size int64, body io.Reader) (filegate.ObjectInfo, error) {
	s.streams.Add(1)
	return s.Bucket.(filegate.StreamPutter).PutStream(ctx, key, contentType, size, body)
}

func (c *countingOut) Put(ctx context.Context, key, contentType string, body []byte) error {
	c.puts.Add(1)
	return c.Bucket.Put(ctx, key, contentType, body)
}

func (c *countingOut) CreateUpload(ctx context.Context, key, contentType string, meta map[string]string) (string, error) {
	c.uploads.Add(1)
	return c.Bucket.CreateUpload(ctx, key, contentType, meta)
}

// TestSmallBundleOnePut: a bundle that fits in one part is stored with one
// PUT, no multipart upload; a larger one still streams in parts.
func TestSmallBundleOnePut(t *testing.T) {
	t.Parallel()
	st := realStore(t)
	put(t, st, "p/a.txt", []byte("alpha"))
	put(t, st, "p/b.txt", bytes.Repeat([]byte("b"), 100000))
	out := &countingOut{Bucket: st.Output()}
	svc := New(st.Source(), out, grant.New(st.Source(), grant.Limits{}), Config{PartSize: 5 << 20})
	plan, err := svc.Prepare(context.Background(), admin, Request{Prefix: "p/"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Create(context.Background(), plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.puts.Load() != 1 || out.uploads.Load() != 0 {
		t.Errorf("%d PUTs, %d multipart uploads; want 1 and 0", out.puts.Load(), out.uploads.Load())
	}
	if zr := storedArchive(t, st, res); len(zr.File) != 2 {
		t.Fatalf("archive of %d entries, want 2", len(zr.File))
	}

	big := bytes.Repeat([]byte("0123456789abcdef"), 6<<16) // 6 MiB: two parts of 5 MiB
	put(t, st, "q/big.bin", big)
	plan, err = svc.Prepare(context.Background(), admin, Request{Prefix: "q/", Compression: Store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(context.Background(), plan, nil); err != nil {
		t.Fatal(err)
	}
	if out.uploads.Load() != 1 {
		t.Errorf("a 6 MiB bundle with 5 MiB parts: %d multipart uploads, want 1", out.uploads.Load())
	}
}

// storedArchive reads a stored bundle, checks its size against the
// result's, and opens it.
func storedArchive(t *testing.T, st *store.Store, res Result) *zip.Reader {
	t.Helper()
	body, info, err := st.Output().Get(context.Background(), res.Key)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(body)
	body.Close()
	if info.Size != res.Size || int64(len(data)) != res.Size {
		t.Errorf("stored %d bytes (HEAD %d), reported %d", len(data), info.Size, res.Size)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

// TestStreamMax: a bundle past StreamMax goes up as a multipart upload.
func TestStreamMax(t *testing.T) {
	t.Parallel()
	st := realStore(t)
	put(t, st, "m/big.bin", bytes.Repeat([]byte("0123456789abcdef"), 6<<16)) // 6 MiB
	out := streamingOut{&countingOut{Bucket: st.Output()}}
	svc := New(st.Source(), out, grant.New(st.Source(), grant.Limits{}), Config{PartSize: 5 << 20, StreamMax: 6 << 20})
	plan, err := svc.Prepare(context.Background(), admin, Request{Prefix: "m/", Compression: Store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(context.Background(), plan, nil); err != nil {
		t.Fatal(err)
	}
	if out.streams.Load() != 0 || out.uploads.Load() != 1 {
		t.Errorf("a bundle of 6 MiB and more, StreamMax 6 MiB: %d streamed PUTs, %d multipart uploads; want 0 and 1", out.streams.Load(), out.uploads.Load())
	}
}

// TestStreamedBundle: where the bundle bucket streams PUTs, an archive of
// known size (stored entries) up to streamMax is one streamed PUT, larger
// than the pipe's buffer or not; one of unknown size (deflate) is not.
func TestStreamedBundle(t *testing.T) {
	t.Parallel()
	st := realStore(t)
	put(t, st, "p/a.txt", []byte("alpha"))
	put(t, st, "p/b.txt", bytes.Repeat([]byte("b"), 100000))
	big := make([]byte, 6<<20) // 6 MiB through a pipe of 5 MiB
	for i := range big {
		big[i] = byte(i*7 + i>>12)
	}
	put(t, st, "q/big.bin", big)
	out := streamingOut{&countingOut{Bucket: st.Output()}}
	svc := New(st.Source(), out, grant.New(st.Source(), grant.Limits{}), Config{PartSize: 5 << 20})
	for _, c := range []struct {
		req                    Request
		streams, puts, uploads int64
	}{
		{Request{Prefix: "p/", Compression: Store}, 1, 0, 0},
		{Request{Prefix: "q/", Compression: Store}, 2, 0, 0},
		{Request{Prefix: "p/"}, 2, 1, 0}, // deflate: size unknown until written
	} {
		plan, err := svc.Prepare(context.Background(), admin, c.req)
		if err != nil {
			t.Fatal(err)
		}
		res, err := svc.Create(context.Background(), plan, nil)
		if err != nil {
			t.Fatal(err)
		}
		if out.streams.Load() != c.streams || out.puts.Load() != c.puts || out.uploads.Load() != c.uploads {
			t.Errorf("after %+v: %d streamed PUTs, %d PUTs, %d uploads; want %d, %d, %d", c.req,
				out.streams.Load(), out.puts.Load(), out.uploads.Load(), c.streams, c.puts, c.uploads)
		}
		for _, f := range storedArchive(t, st, res).File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			want := map[string][]byte{"a.txt": []byte("alpha"), "b.txt": bytes.Repeat([]byte("b"), 100000), "big.bin": big}[f.Name]
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %d bytes, %v; want the stored %d", f.Name, len(got), err, len(want))
			}
		}
	}
}

// slowHead answers HEADs late (or fails them), so that a bundle's writer
// runs ahead of the HEAD of its key; and counts what reaches the store.
// When src is set, getsBefore is how many GETs it had counted as the last
// HEAD answered.
type slowHead struct {
	streamingOut
	fail       error
	src        *countingSource
	getsBefore *atomic.Int64
}

func (s slowHead) Head(ctx context.Context, key string) (filegate.ObjectInfo, error) {
	time.Sleep(150 * time.Millisecond)
	if s.src != nil {
		s.getsBefore.Store(s.src.gets.Load())
	}
	if s.fail != nil {
		return filegate.ObjectInfo{}, s.fail
	}
	return s.Bucket.Head(ctx, key)
}

// countingSource counts GETs.
type countingSource struct {
	filegate.Bucket
	gets atomic.Int64
}

// settled waits until no GET has come for 50 ms (at most 5 s) and
// returns the count.
func (c *countingSource) settled() int64 {
	n := c.gets.Load()
	for range 100 {
		time.Sleep(50 * time.Millisecond)
		m := c.gets.Load()
		if m == n {
			break
		}
		n = m
	}
	return n
}

func (c *countingSource) Get(ctx context.Context, key string) (io.ReadCloser, filegate.ObjectInfo, error) {
	c.gets.Add(1)
	return c.Bucket.Get(ctx, key)
}

// TestGateBeforeHead: the writer starts, and fetches, before the HEAD of
// the bundle's key answers, but of a bundle that turns out stored already
// (or whose HEAD fails) little reaches the store: no more GETs than the
// writer's window beyond those made while the prefix was listed, no
// upload, no entry reported; and a bundle that is not stored reports each
// entry once, in order.
func TestGateBeforeHead(t *testing.T) {
	t.Parallel()
	const window = 8
	st := realStore(t)
	seedMixed(t, st, "g/", 300, 5) // 60 objects too large to be fetched early
	src := &countingSource{Bucket: st.Source()}
	var getsBefore atomic.Int64
	out := slowHead{streamingOut: streamingOut{&countingOut{Bucket: st.Output()}}, src: src, getsBefore: &getsBefore}
	var entries atomic.Int64
	svc := New(src, out, grant.New(st.Source(), grant.Limits{}), Config{Prefetch: window, OnEntry: func(int64) { entries.Add(1) }})
	req := Request{Prefix: "g/", Compression: Store}

	// Not stored yet: written, every entry reported once, in order; the
	// writer's first fetches went out while the HEAD was unanswered.
	plan, err := svc.Prepare(context.Background(), admin, req)
	if err != nil {
		t.Fatal(err)
	}
	gets := src.settled() // fetches started while listing end
	var order []string
	res, err := svc.Create(context.Background(), plan, func(e Entry, _ int64, _ time.Duration) { order = append(order, e.Key) })
	if err != nil || res.Reused {
		t.Fatalf("first bundle: %+v, %v", res, err)
	}
	if g := getsBefore.Load() - gets; g < 1 || g > window {
		t.Errorf("%d GETs by the writer before the HEAD answered, want 1 to %d (its window)", g, window)
	}
	if len(order) != 300 || entries.Load() != 300 {
		t.Fatalf("%d entries reported to progress, %d to OnEntry; want 300", len(order), entries.Load())
	}
	for i, k := range order {
		if k != plan.Entries[i].Key {
			t.Fatalf("entry %d reported as %s, want %s", i, k, plan.Entries[i].Key)
		}
	}
	if out.streams.Load() != 1 {
		t.Fatalf("%d streamed PUTs, want 1", out.streams.Load())
	}

	// Stored already, or the HEAD fails: nothing more reaches the store.
	for _, fail := range []error{nil, filegate.NewError(filegate.Unavailable, "test", "", "the store is down")} {
		out.fail = fail
		svc.out = out
		plan, err := svc.Prepare(context.Background(), admin, req)
		if err != nil {
			t.Fatal(err)
		}
		gets, before, reported := src.settled(), entries.Load(), 0
		res, err := svc.Create(context.Background(), plan, func(Entry, int64, time.Duration) { reported++ })
		switch {
		case fail == nil && (err != nil || !res.Reused):
			t.Errorf("stored bundle: %+v, %v; want reused", res, err)
		case fail != nil && filegate.KindOf(err) != filegate.Unavailable:
			t.Errorf("failed HEAD: %v, want it", err)
		}
		if g := src.gets.Load() - gets; g > window {
			t.Errorf("HEAD error %v: %d GETs after the plan was made, want at most the writer's window (%d)", fail, g, window)
		}
		if entries.Load() != before || reported != 0 {
			t.Errorf("HEAD error %v: %d entries reported to OnEntry, %d to progress; want none", fail, entries.Load()-before, reported)
		}
		if out.streams.Load() != 1 || out.puts.Load() != 0 || out.uploads.Load() != 0 {
			t.Errorf("HEAD error %v: %d streamed PUTs, %d PUTs, %d uploads; want only the first bundle's", fail, out.streams.Load(), out.puts.Load(), out.uploads.Load())
		}
	}
}

// TestPipe: bytes come out of the pipe as they went in, whatever the sizes
// of writes and reads against its ring; a failed writer's buffered bytes
// are never read; a reader that stops wakes a blocked writer.
func TestPipe(t *testing.T) {
	want := make([]byte, 1<<20)
	for i := range want {
		want[i] = byte(rand.IntN(256))
	}
	p := newPipe(make([]byte, 1000))
	go func() {
		for rest := want; len(rest) > 0; {
			n := min(len(rest), 1+rand.IntN(2500))
			if _, err := p.Write(rest[:n]); err != nil {
				t.Error(err)
				return
			}
			rest = rest[n:]
		}
		p.closeWrite(nil)
	}()
	var got []byte
	buf := make([]byte, 3000)
	for {
		n, err := p.Read(buf[:1+rand.IntN(len(buf))])
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%d bytes out, %d in, not the same", len(got), len(want))
	}

	p = newPipe(make([]byte, 10))
	p.Write([]byte("abc"))
	p.closeWrite(errors.New("writer failed"))
	if n, err := p.Read(buf); n != 0 || err == nil || err.Error() != "writer failed" {
		t.Errorf("after the writer failed: %d bytes, %v", n, err)
	}

	p = newPipe(make([]byte, 10))
	done := make(chan error)
	go func() { _, err := p.Write(make([]byte, 25)); done <- err }()
	time.Sleep(50 * time.Millisecond)
	p.closeRead(errors.New("upload failed"))
	if err := <-done; err == nil || err.Error() != "upload failed" {
		t.Errorf("blocked writer after the reader stopped: %v", err)
	}
}

// changingSource replaces an object with one of another size just before
// its first GET, as a writer racing the bundle would.
type changingSource struct {
	filegate.Bucket
	st   *store.Store
	key  string
	body []byte
	once sync.Once
}

func (c *changingSource) Get(ctx context.Context, key string) (io.ReadCloser, filegate.ObjectInfo, error) {
	if key == c.key {
		c.once.Do(func() { _ = c.st.Put(ctx, c.st.Bucket, key, "text/plain", c.body) })
	}
	return c.Bucket.Get(ctx, key)
}

// TestEarlyObjectChanged: an object that grew or shrank after it was
// listed, fetched early, fails the bundle as changed, and nothing is
// stored.
func TestEarlyObjectChanged(t *testing.T) {
	t.Parallel()
	st := realStore(t)
	for name, body := range map[string][]byte{"grew": []byte("0123456789 and more"), "shrank": []byte("01")} {
		prefix := "c-" + name + "/"
		for i := range 3 {
			put(t, st, fmt.Sprintf("%s%d.txt", prefix, i), []byte("0123456789"))
		}
		src := &changingSource{Bucket: st.Source(), st: st, key: prefix + "1.txt", body: body}
		svc := New(src, st.Output(), grant.New(st.Source(), grant.Limits{}), Config{})
		plan, err := svc.Prepare(context.Background(), admin, Request{Prefix: prefix, Compression: Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Create(context.Background(), plan, nil); filegate.KindOf(err) != filegate.Conflict || !errors.Is(err, ErrSourceChanged) {
			t.Errorf("%s: %v, want a Conflict (source changed)", name, err)
		}
		if objs, ups := debris(t, st); objs != 0 || ups != 0 {
			t.Errorf("%s: %d objects, %d uploads left", name, objs, ups)
		}
	}
}

// openGets counts the source's GET bodies open at once, and the most.
type openGets struct {
	filegate.Bucket
	open, most atomic.Int64
}

func (o *openGets) Get(ctx context.Context, key string) (io.ReadCloser, filegate.ObjectInfo, error) {
	body, info, err := o.Bucket.Get(ctx, key)
	if err != nil {
		return nil, info, err
	}
	n := o.open.Add(1)
	for m := o.most.Load(); n > m && !o.most.CompareAndSwap(m, n); m = o.most.Load() {
	}
	time.Sleep(2 * time.Millisecond) // as a store some way off
	return &released{ReadCloser: body, release: func() { o.open.Add(-1) }}, info, nil
}

// GetSmall counts a small read as open while it runs: its connection is
// free once it returns.
func (o *openGets) GetSmall(ctx context.Context, key string) ([]byte, filegate.ObjectInfo, error) {
	n := o.open.Add(1)
	for m := o.most.Load(); n > m && !o.most.CompareAndSwap(m, n); m = o.most.Load() {
	}
	defer o.open.Add(-1)
	time.Sleep(2 * time.Millisecond)
	return o.Bucket.(filegate.SmallGetter).GetSmall(ctx, key)
}

// seedMixed puts n objects under prefix, 16 at a time: small ones, and
// every every-th one too large to be fetched early.
func seedMixed(t *testing.T, st *store.Store, prefix string, n, every int) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		body := []byte(fmt.Sprintf("small %d", i))
		if i%every == every-1 {
			body = bytes.Repeat([]byte("L"), earlyObject+1) // fetched by the writer
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			put(t, st, fmt.Sprintf("%s%03d.txt", prefix, i), body)
		})
	}
	wg.Wait()
}

// TestFetchesBound: bundles together keep at most Config.Fetches GETs in
// flight or open, early fetches and the writers' alike, and bundles that
// wait on each other's turns all complete.
func TestFetchesBound(t *testing.T) {
	t.Parallel()
	st := realStore(t)
	seedMixed(t, st, "f/", 120, 2)
	for _, c := range []struct {
		fetches int
		bounded bool
	}{{4, true}, {1000, false}} {
		src := &openGets{Bucket: st.Source()}
		svc := New(src, streamingOut{&countingOut{Bucket: st.Output()}}, grant.New(st.Source(), grant.Limits{}), Config{Fetches: c.fetches, Prefetch: 32})
		var bundles sync.WaitGroup
		for b := range 4 {
			bundles.Go(func() {
				plan, err := svc.Prepare(context.Background(), admin, Request{Prefix: "f/", Compression: Store, Name: fmt.Sprintf("b%d-%d", c.fetches, b)})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := svc.Create(context.Background(), plan, nil); err != nil {
					t.Errorf("bundle %d with %d fetches: %v", b, c.fetches, err)
				}
			})
		}
		bundles.Wait()
		// Unbounded, the same bundles hold more: the test can fail.
		if most := src.most.Load(); (c.bounded && most > int64(c.fetches)) || (!c.bounded && most <= 4) {
			t.Errorf("Fetches %d: %d GETs open at once", c.fetches, most)
		}
		if n := src.open.Load(); n != 0 {
			t.Errorf("Fetches %d: %d GET bodies left open", c.fetches, n)
		}
	}
}
