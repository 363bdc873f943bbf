package store

import (
	"bytes"
	"context"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Get opens an object for streaming. The caller closes the body.
func (s *Store) Get(ctx context.Context, bucket, key string) (io.ReadCloser, ObjectInfo, error) {
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, ObjectInfo{}, translate("store.Get", key, err)
	}
	return out.Body, ObjectInfo{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ETag:         strings.Trim(aws.ToString(out.ETag), `"`),
		ContentType:  aws.ToString(out.ContentType),
		LastModified: aws.ToTime(out.LastModified),
	}, nil
}

// Put stores a small object from memory.
func (s *Store) Put(ctx context.Context, bucket, key, contentType string, body []byte) error {
	_, err := s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, ContentType: aws.String(contentType),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
	})
	return translate("store.Put", key, err)
}

// Delete removes an object; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	_, err := s.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key})
	return translate("store.Delete", key, err)
}

// UploadPart stores one part of a multipart upload from memory and returns
// its ETag.
func (s *Store) UploadPart(ctx context.Context, bucket, key, uploadID string, number int32, body []byte) (string, error) {
	out, err := s.api.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &bucket, Key: &key, UploadId: &uploadID, PartNumber: aws.Int32(number),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
	})
	if err != nil {
		return "", translate("store.UploadPart", key, err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`), nil
}
