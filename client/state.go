package client

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// fileID tells one version of a local file from another: a resumed upload
// must send the same bytes as the run it continues.
type fileID struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	Inode   uint64 `json:"inode,omitempty"`
}

func identify(f *os.File, path string) (fileID, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileID{}, err
	}
	if !fi.Mode().IsRegular() {
		return fileID{}, errors.New(path + ": not a regular file")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fileID{}, err
	}
	id := fileID{Path: abs, Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.Inode = uint64(st.Ino)
	}
	return id, nil
}

// same checks that f is still the version id describes.
func (id fileID) same(f *os.File) error {
	now, err := identify(f, id.Path)
	if err != nil {
		return err
	}
	if now != id {
		return ErrChanged
	}
	return nil
}

// uploadRecord is a multipart upload in progress, kept so that a later run
// can continue it.
type uploadRecord struct {
	Server    string    `json:"server"`
	File      fileID    `json:"file"`
	Session   string    `json:"session"`
	Key       string    `json:"key"`
	Size      int64     `json:"size"`
	PartSize  int64     `json:"part_size"`
	PartCount int32     `json:"part_count"`
	Started   time.Time `json:"started"`
}

// stateFile is one kept record, named by a hash of what it is for.
type stateFile struct {
	path   string
	server string
}

func (t *Transfer) uploadState(c *Client, key string) *stateFile {
	if t.State == "" {
		return nil
	}
	return &stateFile{path: stateName(t.State, "uploads", c.base, key), server: c.base}
}

func stateName(dir, kind string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return filepath.Join(dir, kind, hex.EncodeToString(h.Sum(nil))[:32]+".json")
}

func (s *stateFile) load() (*uploadRecord, error) {
	var rec uploadRecord
	if err := readJSON(s.path, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

func (s *stateFile) save(rec *uploadRecord) error {
	rec.Server = s.server
	return writeJSON(s.path, rec)
}

func (s *stateFile) remove() { _ = os.Remove(s.path) }

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// writeJSON writes v to path atomically (a crash leaves the old or the new
// record, never half of one), readable by the user alone: records hold
// session ids that can continue an upload.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Session is a kept multipart upload of this machine's user.
type Session struct {
	Server    string    `json:"server"`
	ID        string    `json:"id"`
	Key       string    `json:"key"`
	File      string    `json:"file"`
	Size      int64     `json:"size"`
	PartCount int32     `json:"part_count"`
	Started   time.Time `json:"started"`
	state     string
}

// Sessions lists the multipart uploads kept in t.State for server base.
func (t *Transfer) Sessions(base string) ([]Session, error) {
	if t.State == "" {
		return nil, nil
	}
	dir := filepath.Join(t.State, "uploads")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Session
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		var rec uploadRecord
		p := filepath.Join(dir, e.Name())
		if readJSON(p, &rec) != nil || rec.Server != base {
			continue
		}
		out = append(out, Session{Server: rec.Server, ID: rec.Session, Key: rec.Key, File: rec.File.Path, Size: rec.Size, PartCount: rec.PartCount, Started: rec.Started, state: p})
	}
	return out, nil
}

// Forget drops a kept session's record (after it has been aborted).
func (s Session) Forget() { _ = os.Remove(s.state) }
