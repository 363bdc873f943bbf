package websession

import (
	"strings"
	"testing"
	"time"
)

func TestSealOpen(t *testing.T) {
	s, err := New([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	exp := s.Expiry(time.Time{})
	if d := time.Until(exp); d < MaxAge-time.Minute || d > MaxAge {
		t.Fatalf("expiry in %s, want about %s", d, MaxAge)
	}
	soon := time.Now().Add(time.Hour)
	if got := s.Expiry(soon); !got.Equal(soon.Truncate(time.Second)) {
		t.Fatalf("a token expiring in an hour: session until %s, want %s", got, soon)
	}
	v, err := s.Seal("fg_secret", exp)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v, "fg_secret") {
		t.Fatal("the token is readable in the value")
	}
	tok, gotExp, err := s.Open(v)
	if err != nil || tok != "fg_secret" || !gotExp.Equal(exp) {
		t.Fatalf("Open = %q, %s, %v", tok, gotExp, err)
	}

	// Tampered, truncated, foreign, expired values do not open.
	other, _ := New([]byte(strings.Repeat("x", 32)))
	foreign, _ := other.Seal("fg_secret", exp)
	b := []byte(v)
	b[len(b)/2] ^= 1
	past, _ := s.Seal("fg_secret", time.Now().Add(-time.Second))
	for name, bad := range map[string]string{"tampered": string(b), "truncated": v[:len(v)-4], "foreign key": foreign, "expired": past, "empty": "", "huge": strings.Repeat("A", 5000), "not base64": "!!!"} {
		if _, _, err := s.Open(bad); err != ErrInvalid {
			t.Errorf("%s: Open err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("a short secret was taken")
	}
}

func FuzzOpen(f *testing.F) {
	s, _ := New([]byte(strings.Repeat("k", 32)))
	v, _ := s.Seal("fg_x", time.Now().Add(time.Hour))
	f.Add(v)
	f.Add("")
	f.Fuzz(func(t *testing.T, value string) {
		tok, _, err := s.Open(value)
		if err == nil && tok != "fg_x" {
			t.Fatalf("a value not made by Seal opened: %q", tok)
		}
	})
}
