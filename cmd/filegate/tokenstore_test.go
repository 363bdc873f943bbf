package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/auth"
	"github.com/filegate/filegate/internal/cli"
	"github.com/filegate/filegate/internal/harness"
	"github.com/filegate/filegate/store"
)

// tokensCLI runs `filegate token ARGS` against a shared token store.
func tokensCLI(t *testing.T, storeFlags []string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	all := append(append([]string{"filegate", "token"}, args...), storeFlags...)
	if err := cli.Run(context.Background(), all, func(string) string { return "" }, nil, &out, &errb); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// TestSharedTokenStoreAcrossReplicas runs two filegate replicas over one
// store with their tokens in a bucket object: a token made with the CLI
// works on both, and a revocation reaches both within --token-cache.
func TestSharedTokenStoreAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, name := range harness.Stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			backend := harness.Start(t, name)
			var endpoint, key, secret string
			if name == "embedded" {
				sf := harness.StoreFileOf(t, backend.Data)
				endpoint, key, secret = sf.Endpoint, sf.AccessKeyID, sf.SecretAccessKey
			} else {
				endpoint, key, secret = flagOf(backend.Extra, "--endpoint"), flagOf(backend.Extra, "--access-key-id"), flagOf(backend.Extra, "--secret-access-key")
			}
			spec := "s3://filegate-bundles/_filegate/tokens.json"
			storeFlags := []string{"--tokens", spec, "--endpoint", endpoint, "--access-key-id", key, "--secret-access-key", secret, "--region", "us-east-1"}
			replica := func() *harness.Env {
				return harness.Start(t, "external", append([]string{"--bucket", "filegate", "--bundle-bucket", "filegate-bundles", "--token-cache", "500ms"}, storeFlags...)...)
			}
			a, b := replica(), replica()
			backend.Put("users/alice/x.txt", []byte("x"))
			tok := tokensCLI(t, storeFlags, "create", "--name", "alice", "--prefix", "users/alice/", "--allow", "download")
			a.ExtraSecrets = append(a.ExtraSecrets, tok)
			b.ExtraSecrets = append(b.ExtraSecrets, tok)
			for _, r := range []*harness.Env{a, b} {
				time.Sleep(600 * time.Millisecond) // past the cache of a replica that read the store before
				harness.MustStatus(t, r.Call(tok, "POST", "/v1/downloads", map[string]any{"key": "users/alice/x.txt"}), 200)
			}
			if out := tokensCLI(t, storeFlags, "list"); !strings.Contains(out, "alice") {
				t.Fatalf("token list: %s", out)
			}
			tokensCLI(t, storeFlags, "revoke", "alice")
			time.Sleep(600 * time.Millisecond)
			for _, r := range []*harness.Env{a, b} {
				if res := r.Call(tok, "POST", "/v1/downloads", map[string]any{"key": "users/alice/x.txt"}); res.Status != 401 {
					t.Fatalf("a revoked token after the cache TTL: %d", res.Status)
				}
			}
		})
	}
}

func flagOf(flags []string, name string) string {
	for i, f := range flags {
		if f == name && i+1 < len(flags) {
			return flags[i+1]
		}
	}
	return ""
}

// TestBucketTokenDocumentConcurrentWriters makes tokens from several
// token-store instances at once over one object: the conditional writes
// lose none, on every store.
func TestBucketTokenDocumentConcurrentWriters(t *testing.T) {
	t.Parallel()
	harness.EachStore(t, func(t *testing.T, e *harness.Env) {
		var endpoint, key, secret string
		if e.Name == "embedded" {
			sf := harness.StoreFileOf(t, e.Data)
			endpoint, key, secret = sf.Endpoint, sf.AccessKeyID, sf.SecretAccessKey
		} else {
			endpoint, key, secret = flagOf(e.Extra, "--endpoint"), flagOf(e.Extra, "--access-key-id"), flagOf(e.Extra, "--secret-access-key")
		}
		st, err := store.New(context.Background(), store.Config{Endpoint: endpoint, Region: "us-east-1", AccessKeyID: key, SecretAccessKey: secret, Bucket: "filegate-bundles"})
		if err != nil {
			t.Fatal(err)
		}
		doc := st.Document("filegate-bundles", "_filegate/tokens.json")
		ctx := context.Background()
		if b, v, err := doc.Load(ctx, ""); b != nil || v != "" || err != nil {
			t.Fatalf("missing document: %q %q %v", b, v, err)
		}
		v1, err := doc.Save(ctx, []byte("{}"), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := doc.Save(ctx, []byte("{}"), ""); filegate.KindOf(err) != filegate.Conflict {
			t.Fatalf("create over an existing document: %v", err)
		}
		v2, err := doc.Save(ctx, []byte(`{"version":1,"tokens":[]}`), v1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := doc.Save(ctx, []byte("{}"), v1); filegate.KindOf(err) != filegate.Conflict {
			t.Fatalf("a stale write: %v", err)
		}
		if b, v, err := doc.Load(ctx, v2); b != nil || v != v2 || err != nil {
			t.Fatalf("unchanged document: %q %q %v", b, v, err)
		}
		var wg sync.WaitGroup
		instances := []*auth.Tokens{auth.OpenDocument(doc, time.Second), auth.OpenDocument(doc, time.Second), auth.OpenDocument(doc, time.Second)}
		for i := range 24 {
			wg.Go(func() {
				if _, _, err := instances[i%3].Create(auth.NewSpec{Name: fmt.Sprint("t", i), Actions: []filegate.Action{filegate.ActList}}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		recs, err := instances[0].List()
		if err != nil || len(recs) != 24 {
			t.Fatalf("%d tokens after 24 concurrent creates (%v)", len(recs), err)
		}
	})
}
