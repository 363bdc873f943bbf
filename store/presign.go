package store

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/filegate/filegate"
)

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

// PresignGet signs a GET of bucket/key valid for opts.Expires.
func (s *Store) PresignGet(ctx context.Context, bucket, key string, opts GetOptions) (Grant, error) {
	in := &s3.GetObjectInput{Bucket: &bucket, Key: &key}
	if opts.ContentDisposition != "" {
		in.ResponseContentDisposition = aws.String(opts.ContentDisposition)
	}
	now := time.Now().Truncate(time.Second) // X-Amz-Date has second precision
	req, err := s.presign.PresignGetObject(ctx, in, s3.WithPresignExpires(opts.Expires))
	if err != nil {
		return Grant{}, &filegate.Error{Kind: filegate.Internal, Op: "store.PresignGet", Key: key, Err: err}
	}
	return Grant{URL: req.URL, Method: req.Method, Header: req.SignedHeader, Expires: now.Add(opts.Expires)}, nil
}
