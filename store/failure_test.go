package store_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/store"
	"github.com/filegate/filegate/storetest"
)

func open(t *testing.T, endpoint string, timeout time.Duration) *store.Store {
	t.Helper()
	st, err := store.New(context.Background(), store.Config{Endpoint: endpoint, Region: "us-east-1",
		AccessKeyID: "AK", SecretAccessKey: "secret-never-shown", Bucket: "b", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// TestStoreDown: a store that refuses connections or never answers gives
// Unavailable errors, within the timeout, whose text holds no signature.
func TestStoreDown(t *testing.T) {
	t.Parallel() // waits on timeouts and backoff, not on the CPU
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer silent.Close()
	for _, ep := range []string{dead, silent.URL} {
		b := open(t, ep, 500*time.Millisecond).Source()
		began := time.Now()
		calls := map[string]error{}
		_, calls["head"] = b.Head(context.Background(), "k")
		_, _, calls["get"] = b.Get(context.Background(), "k")
		_, _, calls["get small"] = b.(filegate.SmallGetter).GetSmall(context.Background(), "k")
		_, calls["list"] = b.List(context.Background(), filegate.ListInput{})
		_, calls["create"] = b.CreateUpload(context.Background(), "k", "", nil)
		for name, err := range calls {
			if filegate.KindOf(err) != filegate.Unavailable {
				t.Errorf("%s on %s: %v, want Unavailable", name, ep, err)
			}
			if err != nil && strings.Contains(err.Error(), "X-Amz-Signature") {
				t.Errorf("%s: the error shows a signature: %v", name, err)
			}
		}
		if took := time.Since(began); took > 8*time.Second {
			t.Errorf("four calls on %s took %v", ep, took)
		}
	}
}

// TestStatusTranslation: the raw paths turn store answers into kinds and
// retry what is transient.
func TestStatusTranslation(t *testing.T) {
	t.Parallel() // waits on timeouts and backoff, not on the CPU
	var calls atomic.Int64
	status := atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	b := open(t, srv.URL, 5*time.Second).Source()
	for code, kind := range map[int]filegate.Kind{404: filegate.NotFound, 403: filegate.Unavailable, 400: filegate.Internal, 503: filegate.Unavailable, 429: filegate.Unavailable} {
		status.Store(int64(code))
		calls.Store(0)
		_, err := b.Head(context.Background(), "k")
		if filegate.KindOf(err) != kind {
			t.Errorf("HEAD answered %d: %v, want %v", code, err, kind)
		}
		retried := calls.Load() > 1
		if want := code >= 500 || code == 429; retried != want {
			t.Errorf("HEAD answered %d: %d attempts", code, calls.Load())
		}
		calls.Store(0)
		_, _, err = b.(filegate.SmallGetter).GetSmall(context.Background(), "k")
		if filegate.KindOf(err) != kind {
			t.Errorf("GET (small) answered %d: %v, want %v", code, err, kind)
		}
		if want := code >= 500 || code == 429; (calls.Load() > 1) != want {
			t.Errorf("GET (small) answered %d: %d attempts", code, calls.Load())
		}
	}
}

// TestBucketAdmin: bucket creation is idempotent, CORS is set, Ping
// answers, Delete removes.
func TestBucketAdmin(t *testing.T) {
	t.Parallel()
	srv := storetest.StartEmbedded(t)
	st, err := store.New(context.Background(), store.Config{Endpoint: srv.Endpoint, Region: "us-east-1", AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, Bucket: "aaa", BundleBucket: "zzz"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Ping(context.Background()); filegate.KindOf(err) != filegate.Unavailable {
		t.Errorf("Ping before the bucket exists: %v", err)
	}
	for range 2 {
		if err := st.EnsureBucket(context.Background(), "aaa"); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetCORS(context.Background(), "aaa", []string{"http://localhost"}); err != nil {
		t.Errorf("SetCORS: %v", err)
	}
	if err := st.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if st.Region() != "us-east-1" || st.Output().Name() != "zzz" {
		t.Error("accessors")
	}
	b := st.Source()
	_ = b.Put(context.Background(), "x", "", []byte("x"))
	if err := st.Delete(context.Background(), "aaa", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Head(context.Background(), "x"); filegate.KindOf(err) != filegate.NotFound {
		t.Errorf("after Delete: %v", err)
	}
	if g, err := b.PresignPut(context.Background(), "x", filegate.PutOptions{Expires: time.Minute, ContentType: "text/plain", Metadata: map[string]string{"a": "b"}}); err != nil || g.Header.Get("X-Amz-Meta-A") != "b" {
		t.Errorf("PresignPut: %+v %v", g, err)
	}
	if p, err := b.PresignPost(context.Background(), filegate.PostOptions{Key: "x", Expires: time.Minute, ContentType: "text/plain", SSE: "AES256", ACL: "private", Metadata: map[string]string{"a": "b"}, MaxSize: 5}); err != nil || p.Fields["x-amz-meta-a"] != "b" || p.Fields["acl"] != "private" {
		t.Errorf("PresignPost: %+v %v", p, err)
	}
}

// TestBodySigning: bodies sent to a loopback endpoint go as UNSIGNED-PAYLOAD
// (nothing on the way can change them; the store would hash them again),
// still with a signed header and length.
func TestBodySigning(t *testing.T) {
	var got []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.Header.Get("X-Amz-Content-Sha256")+" "+strconv.FormatBool(strings.Contains(r.Header.Get("Authorization"), "x-amz-content-sha256")))
		mu.Unlock()
		w.Header().Set("ETag", `"e"`)
	}))
	defer srv.Close()
	b := open(t, srv.URL, 5*time.Second).Source()
	if err := b.Put(context.Background(), "k", "text/plain", []byte("body")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.UploadPart(context.Background(), "k", "u", 1, []byte("part")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"PUT UNSIGNED-PAYLOAD true", "PUT UNSIGNED-PAYLOAD true"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("requests %q, want %q", got, want)
	}
}

// trickle yields n chunks of 1 KiB, one every gap.
type trickle struct {
	n   int
	gap time.Duration
}

func (r *trickle) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.gap)
	r.n--
	return copy(p, strings.Repeat("t", 1024)), nil
}

// TestUploadLongerThanIdleTimeout: the idle timeout fails transfers that
// stop moving, not a moving upload longer than it, even on a connection
// that had sat idle in the pool for most of it (the read the transport
// keeps pending there had its deadline set when the connection went
// idle).
func TestUploadLongerThanIdleTimeout(t *testing.T) {
	t.Parallel()
	srv := storetest.StartEmbedded(t)
	st, err := store.New(context.Background(), store.Config{Endpoint: srv.Endpoint, Region: "us-east-1",
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, Bucket: "idle", IdleTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	ctx := context.Background()
	if err := st.EnsureBucket(ctx, "idle"); err != nil {
		t.Fatal(err)
	}
	b := st.Source()
	if _, err := b.Head(ctx, "warm"); filegate.KindOf(err) != filegate.NotFound {
		t.Fatalf("Head: %v", err)
	}
	time.Sleep(400 * time.Millisecond) // the connection idles in the pool
	// About 1.2 s of upload, 4 KiB (the transport's buffer) every 200 ms.
	if _, err := b.(filegate.StreamPutter).PutStream(ctx, "slow", "", 24<<10, &trickle{n: 24, gap: 50 * time.Millisecond}); err != nil {
		t.Fatalf("an upload moving all along, longer than the idle timeout: %v", err)
	}
	if h, err := b.Head(ctx, "slow"); err != nil || h.Size != 24<<10 {
		t.Fatalf("Head after: %+v, %v", h, err)
	}
}

// TestConnectionBound: at most MaxConns connections are open at once for
// streamed calls, and at most SmallConns of MaxConns in GetSmall's own
// pool; calls beyond wait for one and all succeed.
func TestConnectionBound(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		most int
		call func(b filegate.Bucket, key string) error
	}{
		{"Get", 20, func(b filegate.Bucket, key string) error {
			body, _, err := b.Get(context.Background(), key)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, body)
			return body.Close()
		}},
		{"GetSmall", store.SmallConns(20), func(b filegate.Bucket, key string) error {
			_, _, err := b.(filegate.SmallGetter).GetSmall(context.Background(), key)
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var open, most atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(20 * time.Millisecond)
				w.Header().Set("ETag", `"e"`)
				_, _ = w.Write([]byte("hello"))
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				switch s {
				case http.StateNew:
					n := open.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
				case http.StateClosed, http.StateHijacked:
					open.Add(-1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)
			st, err := store.New(context.Background(), store.Config{Endpoint: srv.URL, Region: "us-east-1",
				AccessKeyID: "AK", SecretAccessKey: "secret-never-shown", Bucket: "b", MaxConns: 20})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.Close)
			b := st.Source()
			var wg sync.WaitGroup
			var failed atomic.Int64
			for i := range 200 {
				wg.Go(func() {
					if c.call(b, fmt.Sprintf("k%d", i)) != nil {
						failed.Add(1)
					}
				})
			}
			wg.Wait()
			if failed.Load() > 0 {
				t.Fatalf("%d of 200 calls failed", failed.Load())
			}
			if m := most.Load(); m > int64(c.most) || m < int64(c.most)/2 {
				t.Fatalf("%d connections open at once, want at most %d (and the bound used)", m, c.most)
			}
		})
	}
}
