// Package datadir owns filegate's data directory: where each file lives,
// store.json (how to reach the embedded store), the first admin token, and
// the key that seals upload session ids. Every file holding a secret is
// written atomically with mode 0600.
//
//	<dir>/tokens.json       token records (hashes only), see package auth
//	<dir>/tokens.json.lock  serializes writers across processes
//	<dir>/admin.token       the first admin token, written once
//	<dir>/session.key       base64 AES key sealing upload session ids
//	<dir>/store.json        the embedded store's endpoint, credentials, buckets
//	<dir>/store/            the embedded store's objects, a directory per bucket
package datadir

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/auth"
)

// Dir is an opened data directory.
type Dir struct{ path string }

// Open makes path absolute and creates it (mode 0700) if needed.
func Open(path string) (Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Dir{}, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return Dir{}, fmt.Errorf("data directory: %w", err)
	}
	return Dir{path: abs}, nil
}

// Path returns the directory's absolute path.
func (d Dir) Path() string { return d.path }

// TokensPath is the token file.
func (d Dir) TokensPath() string { return filepath.Join(d.path, "tokens.json") }

// AdminTokenPath is where the first admin token is kept.
func (d Dir) AdminTokenPath() string { return filepath.Join(d.path, "admin.token") }

// StorePath is the embedded store's directory.
func (d Dir) StorePath() string { return filepath.Join(d.path, "store") }

// StoreFilePath is store.json.
func (d Dir) StoreFilePath() string { return filepath.Join(d.path, "store.json") }

// Tokens opens the token file.
func (d Dir) Tokens() *auth.Tokens { return auth.Open(d.TokensPath()) }

// StoreFile is store.json: how to reach the embedded store with any S3 tool.
type StoreFile struct {
	Endpoint        string            `json:"endpoint"`
	Region          string            `json:"region"`
	AccessKeyID     string            `json:"access_key_id"`
	SecretAccessKey string            `json:"secret_access_key"`
	Buckets         map[string]string `json:"buckets"`
}

// ReadStoreFile reads <dir>/store.json (a tool or test that knows only the
// directory's path).
func ReadStoreFile(dir string) (StoreFile, error) {
	var sf StoreFile
	b, err := os.ReadFile(filepath.Join(dir, "store.json"))
	if err != nil {
		return sf, err
	}
	if err := json.Unmarshal(b, &sf); err != nil {
		return sf, fmt.Errorf("%s is damaged: %w", filepath.Join(dir, "store.json"), err)
	}
	return sf, nil
}

// StoreCredentials returns store.json as it is, or, on a new directory,
// fresh root credentials for the embedded store (not yet written).
func (d Dir) StoreCredentials() (StoreFile, error) {
	sf, err := ReadStoreFile(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		return StoreFile{
			AccessKeyID:     "FG" + strings.ToUpper(hex.EncodeToString(random(9))),
			SecretAccessKey: base64.RawURLEncoding.EncodeToString(random(30)),
		}, nil
	}
	if err != nil {
		return sf, err
	}
	if sf.AccessKeyID == "" || sf.SecretAccessKey == "" {
		return sf, fmt.Errorf("%s has no credentials", d.StoreFilePath())
	}
	return sf, nil
}

// WriteStoreFile writes store.json (mode 0600).
func (d Dir) WriteStoreFile(sf StoreFile) error {
	out, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return err
	}
	return auth.WriteFileAtomic(d.StoreFilePath(), append(out, '\n'), 0o600)
}

// BootstrapAdmin creates an admin token on the very first start (no token
// file at all), prints it once to w and keeps it in admin.token (mode
// 0600). A token file that exists but holds no token (every token revoked)
// is left alone: restarting must not mint a new admin. Recovery, for
// whoever can write the directory: filegate token create --allow admin.
func (d Dir) BootstrapAdmin(tokens *auth.Tokens, w io.Writer, appURL string) error {
	exists, err := tokens.Exists()
	if err != nil || exists {
		return err
	}
	tok, _, err := tokens.Create(auth.NewSpec{Name: "admin", Actions: filegate.Actions})
	if err != nil {
		return err
	}
	if err := auth.WriteFileAtomic(d.AdminTokenPath(), []byte(tok+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(w, "admin token (shown once, also in %s):\n%s\n", d.AdminTokenPath(), tok)
	if appURL != "" {
		// The token travels in the fragment, which browsers never send.
		fmt.Fprintf(w, "open the web app, signed in: %s#token=%s\n", appURL, tok)
	}
	return nil
}

// SessionKey returns the key sealing upload session ids: from flagKey
// (base64) when given, as replicas behind a load balancer share one;
// otherwise from session.key, generated on first use.
func (d Dir) SessionKey(flagKey string, size int) ([]byte, error) {
	if flagKey != "" {
		k, err := base64.StdEncoding.DecodeString(flagKey)
		if err != nil {
			return nil, fmt.Errorf("--session-key: not base64: %w", err)
		}
		return k, nil
	}
	path := filepath.Join(d.path, "session.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b = []byte(base64.StdEncoding.EncodeToString(random(size)) + "\n")
		if err := auth.WriteFileAtomic(path, b, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: not base64: %w", path, err)
	}
	return k, nil
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}
