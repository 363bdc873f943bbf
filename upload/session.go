package upload

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/filegate/filegate"
)

// session is everything filegate needs to know about a multipart upload
// besides what the store keeps (the parts). It travels inside the session
// id, sealed, so that any replica (or a restarted filegate) can serve it
// without shared state, and no client can read, forge or alter it.
type session struct {
	UploadID string `json:"u"`
	Key      string `json:"k"`
	Owner    string `json:"o"` // principal id
	Size     int64  `json:"s"` // -1: not declared (an open session, for Uppy)
	PartSize int64  `json:"p"`
	Created  int64  `json:"t"` // unix seconds
}

// Sealer seals session ids with AES-256-GCM.
type Sealer struct{ aead cipher.AEAD }

// KeySize is the length of a sealing key.
const KeySize = 32

// maxIDLen bounds session ids before any decoding work is done.
const maxIDLen = 4096

var sealAD = []byte("filegate upload session v1")

// NewSealer returns a Sealer for a 32-byte key. Every replica serving the
// same sessions needs the same key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("upload: session key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

func (s *Sealer) seal(sess session) (string, error) {
	plain, err := json.Marshal(sess)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, sealAD)), nil
}

// errUnknownSession is the cause for every id that does not open.
var errUnknownSession = errors.New("upload: unknown session")

func (s *Sealer) open(op, id string) (session, error) {
	unknown := func() (session, error) {
		return session{}, filegate.NewError(filegate.NotFound, op, "unknown_upload", "no such upload session").Wrap(errUnknownSession)
	}
	if len(id) == 0 || len(id) > maxIDLen {
		return unknown()
	}
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return unknown()
	}
	ns := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:ns], raw[ns:], sealAD)
	if err != nil {
		return unknown()
	}
	var sess session
	if err := json.Unmarshal(plain, &sess); err != nil || sess.UploadID == "" || sess.Key == "" || sess.PartSize <= 0 || (sess.Size <= 0 && sess.Size != openSize) {
		return unknown()
	}
	return sess, nil
}
