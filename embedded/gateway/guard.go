package gateway

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/versity/versitygw/backend"
	"github.com/versity/versitygw/s3api/middlewares"
	"github.com/versity/versitygw/s3err"
	"github.com/versity/versitygw/s3response"
)

// tmpDir is where versitygw's posix backend keeps multipart parts and
// temporary files, inside each bucket's directory.
const tmpDir = ".sgwtmp"

// CheckKey says why the embedded store refuses an object key or listing
// prefix, or returns "" when the key is taken literally.
//
// versitygw's posix backend maps a key onto a path with filepath.Join, so it
// resolves "." and ".." segments on disk: a POST form whose policy only says
// `starts-with $key users/alice/` would let a browser write
// "users/alice/../bob/x" (measured at v1.8.0). A POST policy cannot forbid
// dot segments, so the store itself refuses every key that a file system
// would not take literally: "." or ".." segments, empty segments ("a//b"),
// a leading "/", backslashes, NUL and other control bytes, invalid UTF-8,
// and the backend's own temporary directory. Percent-encodings need no rule
// here: the store sees keys already decoded from request paths, and a POST
// form's key field is never decoded, so "%2e%2e" is a literal file name.
func CheckKey(key string) string {
	switch {
	case key == "":
		return ""
	case !utf8.ValidString(key):
		return "key is not valid UTF-8"
	case key[0] == '/':
		return "key starts with /"
	case strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }):
		return "key contains a control character or a backslash"
	}
	segs := strings.Split(key, "/")
	if segs[0] == tmpDir {
		return "key names the store's temporary directory"
	}
	for i, s := range segs {
		switch {
		case s == "." || s == "..":
			return "key contains a . or .. segment"
		case s == "" && i != len(segs)-1:
			return "key contains an empty segment"
		}
	}
	return ""
}

func refuse(why string) error {
	return s3err.APIError{Code: "InvalidArgument", Description: "filegate's embedded store takes keys literally: " + why, HTTPStatusCode: http.StatusBadRequest}
}

func checkKey(key *string) error {
	if key == nil {
		return nil
	}
	if why := CheckKey(*key); why != "" {
		return refuse(why)
	}
	return nil
}

// checkCopySource checks the key inside a CopySource ("bucket/key" or
// "/bucket/key", percent-encoded, with an optional "?versionId=").
func checkCopySource(src *string) error {
	if src == nil {
		return nil
	}
	s, _, _ := strings.Cut(strings.TrimPrefix(*src, "/"), "?")
	_, key, _ := strings.Cut(s, "/")
	if k, err := url.PathUnescape(key); err == nil {
		key = k
	}
	return checkKey(&key)
}

// guard wraps a versitygw backend and refuses, before the backend sees it,
// every request whose object key or listing prefix CheckKey refuses. Every
// backend method that takes a key or a prefix is listed here; the rest pass
// through the embedded interface.
type guard struct {
	backend.Backend
	list lister
}

func (g guard) PutObject(ctx context.Context, in s3response.PutObjectInput) (s3response.PutObjectOutput, error) {
	if err := checkKey(in.Key); err != nil {
		return s3response.PutObjectOutput{}, err
	}
	in.Body = whole(in.Body, in.ContentLength)
	return g.Backend.PutObject(ctx, in)
}

func (g guard) CreateMultipartUpload(ctx context.Context, in s3response.CreateMultipartUploadInput) (s3response.InitiateMultipartUploadResult, error) {
	if err := checkKey(in.Key); err != nil {
		return s3response.InitiateMultipartUploadResult{}, err
	}
	return g.Backend.CreateMultipartUpload(ctx, in)
}

func (g guard) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput) (s3response.CompleteMultipartUploadResult, string, error) {
	if err := checkKey(in.Key); err != nil {
		return s3response.CompleteMultipartUploadResult{}, "", err
	}
	return g.Backend.CompleteMultipartUpload(ctx, in)
}

func (g guard) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput) error {
	if err := checkKey(in.Key); err != nil {
		return err
	}
	return g.Backend.AbortMultipartUpload(ctx, in)
}

func (g guard) ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput) (s3response.ListMultipartUploadsResult, error) {
	if err := checkKey(in.Prefix); err != nil {
		return s3response.ListMultipartUploadsResult{}, err
	}
	return g.Backend.ListMultipartUploads(ctx, in)
}

func (g guard) ListParts(ctx context.Context, in *s3.ListPartsInput) (s3response.ListPartsResult, error) {
	if err := checkKey(in.Key); err != nil {
		return s3response.ListPartsResult{}, err
	}
	return g.Backend.ListParts(ctx, in)
}

func (g guard) UploadPart(ctx context.Context, in *s3.UploadPartInput) (*s3.UploadPartOutput, error) {
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	in.Body = whole(in.Body, in.ContentLength)
	return g.Backend.UploadPart(ctx, in)
}

func (g guard) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput) (s3response.CopyPartResult, error) {
	if err := checkKey(in.Key); err != nil {
		return s3response.CopyPartResult{}, err
	}
	if err := checkCopySource(in.CopySource); err != nil {
		return s3response.CopyPartResult{}, err
	}
	return g.Backend.UploadPartCopy(ctx, in)
}

func (g guard) HeadObject(ctx context.Context, in *s3.HeadObjectInput) (*s3.HeadObjectOutput, error) {
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	return g.Backend.HeadObject(ctx, in)
}

func (g guard) GetObject(ctx context.Context, in *s3.GetObjectInput) (*s3.GetObjectOutput, error) {
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	return g.Backend.GetObject(ctx, in)
}

func (g guard) GetObjectAcl(ctx context.Context, in *s3.GetObjectAclInput) (*s3.GetObjectAclOutput, error) {
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	return g.Backend.GetObjectAcl(ctx, in)
}

func (g guard) GetObjectAttributes(ctx context.Context, in *s3.GetObjectAttributesInput) (s3response.GetObjectAttributesResponse, error) {
	if err := checkKey(in.Key); err != nil {
		return s3response.GetObjectAttributesResponse{}, err
	}
	return g.Backend.GetObjectAttributes(ctx, in)
}

func (g guard) CopyObject(ctx context.Context, in s3response.CopyObjectInput) (s3response.CopyObjectOutput, error) {
	if err := checkKey(in.Key); err != nil {
		return s3response.CopyObjectOutput{}, err
	}
	if err := checkCopySource(in.CopySource); err != nil {
		return s3response.CopyObjectOutput{}, err
	}
	return g.Backend.CopyObject(ctx, in)
}

func (g guard) ListObjects(ctx context.Context, in *s3.ListObjectsInput) (s3response.ListObjectsResult, error) {
	if err := checkKey(in.Prefix); err != nil {
		return s3response.ListObjectsResult{}, err
	}
	return g.Backend.ListObjects(ctx, in)
}

func (g guard) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input) (s3response.ListObjectsV2Result, error) {
	if err := checkKey(in.Prefix); err != nil {
		return s3response.ListObjectsV2Result{}, err
	}
	if g.list.p != nil {
		return g.list.ListObjectsV2(ctx, in)
	}
	return g.Backend.ListObjectsV2(ctx, in)
}

func (g guard) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput) (s3response.ListVersionsResult, error) {
	if err := checkKey(in.Prefix); err != nil {
		return s3response.ListVersionsResult{}, err
	}
	return g.Backend.ListObjectVersions(ctx, in)
}

func (g guard) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput) (*s3.DeleteObjectOutput, error) {
	if err := checkKey(in.Key); err != nil {
		return nil, err
	}
	return g.Backend.DeleteObject(ctx, in)
}

func (g guard) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput) (s3response.DeleteResult, error) {
	if in.Delete != nil {
		for _, o := range in.Delete.Objects {
			if err := checkKey(o.Key); err != nil {
				return s3response.DeleteResult{}, err
			}
		}
	}
	return g.Backend.DeleteObjects(ctx, in)
}

func (g guard) PutObjectAcl(ctx context.Context, in *s3.PutObjectAclInput) error {
	if err := checkKey(in.Key); err != nil {
		return err
	}
	return g.Backend.PutObjectAcl(ctx, in)
}

func (g guard) RestoreObject(ctx context.Context, in *s3.RestoreObjectInput) error {
	if err := checkKey(in.Key); err != nil {
		return err
	}
	return g.Backend.RestoreObject(ctx, in)
}

func (g guard) SelectObjectContent(ctx context.Context, in *s3.SelectObjectContentInput) func(w *bufio.Writer) {
	if err := checkKey(in.Key); err != nil {
		return func(*bufio.Writer) {} // the guard's refusal: nothing is read
	}
	return g.Backend.SelectObjectContent(ctx, in)
}

func (g guard) GetObjectTagging(ctx context.Context, bucket, object, versionID string) (map[string]string, error) {
	if err := checkKey(&object); err != nil {
		return nil, err
	}
	return g.Backend.GetObjectTagging(ctx, bucket, object, versionID)
}

func (g guard) PutObjectTagging(ctx context.Context, bucket, object, versionID string, tags map[string]string) error {
	if err := checkKey(&object); err != nil {
		return err
	}
	return g.Backend.PutObjectTagging(ctx, bucket, object, versionID, tags)
}

func (g guard) DeleteObjectTagging(ctx context.Context, bucket, object, versionID string) error {
	if err := checkKey(&object); err != nil {
		return err
	}
	return g.Backend.DeleteObjectTagging(ctx, bucket, object, versionID)
}

func (g guard) PutObjectRetention(ctx context.Context, bucket, object, versionID string, retention []byte) error {
	if err := checkKey(&object); err != nil {
		return err
	}
	return g.Backend.PutObjectRetention(ctx, bucket, object, versionID, retention)
}

func (g guard) GetObjectRetention(ctx context.Context, bucket, object, versionID string) ([]byte, error) {
	if err := checkKey(&object); err != nil {
		return nil, err
	}
	return g.Backend.GetObjectRetention(ctx, bucket, object, versionID)
}

func (g guard) PutObjectLegalHold(ctx context.Context, bucket, object, versionID string, status bool) error {
	if err := checkKey(&object); err != nil {
		return err
	}
	return g.Backend.PutObjectLegalHold(ctx, bucket, object, versionID, status)
}

func (g guard) GetObjectLegalHold(ctx context.Context, bucket, object, versionID string) (*bool, error) {
	if err := checkKey(&object); err != nil {
		return nil, err
	}
	return g.Backend.GetObjectLegalHold(ctx, bucket, object, versionID)
}

// whole makes a body that ends before its declared length an error. The
// posix backend preallocates the file to the declared length and copies
// until EOF; when a client's connection drops mid-body, the HTTP server's
// streamed body ends with EOF, and without this the backend stored a part or
// object of the full length whose tail was zeros (a resuming client then
// skipped that part). With it the copy fails and the backend removes its
// temporary file.
func whole(body io.Reader, length *int64) io.Reader {
	if body == nil || length == nil || *length < 0 {
		return body
	}
	w := &wholeReader{r: body, left: *length}
	if c, ok := body.(middlewares.ChecksumReader); ok {
		// Trailing checksums are read off the original reader after the body.
		return &wholeChecksumReader{wholeReader: w, sums: c}
	}
	return w
}

type wholeReader struct {
	r    io.Reader
	left int64
}

func (w *wholeReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.left -= int64(n)
	if err == io.EOF && w.left > 0 {
		return n, s3err.GetAPIError(s3err.ErrIncompleteBody)
	}
	return n, err
}

type wholeChecksumReader struct {
	*wholeReader
	sums middlewares.ChecksumReader
}

func (w *wholeChecksumReader) Algorithm() string { return w.sums.Algorithm() }
func (w *wholeChecksumReader) Checksum() string  { return w.sums.Checksum() }
