// Package auth issues and checks filegate's bearer tokens.
//
// A token reads "fg_<id>_<secret>": the id finds the record, the 256-bit
// secret proves possession. Only the SHA-256 of the secret is stored; a
// salted slow hash (bcrypt, argon2) buys nothing for 256 random bits and
// would cost milliseconds on every request. Hashes are compared with
// crypto/subtle in constant time.
//
// Tokens live in a JSON file (mode 0600) that is re-read whenever it changes
// on disk, so `filegate token create` and `revoke` take effect on a running
// server without a restart.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/filegate/filegate"
)

// Record is a stored token: everything but the secret.
type Record struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Hash    string            `json:"sha256"`
	Actions []filegate.Action `json:"actions"`
	Prefix  string            `json:"prefix"`
	Created time.Time         `json:"created"`
	Expires time.Time         `json:"expires,omitzero"`
	MaxSize int64             `json:"max_size,omitzero"` // largest upload; 0: the server's limit
}

type fileFormat struct {
	Version int      `json:"version"`
	Tokens  []Record `json:"tokens"`
}

// Tokens is the token file. It is safe for concurrent use.
type Tokens struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	stamp   fileStamp
	records map[string]Record
}

type fileStamp struct {
	mod  time.Time
	size int64
	ino  uint64
}

// Open returns the token file at path; it need not exist yet.
func Open(path string) *Tokens {
	return &Tokens{path: path, now: time.Now}
}

// NewSpec says what a new token may do.
type NewSpec struct {
	Name    string
	Actions []filegate.Action
	Prefix  string
	TTL     time.Duration // 0: no expiry
	MaxSize int64         // largest object the token may upload; 0: the server's limit
}

const op = "auth"

// Create makes a token, stores its hash and returns the token, which is
// never stored and cannot be shown again.
func (t *Tokens) Create(spec NewSpec) (string, Record, error) {
	if strings.TrimSpace(spec.Name) == "" {
		return "", Record{}, filegate.Errorf(filegate.Invalid, op+".Create", "a token needs a name")
	}
	if len(spec.Actions) == 0 {
		return "", Record{}, filegate.Errorf(filegate.Invalid, op+".Create", "a token needs at least one action")
	}
	if spec.MaxSize < 0 {
		return "", Record{}, filegate.Errorf(filegate.Invalid, op+".Create", "max size must not be negative")
	}
	if spec.TTL < 0 {
		return "", Record{}, filegate.Errorf(filegate.Invalid, op+".Create", "ttl must not be negative")
	}
	prefix, err := filegate.NormalizeScopePrefix(spec.Prefix)
	if err != nil {
		return "", Record{}, err
	}
	id := make([]byte, 8)
	secret := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return "", Record{}, err
	}
	if _, err := rand.Read(secret); err != nil {
		return "", Record{}, err
	}
	sec := base64.RawURLEncoding.EncodeToString(secret)
	actions := slices.Clone(spec.Actions)
	slices.Sort(actions)
	actions = slices.Compact(actions)
	rec := Record{
		ID:      hex.EncodeToString(id),
		Name:    spec.Name,
		Hash:    hashSecret(sec),
		Actions: actions,
		Prefix:  prefix,
		Created: t.now().UTC().Truncate(time.Second),
		MaxSize: spec.MaxSize,
	}
	if spec.TTL > 0 {
		rec.Expires = rec.Created.Add(spec.TTL)
	}
	err = t.update(func(recs map[string]Record) error {
		recs[rec.ID] = rec
		return nil
	})
	if err != nil {
		return "", Record{}, err
	}
	return "fg_" + rec.ID + "_" + sec, rec, nil
}

// Revoke deletes the token with the given id (or name, when unique).
func (t *Tokens) Revoke(idOrName string) (Record, error) {
	var gone Record
	err := t.update(func(recs map[string]Record) error {
		if r, ok := recs[idOrName]; ok {
			gone = r
			delete(recs, idOrName)
			return nil
		}
		var match []Record
		for _, r := range recs {
			if r.Name == idOrName {
				match = append(match, r)
			}
		}
		switch len(match) {
		case 0:
			return filegate.Errorf(filegate.NotFound, op+".Revoke", "no token with id or name %q", idOrName)
		case 1:
			gone = match[0]
			delete(recs, gone.ID)
			return nil
		default:
			return filegate.Errorf(filegate.Conflict, op+".Revoke", "%d tokens are named %q; revoke by id", len(match), idOrName)
		}
	})
	return gone, err
}

// List returns every stored token record, oldest first.
func (t *Tokens) List() ([]Record, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.reloadLocked(); err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(t.records))
	for _, r := range t.records {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// ErrBadToken is the cause of every authentication failure; the reason is
// deliberately not told to the client.
var ErrBadToken = errors.New("auth: token not valid")

// Authenticate returns the principal a bearer token stands for.
func (t *Tokens) Authenticate(token string) (*filegate.Principal, error) {
	fail := func(msg string) (*filegate.Principal, error) {
		return nil, filegate.NewError(filegate.Unauthenticated, op+".Authenticate", "invalid_token", msg).Wrap(ErrBadToken)
	}
	rest, ok := strings.CutPrefix(token, "fg_")
	if !ok {
		return fail("token not valid")
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 {
		return fail("token not valid")
	}
	t.mu.Lock()
	err := t.reloadLocked()
	rec, found := t.records[id]
	t.mu.Unlock()
	if err != nil {
		return nil, filegate.NewError(filegate.Internal, op+".Authenticate", "", "").Wrap(err)
	}
	// Compare against a dummy hash when the id is unknown, so that both
	// paths do the same work.
	want := rec.Hash
	if !found {
		want = strings.Repeat("0", 64)
	}
	got := hashSecret(secret)
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 || !found {
		return fail("token not valid")
	}
	if !rec.Expires.IsZero() && !t.now().Before(rec.Expires) {
		return fail("token expired")
	}
	return &filegate.Principal{ID: rec.ID, Name: rec.Name, Actions: rec.Actions, Prefix: rec.Prefix, Expires: rec.Expires, MaxSize: rec.MaxSize}, nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// reloadLocked re-reads the file when its size, inode or mtime changed.
func (t *Tokens) reloadLocked() error {
	fi, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		t.records = map[string]Record{}
		t.stamp = fileStamp{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	st := stampOf(fi)
	if t.records != nil && st == t.stamp {
		return nil
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("auth: token file %s is damaged: %w", t.path, err)
	}
	recs := make(map[string]Record, len(f.Tokens))
	for _, r := range f.Tokens {
		recs[r.ID] = r
	}
	t.records, t.stamp = recs, st
	return nil
}

// update applies fn to the records and writes the file atomically: a
// temporary file in the same directory, fsynced, then renamed over the old.
//
// Writers in other processes (`filegate token create` beside a running
// server, or several at once) are serialized by an exclusive lock on
// <path>.lock held from the read to the rename, so no update is lost.
func (t *Tokens) update(fn func(map[string]Record) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	unlock, err := lockFile(t.path + ".lock")
	if err != nil {
		return fmt.Errorf("auth: lock the token file: %w", err)
	}
	defer unlock()
	t.records = nil // another process may have written within the same stamp
	if err := t.reloadLocked(); err != nil {
		return err
	}
	recs := make(map[string]Record, len(t.records)+1)
	for k, v := range t.records {
		recs[k] = v
	}
	if err := fn(recs); err != nil {
		return err
	}
	f := fileFormat{Version: 1, Tokens: make([]Record, 0, len(recs))}
	for _, r := range recs {
		f.Tokens = append(f.Tokens, r)
	}
	sort.Slice(f.Tokens, func(i, j int) bool { return f.Tokens[i].ID < f.Tokens[j].ID })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(t.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	t.records = nil // force a re-read with the new stamp
	return t.reloadLocked()
}

// lockFile takes an exclusive advisory lock (flock) on path, creating it,
// and returns the function that releases it. The kernel releases it too if
// the process dies.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Exists reports whether the token file exists (even with no token in it).
func (t *Tokens) Exists() (bool, error) {
	_, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// WriteFileAtomic writes data to path so that readers see the old content or
// the new, never a partial file.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
