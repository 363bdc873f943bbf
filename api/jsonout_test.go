package api

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func stdJSON(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDownloadJSONMatchesEncodingJSON(t *testing.T) {
	size := int64(12345)
	for _, d := range []downloadJSON{
		{URL: "http://127.0.0.1:9000/b/k?X-Amz-Signature=abc&x=1", Method: "GET", ExpiresAt: time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)},
		{URL: "https://s3/é/\"q\"\\\n\t\u2028<>&", Method: "GET", ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), Size: &size, ETag: "0123abc-2"},
		{URL: "\xff\xfe bad utf-8 \x01\x1f", Method: "HEAD", ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))},
	} {
		if got, want := d.appendJSON(nil), stdJSON(t, d); !bytes.Equal(got, want) {
			t.Errorf("appendJSON\n got %s\nwant %s", got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "\x00\x1f\x7f", "\u2028\u2029", "\xff", "é€😀", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendJSONString(nil, s), bytes.TrimSuffix(stdJSON(t, s), []byte("\n")); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q)\n got %s\nwant %s", s, got, want)
		}
	})
}
