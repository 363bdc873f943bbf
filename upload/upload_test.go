package upload

import (
	"bytes"
	"strings"
	"testing"

	"github.com/filegate/filegate"
)

func TestPartSizeFor(t *testing.T) {
	tests := []struct{ size, min, want int64 }{
		{100 << 20, 8 << 20, 8 << 20},
		{11 << 20, 5 << 20, 5 << 20},
		{1 << 40, 8 << 20, 105 << 20},         // 1 TiB: 10,000 parts of 105 MiB
		{MaxObjectSize, 8 << 20, 525 << 20},   // 5 TiB
		{MaxObjectSize, 1 << 20, 525 << 20},   // a tiny minimum is raised
		{10000 * (8 << 20), 8 << 20, 8 << 20}, // exactly 10,000 parts
	}
	for _, tt := range tests {
		got := PartSizeFor(tt.size, tt.min)
		if got != tt.want {
			t.Errorf("PartSizeFor(%d, %d) = %d MiB, want %d MiB", tt.size, tt.min, got>>20, tt.want>>20)
		}
		if n := (tt.size + got - 1) / got; n > MaxParts || got < MinPartSize {
			t.Errorf("PartSizeFor(%d): %d parts of %d", tt.size, n, got)
		}
	}
}

func TestSessionSealing(t *testing.T) {
	s, err := NewSealer(bytes.Repeat([]byte{1}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	in := session{UploadID: "u-1", Key: "users/alice/f", Owner: "abc", Size: 11 << 20, PartSize: 5 << 20, Created: 1}
	id, err := s.seal(in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(id, "alice") || strings.Contains(id, "u-1") {
		t.Error("session id is not opaque")
	}
	out, err := s.open("t", id)
	if err != nil || out != in {
		t.Fatalf("open = %+v, %v", out, err)
	}
	other, _ := NewSealer(bytes.Repeat([]byte{2}, KeySize))
	if _, err := other.open("t", id); filegate.KindOf(err) != filegate.NotFound {
		t.Errorf("another key opened the id: %v", err)
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
}

// FuzzSessionID: no input panics, and only sealed ids open.
func FuzzSessionID(f *testing.F) {
	s, _ := NewSealer(bytes.Repeat([]byte{1}, KeySize))
	id, _ := s.seal(session{UploadID: "u", Key: "k", Owner: "o", Size: 1, PartSize: 1})
	f.Add(id)
	f.Add("")
	f.Add("AAAA")
	f.Add(strings.Repeat("A", 100))
	f.Fuzz(func(t *testing.T, in string) {
		sess, err := s.open("fuzz", in)
		if err != nil {
			if filegate.KindOf(err) != filegate.NotFound {
				t.Fatalf("kind %v", filegate.KindOf(err))
			}
			return
		}
		if in != id {
			// A different encoding of the same bytes can only come from
			// base64 padding bits; it must still carry the sealed content.
			if sess.UploadID != "u" {
				t.Fatalf("forged id %q opened as %+v", in, sess)
			}
		}
	})
}

func TestValidateMetadata(t *testing.T) {
	ok := []map[string]string{nil, {"a": "b"}, {"album-2": "x y"}}
	bad := []map[string]string{{"A": "b"}, {"": "b"}, {"a b": "c"}, {"a": "ü"}, {"a": "x\r\ny"}, {"a": strings.Repeat("x", 2048)}}
	for _, m := range ok {
		if err := ValidateMetadata("t", m); err != nil {
			t.Errorf("%v: %v", m, err)
		}
	}
	for _, m := range bad {
		if err := ValidateMetadata("t", m); err == nil {
			t.Errorf("%v accepted", m)
		}
	}
}
