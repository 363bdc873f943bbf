package companion

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/upload"
)

func TestMetadata(t *testing.T) {
	got, err := metadata(map[string]any{"name": "a.jpg", "type": "image/jpeg", "relativePath": nil, "Caption": "héllo", "n": 3.0, "ok": true, "empty": ""})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"caption": "=?utf-8?q?h=C3=A9llo?=", "n": "3", "ok": "true"}
	if len(got) != len(want) {
		t.Fatalf("metadata = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []map[string]any{{"a b": "x"}, {"x": map[string]any{}}, {"x": strings.Repeat("v", 3000)}} {
		if _, err := metadata(bad); filegate.KindOf(err) != filegate.Invalid {
			t.Errorf("metadata(%v): err %v, want Invalid", bad, err)
		}
	}
}

func TestObjectKey(t *testing.T) {
	p := &filegate.Principal{Prefix: "users/alice/"}
	if k, err := objectKey(p, "docs/a.txt"); err != nil || k != "users/alice/docs/a.txt" {
		t.Fatalf("objectKey = %q, %v", k, err)
	}
	for _, bad := range []string{"", "/abs", strings.Repeat("a", 1025)} {
		if _, err := objectKey(p, bad); err == nil {
			t.Errorf("objectKey(%q) accepted", bad)
		}
	}
}

// FuzzUploadInput: Uppy's filename and metadata, from untrusted JSON, never
// produce a key outside the caller's prefix that passes key validation, nor
// metadata that fails the upload service's own checks.
func FuzzUploadInput(f *testing.F) {
	f.Add("docs/a.txt", `{"name":"a","caption":"x"}`)
	f.Add("../b", `{"A":"é"}`)
	f.Add("a/./b", `null`)
	p := &filegate.Principal{Prefix: "users/alice/"}
	f.Fuzz(func(t *testing.T, filename, meta string) {
		if k, err := objectKey(p, filename); err == nil {
			if filegate.ValidateKey("fuzz", k) == nil && !strings.HasPrefix(k, p.Prefix) {
				t.Fatalf("key %q escapes the prefix", k)
			}
		}
		var m map[string]any
		if json.Unmarshal([]byte(meta), &m) != nil {
			return
		}
		out, err := metadata(m)
		if err == nil && upload.ValidateMetadata("fuzz", out) != nil {
			t.Fatalf("metadata %v passed here but not in the upload service", out)
		}
	})
}
