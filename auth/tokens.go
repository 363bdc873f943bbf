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
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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

// Tokens is a token store. It is safe for concurrent use.
type Tokens struct {
	doc Document
	ttl time.Duration // how long a read is trusted before the document is checked again
	now func() time.Time

	mu      sync.Mutex
	version string
	checked time.Time
	records map[string]Record // replaced, never changed in place
	// current is what Authenticate reads without taking mu: the last
	// records, their version and when they were checked.
	current atomic.Pointer[snapshot]
	seeds   [2]maphash.Seed
}

// cacheKey is the keyed hash a verified token is cached under.
func (t *Tokens) cacheKey(token string) [2]uint64 {
	return [2]uint64{maphash.String(t.seeds[0], token), maphash.String(t.seeds[1], token)}
}

type snapshot struct {
	records map[string]Record
	version string
	checked time.Time
	// verified caches the principals of tokens verified against these
	// records, keyed by a keyed 128-bit hash of the whole token (hash/maphash
	// with two random per-process seeds: without the seeds no collision can
	// be aimed at, and by chance one is a 2^-128 event). It dies with the
	// snapshot, so a revocation or any change of the records empties it.
	// Only successes are kept, at most maxVerified of them.
	verified  sync.Map // [2]uint64 → *filegate.Principal
	nVerified atomic.Int32
}

const maxVerified = 4096

// unchanged is a Document that can tell cheaply whether version is still
// current (the token file: an fstat of the file it last read).
type unchanged interface {
	Unchanged(version string) bool
}

// Document holds the token records, as JSON: a local file (FileDocument),
// an object in a bucket (store.Document), an SSM parameter (params.Document).
type Document interface {
	// Load returns the content and its version. When known is still the
	// current version, Load may answer (nil, known, nil) without the
	// content. A document that does not exist yet is (nil, "", nil).
	Load(ctx context.Context, known string) (content []byte, version string, err error)
	// Save replaces the content if the stored version is still version
	// ("": the document must not exist), and returns the new version. When
	// another writer came first it fails with an error of kind Conflict,
	// and the caller reads again and retries.
	Save(ctx context.Context, content []byte, version string) (string, error)
	// String names the document for messages (never a secret).
	String() string
}

// Open returns the token file at path; it need not exist yet. The file is
// checked for changes on every use (a stat).
func Open(path string) *Tokens {
	return &Tokens{doc: FileDocument(path), now: time.Now, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

// OpenDocument returns the tokens kept in doc, re-read at most every ttl
// (a revocation reaches every replica within ttl).
func OpenDocument(doc Document, ttl time.Duration) *Tokens {
	return &Tokens{doc: doc, ttl: ttl, now: time.Now, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

// Location names where the tokens are kept.
func (t *Tokens) Location() string { return t.doc.String() }

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
	t.checked = time.Time{} // a listing is always fresh
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
	snap := t.current.Load()
	if !t.fresh(snap) {
		t.mu.Lock()
		err := t.reloadLocked()
		snap = t.current.Load()
		t.mu.Unlock()
		if err != nil {
			return nil, filegate.NewError(filegate.Internal, op+".Authenticate", "", "").Wrap(err)
		}
	}
	key := t.cacheKey(token)
	if v, ok := snap.verified.Load(key); ok {
		p := v.(*filegate.Principal)
		if !p.Expires.IsZero() && !t.now().Before(p.Expires) {
			return fail("token expired")
		}
		return p, nil
	}
	rec, found := snap.records[id]
	// Compare against a dummy hash when the id is unknown, so that both
	// paths do the same work. Hex is decoded into arrays on the stack: no
	// allocation per request.
	var want, got [sha256.Size]byte
	if found {
		if n, err := hex.Decode(want[:], []byte(rec.Hash)); err != nil || n != len(want) {
			found = false
		}
	}
	got = sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !found {
		return fail("token not valid")
	}
	if !rec.Expires.IsZero() && !t.now().Before(rec.Expires) {
		return fail("token expired")
	}
	// The principal is shared by every request with this token: callers
	// copy it before changing it (api/session.go does).
	p := &filegate.Principal{ID: rec.ID, Name: rec.Name, Actions: rec.Actions, Prefix: rec.Prefix, Expires: rec.Expires, MaxSize: rec.MaxSize}
	if snap.nVerified.Add(1) <= maxVerified {
		snap.verified.Store(key, p)
	}
	return p, nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// fresh reports whether snap may be used as is: for a file, while the
// file it was read from is unchanged (checked on every call, so a
// revocation holds from the next request on); for remote documents, for
// ttl after it was read.
func (t *Tokens) fresh(snap *snapshot) bool {
	if snap == nil {
		return false
	}
	if t.ttl > 0 {
		return t.now().Sub(snap.checked) < t.ttl
	}
	u, ok := t.doc.(unchanged)
	return ok && u.Unchanged(snap.version)
}

// publish sets the records and makes them what Authenticate reads; mu is held.
func (t *Tokens) publish(recs map[string]Record, version string, checked time.Time) {
	t.records, t.version, t.checked = recs, version, checked
	t.current.Store(&snapshot{records: recs, version: version, checked: checked})
}

// reloadLocked re-reads the document when it may have changed: on every
// call for a file (a stat tells), after ttl for remote documents.
func (t *Tokens) reloadLocked() error {
	if t.records != nil && t.ttl > 0 && t.now().Sub(t.checked) < t.ttl {
		return nil
	}
	known := t.version
	if t.records == nil {
		known = ""
	}
	content, v, err := t.doc.Load(context.Background(), known)
	if err != nil {
		return fmt.Errorf("auth: read %s: %w", t.doc, err)
	}
	if content == nil && (v == known && t.records != nil) {
		t.publish(t.records, t.version, t.now())
		return nil
	}
	recs, err := parseDocument(content)
	if err != nil {
		return fmt.Errorf("auth: %s is damaged: %w", t.doc, err)
	}
	t.publish(recs, v, t.now())
	return nil
}

func parseDocument(content []byte) (map[string]Record, error) {
	recs := map[string]Record{}
	if len(content) == 0 {
		return recs, nil
	}
	var f fileFormat
	if err := json.Unmarshal(content, &f); err != nil {
		return nil, err
	}
	for _, r := range f.Tokens {
		recs[r.ID] = r
	}
	return recs, nil
}

// exclusive is a Document whose writers can queue: Exclusive holds a lock
// that every writer takes until unlock, and save is Save without taking it
// again. The token file does this with flock, so many processes writing at
// once wait their turn instead of retrying until one of them gives up.
type exclusive interface {
	Exclusive(ctx context.Context) (save func(context.Context, []byte, string) (string, error), unlock func(), err error)
}

// update applies fn to the current records and saves them with a
// conditional write: when another writer (another process, another
// replica) saved in between, it reads again and re-applies fn, so no
// update is lost. A document that can be locked is locked for the whole
// read-modify-write.
func (t *Tokens) update(fn func(map[string]Record) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	ctx := context.Background()
	save := t.doc.Save
	if ex, ok := t.doc.(exclusive); ok {
		s, unlock, err := ex.Exclusive(ctx)
		if err != nil {
			return fmt.Errorf("auth: lock %s: %w", t.doc, err)
		}
		defer unlock()
		save = s
	}
	for attempt := 0; attempt < 20; attempt++ {
		content, v, err := t.doc.Load(ctx, "")
		if err != nil {
			return fmt.Errorf("auth: read %s: %w", t.doc, err)
		}
		recs, err := parseDocument(content)
		if err != nil {
			return fmt.Errorf("auth: %s is damaged: %w", t.doc, err)
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
		nv, err := save(ctx, append(b, '\n'), v)
		if filegate.KindOf(err) == filegate.Conflict {
			time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
			continue
		}
		if err != nil {
			return fmt.Errorf("auth: write %s: %w", t.doc, err)
		}
		t.publish(recs, nv, t.now())
		return nil
	}
	return filegate.Errorf(filegate.Conflict, op+".update", "%s keeps changing under concurrent writers; try again", t.doc)
}

// fileDocument is the local token file (mode 0600). Writers in other
// processes (`filegate token create` beside a running server, or several
// at once) are serialized by an exclusive lock on <path>.lock held from
// the version check to the rename. It keeps the file it last read open, so
// that Unchanged is an fstat of it: a writer replaces the file by rename,
// which leaves the open one with no links.
type fileDocument struct {
	path string
	last atomic.Pointer[openFile]
}

type openFile struct {
	f       *os.File
	version string
	stamp   fileStamp
}

// FileDocument is the token file at path.
func FileDocument(path string) Document { return &fileDocument{path: path} }

func (f *fileDocument) String() string { return f.path }

func (f *fileDocument) stamp() (string, error) {
	fi, err := os.Stat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return stampOf(fi).String(), nil
}

// Unchanged reports whether the file last read is still the token file
// and still has version.
func (f *fileDocument) Unchanged(version string) bool {
	last := f.last.Load()
	if last == nil || last.version != version || version == "" {
		return false
	}
	fi, err := last.f.Stat()
	if err != nil {
		return false
	}
	st := stampOf(fi)
	return st.nlink > 0 && st.same(last.stamp)
}

func (f *fileDocument) Load(_ context.Context, known string) ([]byte, string, error) {
	if known != "" && f.Unchanged(known) {
		return nil, known, nil
	}
	file, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	// The version describes what is read: the open file's own stamp (a
	// writer replaces the file by rename and never changes it in place).
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, "", err
	}
	st := stampOf(fi)
	v := st.String()
	if v == known {
		f.keep(file, v, st)
		return nil, v, nil
	}
	b, err := io.ReadAll(file)
	if err != nil {
		file.Close()
		return nil, "", err
	}
	f.keep(file, v, st)
	return b, v, nil
}

// keep makes file the one Unchanged checks, closing the one before.
func (f *fileDocument) keep(file *os.File, version string, st fileStamp) {
	if old := f.last.Swap(&openFile{f: file, version: version, stamp: st}); old != nil {
		old.f.Close()
	}
}

func (f *fileDocument) Save(ctx context.Context, content []byte, version string) (string, error) {
	unlock, err := lockFile(f.path + ".lock")
	if err != nil {
		return "", fmt.Errorf("lock the token file: %w", err)
	}
	defer unlock()
	return f.saveLocked(ctx, content, version)
}

// Exclusive takes the file's lock for a whole read-modify-write.
func (f *fileDocument) Exclusive(context.Context) (func(context.Context, []byte, string) (string, error), func(), error) {
	unlock, err := lockFile(f.path + ".lock")
	if err != nil {
		return nil, nil, err
	}
	return f.saveLocked, unlock, nil
}

// saveLocked is Save with the lock already held.
func (f *fileDocument) saveLocked(_ context.Context, content []byte, version string) (string, error) {
	cur, err := f.stamp()
	if err != nil {
		return "", err
	}
	if cur != version {
		return "", filegate.NewError(filegate.Conflict, op+".save", "", "the token file changed")
	}
	if err := WriteFileAtomic(f.path, content, 0o600); err != nil {
		return "", err
	}
	return f.stamp()
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

// Exists reports whether the token document exists (even with no token in it).
func (t *Tokens) Exists() (bool, error) {
	_, v, err := t.doc.Load(context.Background(), "")
	return v != "", err
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

// SecretMatcher checks a presented shared secret (params.Secret).
type SecretMatcher interface {
	Matches(ctx context.Context, presented string) (bool, error)
}

// SharedSecret is seed 001's authorizer mode: one shared secret, kept in
// SSM, that stands for list and download on the whole bucket. Tokens of
// filegate's own form ("fg_…") go to the token store as usual.
type SharedSecret struct {
	Secret SecretMatcher
	Next   interface {
		Authenticate(token string) (*filegate.Principal, error)
	}
}

// Authenticate checks the token against the shared secret, then the store.
func (s SharedSecret) Authenticate(token string) (*filegate.Principal, error) {
	if !strings.HasPrefix(token, "fg_") && token != "" {
		ok, err := s.Secret.Matches(context.Background(), token)
		if err != nil {
			return nil, filegate.NewError(filegate.Unavailable, op+".SharedSecret", "", "the shared secret cannot be read").Wrap(err)
		}
		if ok {
			return &filegate.Principal{ID: "shared-secret", Name: "shared-secret", Actions: []filegate.Action{filegate.ActDownload, filegate.ActList}}, nil
		}
	}
	return s.Next.Authenticate(token)
}
