// Package memstore is a filegate.Bucket in memory, for fast unit tests of
// service logic. Its grants are URLs that nothing enforces: a test that
// proves a grant is confined (a signature refused, a size enforced) runs
// against a real store, never this one. It passes the storetest
// conformance suite like the S3 adapter does.
package memstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/filegate/filegate"
)

// minPart is S3's smallest part but the last.
const minPart = 5 << 20

type object struct {
	data        []byte
	contentType string
	etag        string
	modified    time.Time
}

type upload struct {
	key         string
	contentType string
	parts       map[int32]object
	initiated   time.Time
}

// Bucket is an in-memory bucket. It is safe for concurrent use.
type Bucket struct {
	name string
	// Expiry is what CredentialsExpiry answers (zero: credentials that do
	// not expire).
	Expiry time.Time
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu      sync.Mutex
	objects map[string]object
	uploads map[string]*upload
}

// New returns an empty bucket.
func New(name string) *Bucket {
	return &Bucket{name: name, Now: time.Now, objects: map[string]object{}, uploads: map[string]*upload{}}
}

var _ filegate.Bucket = (*Bucket)(nil)

func notFound(op, key, what string) error {
	return filegate.NewError(filegate.NotFound, op, "", "not found").WithKey(key).Wrap(fmt.Errorf("no such %s", what))
}

func etagOf(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func (b *Bucket) info(key string, o object) filegate.ObjectInfo {
	return filegate.ObjectInfo{Key: key, Size: int64(len(o.data)), ETag: o.etag, ContentType: o.contentType, LastModified: o.modified}
}

// Name returns the bucket's name.
func (b *Bucket) Name() string { return b.name }

// Head returns an object's metadata.
func (b *Bucket) Head(_ context.Context, key string) (filegate.ObjectInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objects[key]
	if !ok {
		return filegate.ObjectInfo{}, notFound("memstore.Head", key, "key")
	}
	return b.info(key, o), nil
}

// Get opens an object.
func (b *Bucket) Get(_ context.Context, key string) (io.ReadCloser, filegate.ObjectInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objects[key]
	if !ok {
		return nil, filegate.ObjectInfo{}, notFound("memstore.Get", key, "key")
	}
	return io.NopCloser(bytes.NewReader(o.data)), b.info(key, o), nil
}

// Put stores an object.
func (b *Bucket) Put(_ context.Context, key, contentType string, body []byte) error {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.objects[key] = object{data: bytes.Clone(body), contentType: contentType, etag: etagOf(body), modified: b.Now().UTC().Truncate(time.Second)}
	return nil
}

var _ filegate.StreamPutter = (*Bucket)(nil)

// PutStream stores exactly size bytes read from body; nothing if body
// ends sooner, holds more, or fails.
func (b *Bucket) PutStream(ctx context.Context, key, contentType string, size int64, body io.Reader) (filegate.ObjectInfo, error) {
	const op = "memstore.PutStream"
	data, err := io.ReadAll(io.LimitReader(body, size+1))
	if err == nil && int64(len(data)) != size {
		err = fmt.Errorf("the body is %d bytes, not %d", len(data), size)
	}
	if err != nil {
		return filegate.ObjectInfo{}, filegate.NewError(filegate.Unavailable, op, "", "the body could not be read").WithKey(key).Wrap(err)
	}
	if err := b.Put(ctx, key, contentType, data); err != nil {
		return filegate.ObjectInfo{}, err
	}
	return filegate.ObjectInfo{Key: key, Size: size, ETag: etagOf(data), ContentType: contentType}, nil
}

// List returns a page of the keys under in.Prefix, in byte order; the
// continuation token is the last key or folder of the page.
func (b *Bucket) List(_ context.Context, in filegate.ListInput) (filegate.ListPage, error) {
	limit := int(in.Limit)
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	b.mu.Lock()
	keys := make([]string, 0, len(b.objects))
	for k := range b.objects {
		if strings.HasPrefix(k, in.Prefix) {
			keys = append(keys, k)
		}
	}
	objs := make(map[string]object, len(keys))
	for _, k := range keys {
		objs[k] = b.objects[k]
	}
	b.mu.Unlock()
	slices.Sort(keys)
	var page filegate.ListPage
	page.Objects = []filegate.ObjectInfo{}
	seen := map[string]bool{}
	n := 0
	for _, k := range keys {
		entry := k
		folder := false
		if in.Delimiter != "" {
			if i := strings.Index(k[len(in.Prefix):], in.Delimiter); i >= 0 {
				entry, folder = k[:len(in.Prefix)+i+len(in.Delimiter)], true
			}
		}
		if in.Token != "" && entry <= in.Token {
			continue
		}
		if folder && seen[entry] {
			continue
		}
		if n == limit {
			page.Next = lastEntry(page)
			break
		}
		n++
		if folder {
			seen[entry] = true
			page.Folders = append(page.Folders, entry)
		} else {
			page.Objects = append(page.Objects, b.info(k, objs[k]))
		}
	}
	return page, nil
}

func lastEntry(p filegate.ListPage) string {
	last := ""
	if len(p.Objects) > 0 {
		last = p.Objects[len(p.Objects)-1].Key
	}
	if len(p.Folders) > 0 && p.Folders[len(p.Folders)-1] > last {
		last = p.Folders[len(p.Folders)-1]
	}
	return last
}

// CreateUpload starts a multipart upload.
func (b *Bucket) CreateUpload(_ context.Context, key, contentType string, _ map[string]string) (string, error) {
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	b.mu.Lock()
	defer b.mu.Unlock()
	uid := hex.EncodeToString(id)
	b.uploads[uid] = &upload{key: key, contentType: contentType, parts: map[int32]object{}, initiated: b.Now().UTC().Truncate(time.Second)}
	return uid, nil
}

func (b *Bucket) uploadLocked(op, key, id string) (*upload, error) {
	u, ok := b.uploads[id]
	if !ok || u.key != key {
		return nil, notFound(op, key, "upload")
	}
	return u, nil
}

// UploadPart stores a part.
func (b *Bucket) UploadPart(_ context.Context, key, uploadID string, number int32, body []byte) (string, error) {
	if number < 1 || number > 10000 {
		return "", filegate.NewError(filegate.Invalid, "memstore.UploadPart", "", "part numbers run from 1 to 10000").WithKey(key)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.uploadLocked("memstore.UploadPart", key, uploadID)
	if err != nil {
		return "", err
	}
	o := object{data: bytes.Clone(body), etag: etagOf(body)}
	u.parts[number] = o
	return o.etag, nil
}

// ListParts returns the stored parts in order.
func (b *Bucket) ListParts(_ context.Context, key, uploadID string) ([]filegate.Part, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.uploadLocked("memstore.ListParts", key, uploadID)
	if err != nil {
		return nil, err
	}
	out := make([]filegate.Part, 0, len(u.parts))
	for n, p := range u.parts {
		out = append(out, filegate.Part{Number: n, ETag: p.etag, Size: int64(len(p.data))})
	}
	slices.SortFunc(out, func(a, c filegate.Part) int { return int(a.Number - c.Number) })
	return out, nil
}

// CompleteUpload assembles the listed parts as S3 does: in ascending
// order, with matching ETags, every part but the last at least 5 MiB.
func (b *Bucket) CompleteUpload(_ context.Context, key, uploadID string, parts []filegate.Part) (filegate.ObjectInfo, error) {
	const op = "memstore.CompleteUpload"
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.uploadLocked(op, key, uploadID)
	if err != nil {
		return filegate.ObjectInfo{}, err
	}
	if len(parts) == 0 {
		return filegate.ObjectInfo{}, filegate.NewError(filegate.Invalid, op, "", "no parts").WithKey(key)
	}
	var data bytes.Buffer
	sums := md5.New()
	for i, p := range parts {
		stored, ok := u.parts[p.Number]
		if !ok || strings.Trim(p.ETag, `"`) != stored.etag {
			return filegate.ObjectInfo{}, filegate.NewError(filegate.Invalid, op, "", fmt.Sprintf("part %d is missing or its etag does not match", p.Number)).WithKey(key).Wrap(fmt.Errorf("InvalidPart"))
		}
		if i > 0 && p.Number <= parts[i-1].Number {
			return filegate.ObjectInfo{}, filegate.NewError(filegate.Invalid, op, "", "parts out of order").WithKey(key).Wrap(fmt.Errorf("InvalidPartOrder"))
		}
		if i < len(parts)-1 && len(stored.data) < minPart {
			return filegate.ObjectInfo{}, filegate.NewError(filegate.Invalid, op, "", fmt.Sprintf("part %d is smaller than 5 MiB", p.Number)).WithKey(key).Wrap(fmt.Errorf("EntityTooSmall"))
		}
		data.Write(stored.data)
		raw, _ := hex.DecodeString(stored.etag)
		sums.Write(raw)
	}
	o := object{data: data.Bytes(), contentType: u.contentType, etag: hex.EncodeToString(sums.Sum(nil)) + "-" + strconv.Itoa(len(parts)), modified: b.Now().UTC().Truncate(time.Second)}
	b.objects[key] = o
	delete(b.uploads, uploadID)
	return b.info(key, o), nil
}

// AbortUpload discards an upload.
func (b *Bucket) AbortUpload(_ context.Context, key, uploadID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.uploadLocked("memstore.AbortUpload", key, uploadID); err != nil {
		return err
	}
	delete(b.uploads, uploadID)
	return nil
}

// ListUploads lists the uploads in progress under prefix, by key.
func (b *Bucket) ListUploads(_ context.Context, prefix string) ([]filegate.Upload, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []filegate.Upload
	for id, u := range b.uploads {
		if strings.HasPrefix(u.key, prefix) {
			out = append(out, filegate.Upload{Key: u.key, ID: id, Initiated: u.initiated})
		}
	}
	slices.SortFunc(out, func(a, c filegate.Upload) int { return strings.Compare(a.Key+a.ID, c.Key+c.ID) })
	return out, nil
}

func (b *Bucket) grant(method, key string, exp time.Duration, q url.Values) filegate.Grant {
	now := b.Now().UTC().Truncate(time.Second)
	q.Set("expires", now.Add(exp).Format(time.RFC3339))
	u := url.URL{Scheme: "memory", Host: b.name, Path: "/" + key, RawQuery: q.Encode()}
	return filegate.Grant{URL: u.String(), Method: method, Expires: now.Add(exp)}
}

// PresignGet returns an unenforced GET grant.
func (b *Bucket) PresignGet(_ context.Context, key string, o filegate.GetOptions) (filegate.Grant, error) {
	q := url.Values{}
	if o.ContentDisposition != "" {
		q.Set("response-content-disposition", o.ContentDisposition)
	}
	return b.grant("GET", key, o.Expires, q), nil
}

// PresignPut returns an unenforced PUT grant.
func (b *Bucket) PresignPut(_ context.Context, key string, o filegate.PutOptions) (filegate.Grant, error) {
	g := b.grant("PUT", key, o.Expires, url.Values{"content-length": {strconv.FormatInt(o.ContentLength, 10)}})
	g.Header = map[string][]string{"Content-Type": {o.ContentType}}
	return g, nil
}

// PresignPart returns an unenforced part grant.
func (b *Bucket) PresignPart(_ context.Context, key, uploadID string, number int32, size int64, exp time.Duration) (filegate.Grant, error) {
	v := url.Values{"uploadId": {uploadID}, "partNumber": {strconv.Itoa(int(number))}}
	if size >= 0 {
		v.Set("content-length", strconv.FormatInt(size, 10))
	}
	return b.grant("PUT", key, exp, v), nil
}

// PresignPost returns an unenforced form.
func (b *Bucket) PresignPost(_ context.Context, o filegate.PostOptions) (filegate.Post, error) {
	key := o.Key
	if key == "" {
		key = o.KeyPrefix
	}
	g := b.grant("POST", "", o.Expires, url.Values{})
	return filegate.Post{URL: g.URL, Fields: map[string]string{"key": key}, Expires: g.Expires}, nil
}

// CredentialsExpiry returns b.Expiry.
func (b *Bucket) CredentialsExpiry(context.Context) (time.Time, error) { return b.Expiry, nil }
