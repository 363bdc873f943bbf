package main

import (
	"context"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/filegate/filegate/embedded/gateway"
	"github.com/filegate/filegate/internal/harness"
)

// hostileSuffixes are what a client appends to its prefix to try to leave
// it: dot segments, their percent-encodings (single and double), empty
// segments, backslashes, a leading slash, overlong UTF-8 encodings of ".",
// NFKC look-alikes of "." and "..", and control bytes.
var hostileSuffixes = []string{
	"../bob/secret.txt",
	"../../root.txt",
	"../../../filegate-bundles/evil.txt",
	"../../.sgwtmp/evil",
	"%2e%2e/bob/secret.txt",
	"%2E%2E/bob/secret.txt",
	".%2e/bob/secret.txt",
	"%2e./bob/secret.txt",
	"%252e%252e/bob/secret.txt",
	"..%2fbob%2fsecret.txt",
	"./x.txt",
	"a/./x.txt",
	"//x.txt",
	"a//x.txt",
	`\..\bob\secret.txt`,
	`..\bob\secret.txt`,
	"a/..",
	"a/../..",
	"..",
	"/../bob/secret.txt",
	"\xc0\xae\xc0\xae/bob/secret.txt", // overlong UTF-8 "."
	"\xe0\x80\xae\xe0\x80\xae/bob/secret.txt", // three-byte overlong "."
	"\uff0e\uff0e/bob/secret.txt",             // FULLWIDTH FULL STOP, NFKC "."
	"\u2025/bob/secret.txt",                   // TWO DOT LEADER, NFKC ".."
	"x/\x00/../y",
}

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// TestNoGrantEscapesItsPrefix tries every hostile suffix through every grant
// type (POST form with a key prefix, PUT, multipart, caption output, bundle
// sources, a tampered PUT URL) with a token confined to users/alice/, then
// checks with the store's own listing, and for the embedded store with the
// files on disk, that nothing outside users/alice/ changed and that every
// key written inside it was taken literally.
func TestNoGrantEscapesItsPrefix(t *testing.T) {
	t.Parallel()
	for _, name := range harness.Stores(t) {
		t.Run(name, func(t *testing.T) {
			e := harness.Start(t, name, "--multipart-threshold", "1048576", "--part-size", "5242880")
			testNoGrantEscapes(t, e)
		})
	}
}

func testNoGrantEscapes(t *testing.T, e *harness.Env) {
	e.Put("users/bob/secret.txt", []byte("bob's secret"))
	e.Put("root.txt", []byte("root"))
	e.Put("users/alice/img.jpg", jpegBytes(t, 64, 48))
	e.Put("users/alice/ok.txt", []byte("ok"))
	alice := e.Token("alice", "users/alice/", 0, "upload", "list", "download", "bundle", "caption")
	beforeStore := e.StoreSnapshot(t)
	var beforeDisk map[string]string
	if e.Name == "embedded" {
		beforeDisk = e.DiskSnapshot(t)
	}
	written := map[string]bool{} // keys a grant was given for and used

	// 1. A POST form for the prefix; the browser picks the rest of the key.
	var f formResp
	r := e.Call(alice, "POST", "/v1/forms", map[string]any{"key_prefix": "users/alice/", "max_size": 1000})
	harness.MustStatus(t, r, 200)
	r.JSON(t, &f)
	for _, s := range hostileSuffixes {
		key := "users/alice/" + s
		status, body := postForm(t, f, map[string]string{"key": key}, "", []byte("evil"))
		if status < 300 {
			written[key] = true
		} else if status >= 500 {
			t.Errorf("form key %q: %d %s", key, status, body)
		}
	}

	// 2. PUT grants, 3. multipart sessions, 4. caption outputs, 5. bundles.
	for _, s := range hostileSuffixes {
		key := "users/alice/" + s
		r := e.Call(alice, "POST", "/v1/uploads", map[string]any{"key": key, "size": 4})
		if r.Status == 200 {
			var u uploadResp
			r.JSON(t, &u)
			if st, _, msg := harness.Send(t, u.Method, u.URL, u.Headers, []byte("evil")); st == 200 {
				written[u.Key] = true
			} else if st >= 500 {
				t.Errorf("PUT %q: %d %s", key, st, msg)
			}
		} else if r.Status != 400 {
			t.Errorf("PUT grant for %q: %d %s", key, r.Status, r.Body)
		}

		body := harness.RandomBytes(5<<20 + 1)
		r = e.Call(alice, "POST", "/v1/uploads", map[string]any{"key": key, "size": len(body)})
		if r.Status == 201 {
			var u uploadResp
			r.JSON(t, &u)
			var done []donePart
			for _, p := range u.Parts {
				done = append(done, putPart(t, p, body, u.PartSize))
			}
			if c := e.Call(alice, "POST", "/v1/uploads/"+u.UploadID+"/complete", map[string]any{"parts": done}); c.Status == 200 {
				written[u.Key] = true
			} else {
				t.Errorf("complete %q: %d %s", key, c.Status, c.Body)
			}
		} else if r.Status != 400 {
			t.Errorf("multipart session for %q: %d %s", key, r.Status, r.Body)
		}

		r = e.Call(alice, "POST", "/v1/captions", map[string]any{"key": "users/alice/img.jpg", "text": "hi", "output_key": key})
		if r.Status == 200 {
			var c struct {
				Key string `json:"key"`
			}
			r.JSON(t, &c)
			written[c.Key] = true
		} else if r.Status != 400 {
			t.Errorf("caption output %q: %d %s", key, r.Status, r.Body)
		}

		r = e.Call(alice, "POST", "/v1/bundles", map[string]any{"keys": []string{key}})
		if r.Status >= 500 {
			t.Errorf("bundle of %q: %d %s", key, r.Status, r.Body)
		}
		r = e.Call(alice, "POST", "/v1/bundles", map[string]any{"keys": []string{"users/alice/ok.txt"}, "name": s})
		if r.Status >= 500 {
			t.Errorf("bundle named %q: %d %s", s, r.Status, r.Body)
		}
	}

	// 6. A valid PUT grant whose URL path is rewritten to leave the prefix.
	var u uploadResp
	r = e.Call(alice, "POST", "/v1/uploads", map[string]any{"key": "users/alice/new.txt", "size": 4})
	harness.MustStatus(t, r, 200)
	r.JSON(t, &u)
	for _, evil := range []string{"users/alice/../bob/secret.txt", "users/alice/%2e%2e/bob/secret.txt", "users/bob/secret.txt"} {
		tampered := strings.Replace(u.URL, "users/alice/new.txt", evil, 1)
		if st, _, _ := harness.Send(t, "PUT", tampered, u.Headers, []byte("evil")); st < 400 {
			t.Errorf("tampered PUT to %s: %d", evil, st)
		}
	}

	// Nothing outside the prefix changed; what was written inside it sits
	// at exactly the key that was signed, taken literally.
	after := e.StoreSnapshot(t)
	for k, sum := range beforeStore {
		if after[k] != sum {
			t.Errorf("%s changed or vanished", k)
		}
	}
	for k := range after {
		if _, ok := beforeStore[k]; ok {
			continue
		}
		bucket, key, _ := strings.Cut(k, "/")
		if !strings.HasPrefix(key, "users/alice/") {
			t.Errorf("new object outside the prefix: %s", k)
		}
		if why := gateway.CheckKey(key); why != "" {
			t.Errorf("new object %s: %s", k, why)
		}
		if bucket == e.Bucket && !written[key] {
			t.Errorf("new object %s was not written under the key its grant named", k)
		}
	}
	for k := range written {
		if _, ok := after[e.Bucket+"/"+k]; !ok {
			t.Errorf("a grant for %q succeeded but the store lists no such key", k)
		}
	}
	if beforeDisk != nil {
		afterDisk := e.DiskSnapshot(t)
		for _, p := range slices.Sorted(maps.Keys(afterDisk)) {
			if strings.Contains(p, ".sgwtmp") && afterDisk[p] == "dir" {
				continue // the store's own working directories come and go
			}
			if strings.HasPrefix(p, ".vgwlocks/") && (afterDisk[p] == emptySHA256 || afterDisk[p] == "dir") {
				continue // the store's empty per-object lock files
			}
			if afterDisk[p] == "dir" && (p == e.Bundles+"/users" || p == e.Bucket+"/users") {
				continue // the parents of alice's folders
			}
			if beforeDisk[p] != afterDisk[p] {
				t.Errorf("on disk, outside alice's folders: %s is new or changed", p)
			}
		}
		for p := range beforeDisk {
			if _, ok := afterDisk[p]; !ok && !strings.Contains(p, ".sgwtmp") {
				t.Errorf("on disk: %s vanished", p)
			}
		}
	}
	t.Logf("%d hostile suffixes; %d keys written literally inside the prefix: %q", len(hostileSuffixes), len(written), slices.Sorted(maps.Keys(written)))
}

// TestEmbeddedStoreRefusesPathKeys sends hostile keys to the embedded store
// directly, with its root credentials and the SDK: the store itself refuses
// every key a file system would resolve.
func TestEmbeddedStoreRefusesPathKeys(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	e.Put("users/bob/secret.txt", []byte("bob's secret"))
	before := e.DiskSnapshot(t)
	for _, s := range []string{"users/alice/../bob/secret.txt", "../root.txt", "a/./b", "a//b", "/lead", `a\b`, ".sgwtmp/x", "a/\x01b"} {
		key := s
		_, err := e.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.Bucket, Key: &key, Body: strings.NewReader("evil")})
		if err == nil && gateway.CheckKey(key) != "" {
			t.Errorf("the embedded store took %q", key)
		}
		_, err = e.S3.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &e.Bucket, Key: &key})
		if err == nil && gateway.CheckKey(key) != "" {
			t.Errorf("the embedded store opened a multipart upload for %q", key)
		}
		src := url.PathEscape(e.Bucket) + "/" + url.PathEscape(key)
		dst := "users/alice/copy.txt"
		if _, err := e.S3.CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: &e.Bucket, Key: &dst, CopySource: &src}); err == nil {
			t.Errorf("the embedded store copied from %q", key)
		}
	}
	after := e.DiskSnapshot(t)
	for p, sum := range after {
		if before[p] != sum && !strings.Contains(p, ".sgwtmp") {
			t.Errorf("on disk: %s is new or changed", p)
		}
	}
}
