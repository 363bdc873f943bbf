package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.opentelemetry.io/otel/codes"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/internal/spans"
	"github.com/filegate/filegate/sigv4"
)

// Get opens an object for streaming. The caller closes the body. Like
// Head it is a sigv4-presigned request over plain net/http: bundles make
// one per entry, and the SDK's per-call stack cost more CPU than the
// store's own work for small objects.
func (s *Store) Get(ctx context.Context, bucket, key string) (io.ReadCloser, filegate.ObjectInfo, error) {
	const op = "store.Get"
	ctx, span := spans.Start(ctx, s.tracer, "S3.GetObject", clientSpan)
	defer span.End()
	u, err := s.direct.Presign(ctx, &sigv4.Request{Method: http.MethodGet, Op: "GetObject", Bucket: bucket, Key: key, Expires: 15 * time.Minute}, time.Now())
	if err != nil {
		return nil, filegate.ObjectInfo{}, filegate.NewError(filegate.Internal, op, "", "").WithKey(key).Wrap(err)
	}
	// The headers (retries included) within the store timeout; then the
	// body streams for as long as it moves.
	hd := newHeaderDeadline(ctx, s.timeout)
	resp, err := s.do(hd.ctx, http.MethodGet, u)
	if err != nil {
		hd.cancel()
		return nil, filegate.ObjectInfo{}, translateRaw(op, key, err)
	}
	if !hd.arrived() {
		resp.Body.Close()
		hd.cancel()
		return nil, filegate.ObjectInfo{}, translateStatus(op, key, 0, context.DeadlineExceeded)
	}
	info := filegate.ObjectInfo{Key: key, Size: resp.ContentLength, ETag: strings.Trim(resp.Header.Get("ETag"), `"`), ContentType: resp.Header.Get("Content-Type")}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		info.LastModified = lm
	}
	return cancelBody{ReadCloser: resp.Body, cancel: hd.cancel}, info, nil
}

// Put stores a small object from memory.
func (s *Store) Put(ctx context.Context, bucket, key, contentType string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 6*s.timeout)
	defer cancel()
	_, err := s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, ContentType: aws.String(contentType),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
	}, s.bodyOpts...)
	return translate("store.Put", key, err)
}

// PutStream stores exactly size bytes read from body in one PUT,
// presigned by sigv4 with the payload unsigned and the length signed, over
// plain net/http: a bundle of known size streams into it as it is written,
// with no part buffers and no multipart calls (on a store tens of
// milliseconds away, creating and completing an upload are two round
// trips). Only for an endpoint where the payload may go unsigned: Open
// offers it there alone.
//
// It is not retried (the body is read once). A body that ends before size
// bytes, holds more, or fails, fails the request before the store has the
// whole payload (exactReader): no object is stored.
func (s *Store) PutStream(ctx context.Context, bucket, key, contentType string, size int64, body io.Reader) (filegate.ObjectInfo, error) {
	const op = "store.PutStream"
	ctx, span := spans.Start(ctx, s.tracer, "S3.PutObject", clientSpan)
	defer span.End()
	if size < 0 {
		return filegate.ObjectInfo{}, filegate.NewError(filegate.Internal, op, "", "negative size").WithKey(key)
	}
	u, err := s.direct.Presign(ctx, &sigv4.Request{Method: http.MethodPut, Op: "PutObject", Bucket: bucket, Key: key,
		ContentType: contentType, ContentLength: size, SignLength: true, Expires: 15 * time.Minute}, time.Now())
	if err != nil {
		return filegate.ObjectInfo{}, filegate.NewError(filegate.Internal, op, "", "").WithKey(key).Wrap(err)
	}
	lr := &exactReader{r: body, left: size}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, lr)
	if err != nil {
		return filegate.ObjectInfo{}, filegate.NewError(filegate.Internal, op, "", "").WithKey(key).Wrap(err)
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	} else {
		// The transport sends a request again on another connection when
		// the first failed before anything was written (one the store had
		// closed while idle); it may, while no byte of the body was read.
		req.GetBody = func() (io.ReadCloser, error) {
			if lr.left != size || lr.err != nil {
				return nil, errors.New("store: the body was partly read; it cannot be sent again")
			}
			return io.NopCloser(lr), nil
		}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		if lr.err != nil {
			err = lr.err // the body's own failure, not the transport's report of it
		}
		span.SetStatus(codes.Error, "store call failed")
		return filegate.ObjectInfo{}, translateRaw(op, key, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		span.SetStatus(codes.Error, "store call failed")
		return filegate.ObjectInfo{}, translateRaw(op, key, statusError(resp.StatusCode))
	}
	return filegate.ObjectInfo{Key: key, Size: size, ETag: strings.Trim(resp.Header.Get("ETag"), `"`), ContentType: contentType}, nil
}

// exactReader passes on exactly left bytes of r, and holds the last of
// them back until r ends: if r fails or holds more than left bytes, the
// read fails instead and the store never receives the whole payload (the
// transport would send the declared length and only then look for more).
// A body that ends only when its writer succeeds (a bundle's pipe) thus
// stores nothing unless the writer does.
type exactReader struct {
	r    io.Reader
	left int64
	err  error
}

var errLonger = errors.New("store: the body is longer than its declared size")

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if e.left == 0 && err == nil {
		var one [1]byte
		for err == nil {
			var m int
			m, err = e.r.Read(one[:])
			if m > 0 {
				err = errLonger
			}
		}
	}
	if err == io.EOF {
		if e.left == 0 {
			return n, nil // the next Read reports the end
		}
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		e.err = err
		return 0, err // nothing of a failed read goes out
	}
	return n, nil
}

// Delete removes an object; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	ctx, cancel := s.short(ctx)
	defer cancel()
	_, err := s.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key})
	return translate("store.Delete", key, err)
}

// UploadPart stores one part of a multipart upload from memory and returns
// its ETag.
func (s *Store) UploadPart(ctx context.Context, bucket, key, uploadID string, number int32, body []byte) (string, error) {
	out, err := s.api.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &bucket, Key: &key, UploadId: &uploadID, PartNumber: aws.Int32(number),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
	}, s.bodyOpts...)
	if err != nil {
		return "", translate("store.UploadPart", key, err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`), nil
}
