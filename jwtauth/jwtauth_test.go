package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/filegate/filegate"
)

// idp is an identity provider: a JWKS endpoint whose keys can rotate.
type idp struct {
	mu   sync.Mutex
	keys map[string]any // kid → private key
	srv  *httptest.Server
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func newIDP(t *testing.T) *idp {
	d := &idp{keys: map[string]any{}}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		defer d.mu.Unlock()
		var set []map[string]string
		for kid, k := range d.keys {
			switch k := k.(type) {
			case *rsa.PrivateKey:
				set = append(set, map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())})
			case *ecdsa.PrivateKey:
				set = append(set, map[string]string{"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64(k.X.FillBytes(make([]byte, 32))), "y": b64(k.Y.FillBytes(make([]byte, 32)))})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": set})
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *idp) add(t *testing.T, kid string, ec bool) any {
	var k any
	if ec {
		k, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		k, _ = rsa.GenerateKey(rand.Reader, 2048)
	}
	d.mu.Lock()
	d.keys[kid] = k
	d.mu.Unlock()
	return k
}

func sign(t *testing.T, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	var m jwt.SigningMethod = jwt.SigningMethodRS256
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		m = jwt.SigningMethodES256
	}
	tok := jwt.NewWithClaims(m, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(extra jwt.MapClaims) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": "https://idp.example", "aud": "filegate", "sub": "alice", "exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(), "scope": "openid filegate:download list"}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestJWT(t *testing.T) {
	d := newIDP(t)
	rsaKey := d.add(t, "k1", false)
	ecKey := d.add(t, "k2", true)
	v, err := New(context.Background(), Config{JWKSURL: d.srv.URL, Issuer: "https://idp.example", Audience: "filegate", Leeway: 30 * time.Second, RefreshUnknown: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Authenticate(sign(t, rsaKey, "k1", claims(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "alice" || p.Prefix != "users/alice/" || !p.Can(filegate.ActDownload) || !p.Can(filegate.ActList) || p.Can(filegate.ActUpload) || p.ID != "jwt:https://idp.example#alice" {
		t.Fatalf("principal %+v", p)
	}
	p, err = v.Authenticate(sign(t, ecKey, "k2", claims(jwt.MapClaims{"filegate_actions": []string{"upload"}, "filegate_prefix": "team/x", "email": "a@example.com", "filegate_max_size": 1024})))
	if err != nil || p.Prefix != "team/x/" || !p.Can(filegate.ActUpload) || p.Can(filegate.ActDownload) || p.Name != "a@example.com" || p.MaxSize != 1024 {
		t.Fatalf("ES256 with filegate claims: %+v %v", p, err)
	}
	// Within the leeway, a token just expired or not yet valid still works.
	if _, err := v.Authenticate(sign(t, rsaKey, "k1", claims(jwt.MapClaims{"exp": time.Now().Add(-10 * time.Second).Unix()}))); err != nil {
		t.Fatalf("10 s past exp within a 30 s leeway: %v", err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	refused := map[string]string{
		"expired":         sign(t, rsaKey, "k1", claims(jwt.MapClaims{"exp": time.Now().Add(-2 * time.Minute).Unix()})),
		"not yet valid":   sign(t, rsaKey, "k1", claims(jwt.MapClaims{"nbf": time.Now().Add(2 * time.Minute).Unix()})),
		"issued later":    sign(t, rsaKey, "k1", claims(jwt.MapClaims{"iat": time.Now().Add(2 * time.Minute).Unix()})),
		"no exp":          sign(t, rsaKey, "k1", claims(jwt.MapClaims{"exp": nil})),
		"wrong issuer":    sign(t, rsaKey, "k1", claims(jwt.MapClaims{"iss": "https://evil.example"})),
		"wrong audience":  sign(t, rsaKey, "k1", claims(jwt.MapClaims{"aud": "other"})),
		"no subject":      sign(t, rsaKey, "k1", claims(jwt.MapClaims{"sub": nil})),
		"escaping sub":    sign(t, rsaKey, "k1", claims(jwt.MapClaims{"sub": "../bob"})),
		"unknown key":     sign(t, other, "k9", claims(nil)),
		"key of another":  sign(t, other, "k1", claims(nil)),
		"alg none":        noneToken(t),
		"HS256 with n":    hsToken(t, rsaKey.(*rsa.PrivateKey)),
		"tampered claims": tamper(sign(t, rsaKey, "k1", claims(nil))),
		"garbage":         "a.b.c",
	}
	for name, tok := range refused {
		if _, err := v.Authenticate(tok); filegate.KindOf(err) != filegate.Unauthenticated {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	// Key rotation: a new key published at the JWKS URL is honoured at once
	// (an unknown kid fetches the set again).
	newKey := d.add(t, "k3", false)
	time.Sleep(5 * time.Millisecond)
	if _, err := v.Authenticate(sign(t, newKey, "k3", claims(nil))); err != nil {
		t.Fatalf("a rotated-in key: %v", err)
	}
}

func noneToken(t *testing.T) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil))
	s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hsToken is the algorithm-confusion attack: HMAC keyed with the public key.
func hsToken(t *testing.T, k *rsa.PrivateKey) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(k.N.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"sub":"alice"`, `"sub":"admin"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func TestLooksLikeJWT(t *testing.T) {
	if !LooksLikeJWT("a.b.c") || LooksLikeJWT("fg_0123_abc") || LooksLikeJWT("a.b") {
		t.Fatal("shape")
	}
}

// FuzzAuthenticate: whatever a client sends as a bearer token is refused
// unless it is a valid token, and never panics.
func FuzzAuthenticate(f *testing.F) {
	d := &idp{keys: map[string]any{}}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"keys":[]}`)) }))
	defer d.srv.Close()
	v, err := New(context.Background(), Config{JWKSURL: d.srv.URL, Issuer: "i", Audience: "a", RefreshUnknown: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.c2ln")
	f.Fuzz(func(t *testing.T, tok string) {
		if p, err := v.Authenticate(tok); err == nil {
			t.Fatalf("accepted %q as %+v", tok, p)
		}
	})
}
