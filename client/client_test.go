package client

import (
	"crypto/md5"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestIsLocalPath(t *testing.T) {
	// Keys a store that takes keys literally (Amazon S3) may hold; none may
	// write outside the destination directory of `filegate get PREFIX/`.
	for _, rel := range []string{"../x", "a/../../x", "/etc/passwd", "a/", "", ".."} {
		if IsLocalPath(rel) {
			t.Errorf("IsLocalPath(%q) = true", rel)
		}
	}
	for _, rel := range []string{"a/..", "a/./b", "a//b"} {
		if IsLocalPath(rel) {
			t.Errorf("IsLocalPath(%q) = true", rel)
		}
	}
	for _, rel := range []string{"x", "a/b/c.txt", "été/☀.txt", "..a/b..", ".hidden"} {
		if !IsLocalPath(rel) {
			t.Errorf("IsLocalPath(%q) = false", rel)
		}
	}
}

func TestPartSizeOf(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		size int64
		etag string
		want int64
	}{
		{60 * mib, `"0123-12"`, 5 * mib},
		{5*mib + 1, "x-2", 5 * mib},
		{7 * mib, "x-2", 5 * mib},
		{20 * mib, "x-3", 8 * mib},
		{48 * mib, "x-3", 16 * mib},
		{1 << 30, `"abc-128"`, 8 * mib},
		{70000000, "x-9", 8 * mib},
		{10 * mib, "d41d8cd98f00b204e9800998ecf8427e", 0},
		{10 * mib, "x-0", 0},
		{10 * mib, "x-20000", 0},
		{5, "x-1", 5},
	}
	for _, c := range cases {
		if got := partSizeOf(c.size, c.etag); got != c.want {
			t.Errorf("partSizeOf(%d, %s) = %d, want %d", c.size, c.etag, got, c.want)
		}
	}
}

func TestETagChecks(t *testing.T) {
	sum := md5.Sum([]byte("hello"))
	if !etagMatches(`"5d41402abc4b2a76b9719d911017c592"`, sum[:]) {
		t.Fatal("the MD5 ETag of hello does not match")
	}
	if etagMatches(`"00000000000000000000000000000000"`, sum[:]) {
		t.Fatal("a wrong MD5 ETag matches")
	}
	// S3's multipart ETag of two parts "a" and "b".
	a, b := md5.Sum([]byte("a")), md5.Sum([]byte("b"))
	want := md5.Sum(append(a[:], b[:]...))
	if got := multipartETag([][]byte{a[:], b[:]}); got != hexOf(want[:])+"-2" {
		t.Fatalf("multipartETag = %s", got)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// FuzzStoreAnswers feeds the parsers of what a store or server sends back:
// an ETag (part size guess), a key under a downloaded prefix (local path),
// and an error body.
func FuzzStoreAnswers(f *testing.F) {
	f.Add(int64(60<<20), `"abc-12"`, "users/a.txt", `{"title":"Not Found","detail":"x"}`)
	f.Add(int64(1), "-1", "../x", "<Error><Code>AccessDenied</Code><Message>no</Message></Error>")
	f.Fuzz(func(t *testing.T, size int64, etag, rel, body string) {
		if size < 0 {
			size = -size
		}
		size %= 5 << 40
		for _, ps := range partSizes(size, etag) {
			if ps <= 0 {
				t.Fatalf("partSizes(%d, %q) gave %d", size, etag, ps)
			}
		}
		if IsLocalPath(rel) {
			for _, seg := range strings.Split(rel, "/") {
				if seg == ".." {
					t.Fatalf("IsLocalPath(%q) with a .. segment", rel)
				}
			}
			if strings.HasPrefix(rel, "/") {
				t.Fatalf("IsLocalPath(%q) absolute", rel)
			}
		}
		for _, ct := range []string{"application/problem+json", "application/xml"} {
			resp := &http.Response{StatusCode: 403, Header: http.Header{"Content-Type": {ct}}, Body: io.NopCloser(strings.NewReader(body))}
			if p := problemFrom(resp); p.Status != 403 || p.Error() == "" {
				t.Fatalf("problemFrom: %+v", p)
			}
		}
	})
}
