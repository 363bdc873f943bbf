package gateway

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckKey(t *testing.T) {
	ok := []string{"a", "a/b.txt", "a/", "users/alice/%2e%2e/x", "..a", "a..", ".hidden", "a/.b", "ｘ/．．/y", "a b"}
	bad := []string{"..", ".", "a/../b", "a/./b", "a/..", "../a", "a//b", "/a", `a\b`, "a\x00b", "a\x1fb", "a\x7fb", "\xc0\xae/x", ".sgwtmp/x", ".sgwtmp", "a//"}
	for _, k := range ok {
		if why := CheckKey(k); why != "" {
			t.Errorf("CheckKey(%q) = %q, want accepted", k, why)
		}
	}
	for _, k := range bad {
		if CheckKey(k) == "" {
			t.Errorf("CheckKey(%q) accepted, want refused", k)
		}
	}
}

// FuzzCheckKey: a key the guard accepts maps onto a path inside the bucket,
// and onto exactly the path that names it (the file system takes it
// literally: nothing is resolved or merged).
func FuzzCheckKey(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a/./b", "a//b", "%2e%2e/x", "\xc0\xae", "a/", ".sgwtmp/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if CheckKey(key) != "" || key == "" {
			return
		}
		const bucket = "/data/bucket"
		p := filepath.Join(bucket, key)
		if !strings.HasPrefix(p, bucket+"/") {
			t.Fatalf("accepted %q resolves outside the bucket: %s", key, p)
		}
		if want := bucket + "/" + strings.TrimSuffix(key, "/"); p != want {
			t.Fatalf("accepted %q resolves to %s, not literally %s", key, p, want)
		}
		if strings.HasPrefix(strings.TrimPrefix(p, bucket+"/"), tmpDir) && strings.Split(key, "/")[0] == tmpDir {
			t.Fatalf("accepted %q reaches the store's temporary directory", key)
		}
	})
}
