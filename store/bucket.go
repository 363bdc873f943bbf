package store

import (
	"context"
	"io"
	"time"

	"github.com/filegate/filegate"
)

// Open returns the named bucket as a filegate.Bucket. It does not contact
// the store.
// Where a payload may go unsigned (see bodyOptions) the bucket is also a
// filegate.StreamPutter.
func (s *Store) Open(name string) filegate.Bucket {
	if s.streams {
		return streamBucket{bucket{s: s, name: name}}
	}
	return bucket{s: s, name: name}
}

// Source is the bucket holding users' files; Output the bucket receiving
// generated files (bundles). They may be one bucket.
func (s *Store) Source() filegate.Bucket { return s.Open(s.Bucket) }
func (s *Store) Output() filegate.Bucket { return s.Open(s.Bundles) }

// bucket binds a Store to one bucket name.
type bucket struct {
	s    *Store
	name string
}

var _ filegate.Bucket = bucket{}

// streamBucket is a bucket that can also PutStream.
type streamBucket struct{ bucket }

var _ filegate.StreamPutter = streamBucket{}

func (b streamBucket) PutStream(ctx context.Context, key, contentType string, size int64, body io.Reader) (filegate.ObjectInfo, error) {
	return b.s.PutStream(ctx, b.name, key, contentType, size, body)
}

func (b bucket) Name() string { return b.name }
func (b bucket) Head(ctx context.Context, key string) (filegate.ObjectInfo, error) {
	return b.s.Head(ctx, b.name, key)
}
func (b bucket) Get(ctx context.Context, key string) (io.ReadCloser, filegate.ObjectInfo, error) {
	return b.s.Get(ctx, b.name, key)
}
func (b bucket) GetSmall(ctx context.Context, key string) ([]byte, filegate.ObjectInfo, error) {
	return b.s.GetSmall(ctx, b.name, key)
}
func (b bucket) Put(ctx context.Context, key, contentType string, body []byte) error {
	return b.s.Put(ctx, b.name, key, contentType, body)
}
func (b bucket) List(ctx context.Context, in filegate.ListInput) (filegate.ListPage, error) {
	return b.s.List(ctx, b.name, in)
}
func (b bucket) CreateUpload(ctx context.Context, key, contentType string, meta map[string]string) (string, error) {
	return b.s.CreateUpload(ctx, b.name, key, contentType, meta)
}
func (b bucket) UploadPart(ctx context.Context, key, uploadID string, number int32, body []byte) (string, error) {
	return b.s.UploadPart(ctx, b.name, key, uploadID, number, body)
}
func (b bucket) ListParts(ctx context.Context, key, uploadID string) ([]filegate.Part, error) {
	return b.s.ListParts(ctx, b.name, key, uploadID)
}
func (b bucket) CompleteUpload(ctx context.Context, key, uploadID string, parts []filegate.Part) (filegate.ObjectInfo, error) {
	return b.s.CompleteUpload(ctx, b.name, key, uploadID, parts)
}
func (b bucket) AbortUpload(ctx context.Context, key, uploadID string) error {
	return b.s.AbortUpload(ctx, b.name, key, uploadID)
}
func (b bucket) ListUploads(ctx context.Context, prefix string) ([]filegate.Upload, error) {
	return b.s.ListUploads(ctx, b.name, prefix)
}
func (b bucket) PresignGet(ctx context.Context, key string, opts filegate.GetOptions) (filegate.Grant, error) {
	return b.s.PresignGet(ctx, b.name, key, opts)
}
func (b bucket) PresignPut(ctx context.Context, key string, opts filegate.PutOptions) (filegate.Grant, error) {
	return b.s.PresignPut(ctx, b.name, key, opts)
}
func (b bucket) PresignPart(ctx context.Context, key, uploadID string, number int32, size int64, expires time.Duration) (filegate.Grant, error) {
	return b.s.PresignPart(ctx, b.name, key, uploadID, number, size, expires)
}
func (b bucket) PresignPost(ctx context.Context, opts filegate.PostOptions) (filegate.Post, error) {
	return b.s.PresignPost(ctx, b.name, opts)
}
func (b bucket) CredentialsExpiry(ctx context.Context) (time.Time, error) {
	return b.s.CredentialsExpiry(ctx)
}
