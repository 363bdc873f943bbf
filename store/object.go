package store

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.opentelemetry.io/otel/trace"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/sigv4"
)

// Get opens an object for streaming. The caller closes the body. Like
// Head it is a sigv4-presigned request over plain net/http: bundles make
// one per entry, and the SDK's per-call stack cost more CPU than the
// store's own work for small objects.
func (s *Store) Get(ctx context.Context, bucket, key string) (io.ReadCloser, filegate.ObjectInfo, error) {
	const op = "store.Get"
	ctx, span := s.tracer.Start(ctx, "S3.GetObject", trace.WithSpanKind(trace.SpanKindClient))
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
