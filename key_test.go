package filegate_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/filegate/filegate"
)

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"a", true},
		{"users/alice/photo.jpg", true},
		{"folder/", true},
		{"spaces and (parens)+plus ü 日本.txt", true},
		{"100%.txt", true},
		{"a%2", true}, // not a valid escape: a literal name
		{"...", true},
		{".hidden", true},
		{strings.Repeat("a", 1024), true},
		{"", false},
		{strings.Repeat("a", 1025), false},
		{"/abs", false},
		{"a/../b", false},
		{"..", false},
		{"a/./b", false},
		{"a/.", false},
		{"a//b", false},
		{"a/%2e%2e/b", false},
		{"a/%2E%2e/b", false},
		{"a/%2e/b", false},
		{"a/..%2fb", false},
		{"a/x%5cy", false},
		{"a\\b", false},
		{"a\x00b", false},
		{"a\nb", false},
		{"a\x7fb", false},
		{"a\u0085b", false},
		{"a\xffb", false},
	}
	for _, tt := range tests {
		err := filegate.ValidateKey("test", tt.key)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateKey(%.40q) = %v, want ok=%v", tt.key, err, tt.ok)
		}
		if err != nil && filegate.KindOf(err) != filegate.Invalid {
			t.Errorf("ValidateKey(%.40q): kind %v, want Invalid", tt.key, filegate.KindOf(err))
		}
	}
}

func TestScopePrefix(t *testing.T) {
	for in, want := range map[string]string{"": "", "users/alice": "users/alice/", "users/alice/": "users/alice/", "/users/bob": "users/bob/"} {
		got, err := filegate.NormalizeScopePrefix(in)
		if err != nil || got != want {
			t.Errorf("NormalizeScopePrefix(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a/../b", "a\x00"} {
		if _, err := filegate.NormalizeScopePrefix(bad); err == nil {
			t.Errorf("NormalizeScopePrefix(%q) accepted", bad)
		}
	}
	p := &filegate.Principal{Actions: []filegate.Action{filegate.ActDownload}, Prefix: "users/alice/"}
	if err := p.Authorize("t", filegate.ActDownload, "users/alice2/x"); filegate.KindOf(err) != filegate.Forbidden {
		t.Errorf("neighbour prefix: %v, want Forbidden", err)
	}
	if err := p.Authorize("t", filegate.ActUpload, "users/alice/x"); filegate.KindOf(err) != filegate.Forbidden {
		t.Errorf("action not granted: %v, want Forbidden", err)
	}
	if err := p.Authorize("t", filegate.ActDownload, "users/alice/x"); err != nil {
		t.Errorf("own key: %v", err)
	}
}

func TestErrorText(t *testing.T) {
	err := &filegate.Error{Kind: filegate.NotFound, Op: "grant.Download", Key: "a/b", Msg: "not found", Err: errors.New("NoSuchKey")}
	if got, want := err.Error(), `grant.Download: not_found "a/b": not found: NoSuchKey`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if filegate.KindOf(errors.Join(errors.New("x"), err)) != filegate.NotFound {
		t.Error("KindOf does not see a wrapped *Error")
	}
}

// FuzzValidateKey checks the invariants every accepted key must hold.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"a", "users/alice/x", "a/../b", "%2e%2e", "a//b", "/a", "a\x00", "folder/", "ü/日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if filegate.ValidateKey("fuzz", key) != nil {
			return
		}
		if len(key) == 0 || len(key) > filegate.MaxKeyLen || !utf8.ValidString(key) || key[0] == '/' {
			t.Fatalf("accepted %q", key)
		}
		for _, r := range key {
			if unicode.IsControl(r) || r == '\\' {
				t.Fatalf("accepted control or backslash in %q", key)
			}
		}
		for _, seg := range strings.Split(strings.TrimSuffix(key, "/"), "/") {
			d, err := url.PathUnescape(seg)
			if seg == "" || seg == "." || seg == ".." || (err == nil && (d == "." || d == ".." || strings.ContainsAny(d, "/\\"))) {
				t.Fatalf("accepted segment %q in %q", seg, key)
			}
		}
		// A key inside a scope stays inside it: path cleaning cannot move it.
		p := &filegate.Principal{Actions: []filegate.Action{filegate.ActDownload}, Prefix: "users/alice/"}
		full := "users/alice/" + key
		if len(full) <= filegate.MaxKeyLen && filegate.ValidateKey("fuzz", full) == nil {
			if p.Authorize("fuzz", filegate.ActDownload, full) != nil {
				t.Fatalf("%q refused inside its own scope", full)
			}
		}
	})
}
