package auth

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filegate/filegate"
)

func TestTokenLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	tk := Open(path)
	tok, rec, err := tk.Create(NewSpec{Name: "alice", Actions: []filegate.Action{filegate.ActDownload, filegate.ActList, filegate.ActList}, Prefix: "users/alice"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Prefix != "users/alice/" || len(rec.Actions) != 2 {
		t.Errorf("record %+v: want prefix users/alice/ and 2 actions", rec)
	}
	p, err := tk.Authenticate(tok)
	if err != nil || p.Name != "alice" || p.Prefix != "users/alice/" || p.ID != rec.ID {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	raw, _ := os.ReadFile(path)
	secret := tok[strings.LastIndex(tok, "_")+1:]
	if strings.Contains(string(raw), secret) {
		t.Fatal("the token file holds the secret")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	// A second handle (another process) sees revocation at once.
	other := Open(path)
	if _, err := other.Revoke("alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Authenticate(tok); filegate.KindOf(err) != filegate.Unauthenticated {
		t.Errorf("revoked token: %v", err)
	}
	if _, err := other.Revoke("alice"); filegate.KindOf(err) != filegate.NotFound {
		t.Errorf("revoke twice: %v", err)
	}
}

func TestTokenRefusals(t *testing.T) {
	tk := Open(filepath.Join(t.TempDir(), "tokens.json"))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tk.now = func() time.Time { return now }
	tok, _, err := tk.Create(NewSpec{Name: "short", Actions: []filegate.Action{filegate.ActList}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Authenticate(tok); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if _, err := tk.Authenticate(tok); filegate.KindOf(err) != filegate.Unauthenticated {
		t.Errorf("expired: %v", err)
	}
	for _, bad := range []string{"", "fg_", "fg_x_y", tok + "x", strings.Replace(tok, "fg_", "gf_", 1), tok[:len(tok)-1]} {
		if _, err := tk.Authenticate(bad); filegate.KindOf(err) != filegate.Unauthenticated {
			t.Errorf("Authenticate(%q) = %v", bad, err)
		}
	}
	for _, spec := range []NewSpec{{Name: "", Actions: []filegate.Action{filegate.ActList}}, {Name: "x"}, {Name: "x", Actions: []filegate.Action{filegate.ActList}, Prefix: "a/../b"}, {Name: "x", Actions: []filegate.Action{filegate.ActList}, TTL: -1}} {
		if _, _, err := tk.Create(spec); filegate.KindOf(err) != filegate.Invalid {
			t.Errorf("Create(%+v) = %v, want Invalid", spec, err)
		}
	}
}

func TestConcurrentCreate(t *testing.T) {
	tk := Open(filepath.Join(t.TempDir(), "tokens.json"))
	var wg sync.WaitGroup
	toks := make([]string, 20)
	for i := range toks {
		wg.Go(func() {
			tok, _, err := tk.Create(NewSpec{Name: "n", Actions: []filegate.Action{filegate.ActList}})
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		})
	}
	wg.Wait()
	for _, tok := range toks {
		if _, err := tk.Authenticate(tok); err != nil {
			t.Errorf("token lost in concurrent creation: %v", err)
		}
	}
}

// FuzzAuthenticate: no input panics or authenticates except the real token.
func FuzzAuthenticate(f *testing.F) {
	tk := Open(filepath.Join(f.TempDir(), "tokens.json"))
	tok, _, err := tk.Create(NewSpec{Name: "n", Actions: []filegate.Action{filegate.ActList}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add("fg_0000000000000000_x")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := tk.Authenticate(s)
		if err == nil && s != tok {
			t.Fatalf("%q authenticated as %s", s, p.Name)
		}
	})
}

// TestVerifiedCache: a token verified once is answered from the cache,
// a wrong secret with the same id is never, and a revocation by another
// handle (another process) or an expiry ends the cached principal at once.
func TestVerifiedCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	tk := Open(path)
	now := time.Now()
	tk.now = func() time.Time { return now }
	tok, _, err := tk.Create(NewSpec{Name: "alice", Actions: []filegate.Action{filegate.ActDownload}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := tk.Authenticate(tok)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := tk.Authenticate(tok)
	if err != nil || p2 != p1 {
		t.Fatalf("second Authenticate = %p, %v; want the cached %p", p2, err, p1)
	}
	last := byte('A')
	if tok[len(tok)-1] == 'A' {
		last = 'B'
	}
	bad := tok[:len(tok)-1] + string(last)
	if _, err := tk.Authenticate(bad); err == nil {
		t.Error("a token differing in its last character was accepted")
	}
	now = now.Add(2 * time.Hour)
	if _, err := tk.Authenticate(tok); err == nil {
		t.Error("an expired token was accepted from the cache")
	}
	now = now.Add(-2 * time.Hour)
	if _, err := Open(path).Revoke("alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Authenticate(tok); err == nil {
		t.Error("a revoked token was accepted from the cache")
	}
}
