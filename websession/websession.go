// Package websession keeps a signed-in browser's token in a sealed cookie
// value, so that requests that cannot carry an Authorization header (Uppy
// 6's Companion client sends none) are still authenticated by the token
// itself: every request opens the value and checks the token again, so a
// revoked or expired token ends the session at once.
//
// The value is the token and an expiry sealed with AES-256-GCM under a key
// derived (HKDF-SHA256) from the server's session key; no client can read
// it, forge it, or stretch its expiry. The cookie is HttpOnly, so scripts
// never see it either.
package websession

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// MaxAge is the longest a session lasts; a token's own expiry shortens it.
const MaxAge = 12 * time.Hour

// maxValueLen bounds cookie values before any decoding work is done.
const maxValueLen = 4096

var ad = []byte("filegate web session v1")

// ErrInvalid is returned for every value that does not open or has expired.
var ErrInvalid = errors.New("websession: invalid or expired session")

// Sealer seals and opens session values. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
	now  func() time.Time
}

// New derives the session key from secret (at least 32 bytes).
func New(secret []byte) (*Sealer, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("websession: secret must be at least 32 bytes, got %d", len(secret))
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "filegate web session cookie", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead, now: time.Now}, nil
}

// Expiry is when a session for a token expiring at tokenExpiry (zero:
// never) ends: MaxAge from now at the latest.
func (s *Sealer) Expiry(tokenExpiry time.Time) time.Time {
	exp := s.now().Add(MaxAge)
	if !tokenExpiry.IsZero() && tokenExpiry.Before(exp) {
		exp = tokenExpiry
	}
	return exp.Truncate(time.Second)
}

// Seal returns the cookie value holding token until expires.
func (s *Sealer) Seal(token string, expires time.Time) (string, error) {
	plain := binary.BigEndian.AppendUint64(nil, uint64(expires.Unix()))
	plain = append(plain, token...)
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, ad)), nil
}

// Open returns the token in value, or ErrInvalid when value was not made
// by Seal with this key or has expired.
func (s *Sealer) Open(value string) (token string, expires time.Time, err error) {
	if len(value) == 0 || len(value) > maxValueLen {
		return "", time.Time{}, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	ns := s.aead.NonceSize()
	if err != nil || len(raw) < ns+s.aead.Overhead()+8 {
		return "", time.Time{}, ErrInvalid
	}
	plain, err := s.aead.Open(nil, raw[:ns], raw[ns:], ad)
	if err != nil || len(plain) < 9 {
		return "", time.Time{}, ErrInvalid
	}
	expires = time.Unix(int64(binary.BigEndian.Uint64(plain[:8])), 0)
	if !s.now().Before(expires) {
		return "", time.Time{}, ErrInvalid
	}
	return string(plain[8:]), expires, nil
}
