package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/filegate/filegate"
)

// maxDocument bounds what Document.Load reads.
const maxDocument = 4 << 20

// Document is one object used as a small shared document (the token store
// of several replicas), read with If-None-Match and written with If-Match
// or If-None-Match: *, so that concurrent writers never lose an update.
type Document struct {
	s           *Store
	bucket, key string
}

// Document returns the object bucket/key as a Document.
func (s *Store) Document(bucket, key string) *Document {
	return &Document{s: s, bucket: bucket, key: key}
}

func (d *Document) String() string { return "s3://" + d.bucket + "/" + d.key }

func statusOf(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// Load returns the object and its ETag; (nil, known, nil) when its ETag is
// still known, (nil, "", nil) when it does not exist.
func (d *Document) Load(ctx context.Context, known string) ([]byte, string, error) {
	const op = "store.Document.Load"
	ctx, cancel := context.WithTimeout(ctx, d.s.timeout)
	defer cancel()
	in := &s3.GetObjectInput{Bucket: &d.bucket, Key: &d.key}
	if known != "" {
		in.IfNoneMatch = aws.String(known)
	}
	out, err := d.s.api.GetObject(ctx, in)
	switch {
	case err == nil:
	case statusOf(err) == http.StatusNotModified:
		return nil, known, nil
	case statusOf(err) == http.StatusNotFound:
		return nil, "", nil
	default:
		return nil, "", translate(op, d.key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxDocument+1))
	if err != nil {
		return nil, "", translate(op, d.key, err)
	}
	if len(b) > maxDocument {
		return nil, "", fmt.Errorf("%s: larger than %d bytes", d, maxDocument)
	}
	return b, aws.ToString(out.ETag), nil
}

// Save writes the object if its ETag is still version ("": if it does not
// exist), and returns the new ETag. Another writer's win is a Conflict.
func (d *Document) Save(ctx context.Context, content []byte, version string) (string, error) {
	const op = "store.Document.Save"
	ctx, cancel := context.WithTimeout(ctx, d.s.timeout)
	defer cancel()
	in := &s3.PutObjectInput{Bucket: &d.bucket, Key: &d.key, Body: bytes.NewReader(content),
		ContentLength: aws.Int64(int64(len(content))), ContentType: aws.String("application/json")}
	if version == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(version)
	}
	out, err := d.s.api.PutObject(ctx, in)
	switch s := statusOf(err); {
	case err == nil:
		return aws.ToString(out.ETag), nil
	case s == http.StatusPreconditionFailed || s == http.StatusConflict:
		return "", filegate.NewError(filegate.Conflict, op, "", "the document changed").WithKey(d.key)
	default:
		return "", translate(op, d.key, err)
	}
}

// Documents are the objects of one bucket used as documents (bundle job
// records).
type Documents struct {
	s      *Store
	bucket string
}

// Documents returns bucket's objects as Documents.
func (s *Store) Documents(bucket string) Documents { return Documents{s: s, bucket: bucket} }

// Load is Document.Load for key.
func (d Documents) Load(ctx context.Context, key, known string) ([]byte, string, error) {
	return d.s.Document(d.bucket, key).Load(ctx, known)
}

// Save is Document.Save for key.
func (d Documents) Save(ctx context.Context, key string, content []byte, version string) (string, error) {
	return d.s.Document(d.bucket, key).Save(ctx, content, version)
}
