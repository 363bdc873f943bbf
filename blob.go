package filegate

import (
	"context"
	"io"
	"net/http"
	"time"
)

// Bucket is one bucket of an S3-compatible store, as filegate's services
// use it: the calls they make and nothing more, in filegate's own types.
// Adapters: package store (S3 over aws-sdk-go-v2, which owns every SDK type
// and error translation) and package memstore (in memory, for unit tests of
// service logic; it signs nothing a store would enforce). Package storetest
// is the conformance suite every adapter runs.
//
// Errors are *Error values: NotFound for a missing object or upload,
// Unavailable when the store cannot be reached, Invalid or Conflict for a
// request the store refuses.
type Bucket interface {
	// Name is the bucket's name.
	Name() string

	Head(ctx context.Context, key string) (ObjectInfo, error)
	// Get opens an object; the caller closes the body.
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Put stores a small object from memory.
	Put(ctx context.Context, key, contentType string, body []byte) error
	List(ctx context.Context, in ListInput) (ListPage, error)

	CreateUpload(ctx context.Context, key, contentType string, meta map[string]string) (uploadID string, err error)
	UploadPart(ctx context.Context, key, uploadID string, number int32, body []byte) (etag string, err error)
	// ListParts returns every stored part in order; NotFound when the
	// upload does not exist (completed, aborted or never made).
	ListParts(ctx context.Context, key, uploadID string) ([]Part, error)
	// CompleteUpload assembles the parts. When every part gives its Size,
	// the answer may hold only the key, the size and the ETag (no
	// LastModified or ContentType): the store is not asked again.
	CompleteUpload(ctx context.Context, key, uploadID string, parts []Part) (ObjectInfo, error)
	AbortUpload(ctx context.Context, key, uploadID string) error
	ListUploads(ctx context.Context, prefix string) ([]Upload, error)

	PresignGet(ctx context.Context, key string, opts GetOptions) (Grant, error)
	PresignPut(ctx context.Context, key string, opts PutOptions) (Grant, error)
	// PresignPart signs the upload of one part of exactly size bytes; a
	// negative size leaves the length unsigned (any size the store takes).
	PresignPart(ctx context.Context, key, uploadID string, number int32, size int64, expires time.Duration) (Grant, error)
	PresignPost(ctx context.Context, opts PostOptions) (Post, error)
	// CredentialsExpiry is when the signing credentials expire (zero: never).
	// No grant may outlive them.
	CredentialsExpiry(ctx context.Context) (time.Time, error)
}

// SmallGetter is a Bucket that reads a small object whole more cheaply
// than through Get's stream (package store, over plain http): a bundle of
// thousands of small objects makes a GET for each.
type SmallGetter interface {
	// GetSmall returns the object's bytes and its key, size, ETag,
	// content type and modification time. An object larger than the
	// implementation's bound (store.MaxSmall) fails with TooLarge.
	GetSmall(ctx context.Context, key string) ([]byte, ObjectInfo, error)
}

// StreamPutter is a Bucket that can store an object of known size from a
// stream, in one request: package store where the payload may go unsigned
// (an https or loopback endpoint; elsewhere sigv4 needs the body's digest
// before sending it), and package memstore.
type StreamPutter interface {
	// PutStream stores exactly size bytes read from body as key and returns
	// the key, size and ETag. The body is read once and the request is not
	// retried. If body ends before size bytes, or the request fails, no
	// object is stored (and an existing one is left as it was).
	PutStream(ctx context.Context, key, contentType string, size int64, body io.Reader) (ObjectInfo, error)
}

// Grant is a presigned request: what the client sends, and until when.
type Grant struct {
	URL     string
	Method  string
	Header  http.Header // headers the client must send as signed
	Expires time.Time
}

// GetOptions shapes a download grant.
type GetOptions struct {
	Expires            time.Duration
	ContentDisposition string // response-content-disposition override
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string
	ContentType  string
	LastModified time.Time
}

// ListInput selects a page of a listing.
type ListInput struct {
	Prefix    string
	Delimiter string
	Token     string // continuation token from the previous page
	Limit     int32
}

// ListPage is one page of a listing.
type ListPage struct {
	Objects []ObjectInfo
	Folders []string
	Next    string // "" on the last page
}

// PutOptions shapes an upload grant. ContentType and ContentLength are
// signed, always (0 included): the store refuses a body of another length
// or type.
type PutOptions struct {
	Expires       time.Duration
	ContentType   string
	ContentLength int64
	Metadata      map[string]string
}

// Part is a stored part of a multipart upload.
type Part struct {
	Number int32
	ETag   string
	Size   int64
}

// PostOptions are the conditions of a browser POST policy. The store
// enforces every one of them.
type PostOptions struct {
	Expires           time.Duration
	Key               string // exact key, or
	KeyPrefix         string // any key starting with it
	ContentType       string // exact Content-Type, or
	ContentTypePrefix string // a Content-Type starting with it ("image/")
	MinSize, MaxSize  int64
	SSE               string            // "AES256" requires x-amz-server-side-encryption
	Metadata          map[string]string // required x-amz-meta-* fields
	ACL               string            // required acl field, when set
}

// Post is a signed browser form: POST to URL with Fields, then the file.
type Post struct {
	URL     string
	Fields  map[string]string
	Expires time.Time
}

// Upload is a multipart upload in progress.
type Upload struct {
	Key       string
	ID        string
	Initiated time.Time
}

// AssumeRequest asks a store's STS for temporary credentials limited by an
// inline session policy.
type AssumeRequest struct {
	RoleARN     string // the role to assume (Amazon); MinIO ignores it
	SessionName string
	Policy      string // IAM policy JSON; the credentials can do no more than it allows
	Duration    time.Duration
}

// TempCredentials are temporary store credentials.
type TempCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expires         time.Time
}
