package store_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/store"
	"github.com/filegate/filegate/storetest"
)

// TestGetSmall reads small objects whole from every real store, over its
// own client and through net/http, keys that need
// escaping included: the path goes out byte for byte as it was signed, or
// the store refuses the signature.
func TestGetSmall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys := []string{"plain.txt", "a b+c%25d=e&f", "ünïcødé/ø.txt", "~!*'();:@$,[]", "dir/x y/z", "name..", "percent%2Fslash", "q?x=1#frag"}
	for _, srv := range storetest.Servers(t) {
		for _, fast := range []bool{true, false} {
			name := srv.Name + "/net-http"
			if fast {
				name = srv.Name + "/own-client"
			}
			t.Run(name, func(t *testing.T) {
				st, err := store.New(ctx, store.Config{Endpoint: srv.Endpoint, Region: "us-east-1",
					AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, Bucket: "small"})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				if !store.FastSmall(st) {
					t.Fatal("GetSmall has no client of its own on a plain-http endpoint")
				}
				if !fast {
					store.NoSmall(st)
				}
				if err := st.EnsureBucket(ctx, "small"); err != nil {
					t.Fatal(err)
				}
				b := st.Source()
				sg, ok := b.(filegate.SmallGetter)
				if !ok {
					t.Fatal("the store's bucket is not a SmallGetter")
				}
				for i, k := range keys {
					want := bytes.Repeat([]byte{byte('a' + i)}, 100+i)
					if err := b.Put(ctx, k, "text/plain", want); err != nil {
						t.Fatalf("Put %q: %v", k, err)
					}
					got, info, err := sg.GetSmall(ctx, k)
					if err != nil {
						t.Fatalf("GetSmall %q: %v", k, err)
					}
					head, err := b.Head(ctx, k)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) || info.Size != int64(len(want)) || info.ETag != head.ETag || info.ContentType != "text/plain" || info.LastModified.IsZero() {
						t.Fatalf("GetSmall %q: %d bytes, %+v; want %d bytes, ETag %q", k, len(got), info, len(want), head.ETag)
					}
				}
				// Dot segments and encoded ones reach the store as they
				// are, signed as they are: never another key's bytes.
				// (Empty segments are filegate.ValidateKey's to refuse:
				// MinIO reads "/plain.txt" as "plain.txt".)
				for _, k := range []string{"x/../plain.txt", "./plain.txt", "x/%2e%2e/plain.txt", "x/%2E%2E/plain.txt", "plain.txt/.", "plain.txt/"} {
					if data, _, err := sg.GetSmall(ctx, k); err == nil || len(data) > 0 {
						t.Fatalf("GetSmall %q: %d bytes, %v; want an error", k, len(data), err)
					}
				}
				if _, _, err := sg.GetSmall(ctx, "missing"); filegate.KindOf(err) != filegate.NotFound {
					t.Fatalf("GetSmall of a missing key: %v, want NotFound", err)
				}
				if err := b.Put(ctx, "big", "", make([]byte, store.MaxSmall+1)); err != nil {
					t.Fatal(err)
				}
				if _, _, err := sg.GetSmall(ctx, "big"); filegate.KindOf(err) != filegate.TooLarge {
					t.Fatalf("GetSmall of %d bytes: %v, want TooLarge", store.MaxSmall+1, err)
				}
				if data, _, err := sg.GetSmall(ctx, "plain.txt"); err != nil || len(data) != 100 {
					t.Fatalf("GetSmall after a refused one: %d bytes, %v", len(data), err)
				}
			})
		}
	}
}

// TestGetSmallClient: GetSmall has its own client only on a plain-http
// endpoint that no proxy is configured for.
func TestGetSmallClient(t *testing.T) {
	for _, c := range []struct {
		endpoint, proxy string
		fast            bool
	}{
		{"http://store.internal:9000", "", true},
		{"http://store.internal:9000", "http://127.0.0.1:3128", false},
		{"https://store.internal:9000", "", false},
		{"http://127.0.0.1:9000", "http://127.0.0.1:3128", true}, // loopback is never proxied
		{"", "", false}, // Amazon S3
	} {
		t.Setenv("HTTP_PROXY", c.proxy)
		st, err := store.New(context.Background(), store.Config{Endpoint: c.endpoint, Region: "us-east-1",
			AccessKeyID: "AK", SecretAccessKey: "secret", Bucket: "b"})
		if err != nil {
			t.Fatal(err)
		}
		if store.FastSmall(st) != c.fast {
			t.Errorf("endpoint %q, HTTP_PROXY %q: own client %v, want %v", c.endpoint, c.proxy, store.FastSmall(st), c.fast)
		}
		st.Close()
	}
}
