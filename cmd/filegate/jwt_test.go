package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/filegate/filegate/internal/harness"
)

// TestJWTBearerTokens: filegate started with --jwks-url accepts tokens of
// that identity provider, confined by their claims, beside its own tokens.
func TestJWTBearerTokens(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "idp-1", "alg": "RS256", "use": "sig", "n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	defer jwks.Close()
	e := harness.Start(t, "embedded", "--jwks-url", jwks.URL, "--jwt-issuer", "https://idp.example", "--jwt-audience", "filegate")
	e.Put("users/alice/a.txt", []byte("a"))
	e.Put("users/bob/b.txt", []byte("b"))
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": "https://idp.example", "aud": "filegate", "sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
		"scope": "openid filegate:download filegate:list",
	})
	tok.Header["kid"] = "idp-1"
	signed, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	e.ExtraSecrets = append(e.ExtraSecrets, signed)
	harness.MustStatus(t, e.Call(signed, "POST", "/v1/downloads", map[string]any{"key": "users/alice/a.txt"}), 200)
	harness.MustStatus(t, e.Call(signed, "POST", "/v1/downloads", map[string]any{"key": "users/bob/b.txt"}), 403)
	harness.MustStatus(t, e.Call(signed, "POST", "/v1/uploads", map[string]any{"key": "users/alice/c.txt", "size": 1}), 403)
	r := e.Call(signed, "GET", "/v1/whoami", nil)
	harness.MustStatus(t, r, 200)
	var who struct {
		Name   string `json:"name"`
		Prefix string `json:"prefix"`
	}
	r.JSON(t, &who)
	if who.Name != "alice" || who.Prefix != "users/alice/" {
		t.Fatalf("whoami %+v", who)
	}
	// filegate's own tokens still work; a token of another issuer does not.
	harness.MustStatus(t, e.Call(e.Admin, "POST", "/v1/downloads", map[string]any{"key": "users/bob/b.txt"}), 200)
	other := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": "https://evil.example", "aud": "filegate", "sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "scope": "filegate:download"})
	other.Header["kid"] = "idp-1"
	bad, _ := other.SignedString(key)
	if r := e.Call(bad, "POST", "/v1/downloads", map[string]any{"key": "users/alice/a.txt"}); r.Status != 401 {
		t.Fatalf("another issuer: %d", r.Status)
	}
}
