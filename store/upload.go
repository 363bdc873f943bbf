package store

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/sigv4"
)

// PresignPut signs a PUT of exactly opts.ContentLength bytes of
// opts.ContentType to bucket/key.
func (s *Store) PresignPut(ctx context.Context, bucket, key string, opts filegate.PutOptions) (filegate.Grant, error) {
	g, err := s.presign(ctx, "store.PresignPut", &sigv4.Request{
		Method: "PUT", Op: "PutObject", Bucket: bucket, Key: key, Expires: opts.Expires,
		ContentType: opts.ContentType, ContentLength: opts.ContentLength, SignLength: true, Metadata: opts.Metadata,
	})
	if err != nil {
		return filegate.Grant{}, err
	}
	g.Header = http.Header{}
	if opts.ContentType != "" {
		g.Header.Set("Content-Type", opts.ContentType)
	}
	for k, v := range opts.Metadata {
		g.Header.Set("X-Amz-Meta-"+k, v)
	}
	return g, nil
}

// CreateUpload starts a multipart upload and returns its id.
func (s *Store) CreateUpload(ctx context.Context, bucket, key, contentType string, meta map[string]string) (string, error) {
	ctx, cancel := s.short(ctx)
	defer cancel()
	out, err := s.api.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &bucket, Key: &key, ContentType: aws.String(contentType), Metadata: meta,
	})
	if err != nil {
		return "", translate("store.CreateUpload", key, err)
	}
	return aws.ToString(out.UploadId), nil
}

// PresignPart signs the upload of one part of a multipart upload, of
// exactly size bytes: the length is signed.
func (s *Store) PresignPart(ctx context.Context, bucket, key, uploadID string, number int32, size int64, expires time.Duration) (filegate.Grant, error) {
	return s.presign(ctx, "store.PresignPart", &sigv4.Request{
		Method: "PUT", Op: "UploadPart", Bucket: bucket, Key: key, Expires: expires,
		PartNumber: number, UploadID: uploadID, ContentLength: max(size, 0), SignLength: size >= 0,
	})
}

// ListParts returns every part stored so far, in order. NotFound when the
// upload does not exist (completed, aborted or never made).
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string) ([]filegate.Part, error) {
	ctx, cancel := s.short(ctx)
	defer cancel()
	var parts []filegate.Part
	var marker *string
	for {
		out, err := s.api.ListParts(ctx, &s3.ListPartsInput{Bucket: &bucket, Key: &key, UploadId: &uploadID, PartNumberMarker: marker})
		if err != nil {
			return nil, translate("store.ListParts", key, err)
		}
		for _, p := range out.Parts {
			parts = append(parts, filegate.Part{Number: aws.ToInt32(p.PartNumber), ETag: strings.Trim(aws.ToString(p.ETag), `"`), Size: aws.ToInt64(p.Size)})
		}
		if !aws.ToBool(out.IsTruncated) || out.NextPartNumberMarker == nil || aws.ToString(out.NextPartNumberMarker) == aws.ToString(marker) {
			break
		}
		marker = out.NextPartNumberMarker
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	return parts, nil
}

// CompleteUpload assembles the parts into the object.
func (s *Store) CompleteUpload(ctx context.Context, bucket, key, uploadID string, parts []filegate.Part) (filegate.ObjectInfo, error) {
	cctx, cancel := context.WithTimeout(ctx, longTimeout)
	defer cancel()
	cp := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		cp[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(quoteETag(p.ETag))}
	}
	out, err := s.api.CompleteMultipartUpload(cctx, &s3.CompleteMultipartUploadInput{
		Bucket: &bucket, Key: &key, UploadId: &uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: cp},
	})
	if err != nil {
		return filegate.ObjectInfo{}, translate("store.CompleteUpload", key, err)
	}
	// The object is its parts one after another: when the caller knows
	// every part's size (a bundle does), the store need not be asked
	// again; a HEAD is a round trip at the end of every bundle.
	if size, ok := partsSize(parts); ok && aws.ToString(out.ETag) != "" {
		return filegate.ObjectInfo{Key: key, Size: size, ETag: strings.Trim(aws.ToString(out.ETag), `"`)}, nil
	}
	return s.Head(ctx, bucket, key)
}

// partsSize is the sum of the parts' sizes; false when any is not given.
func partsSize(parts []filegate.Part) (int64, bool) {
	var n int64
	for _, p := range parts {
		if p.Size <= 0 {
			return 0, false
		}
		n += p.Size
	}
	return n, len(parts) > 0
}

func quoteETag(e string) string {
	if strings.HasPrefix(e, `"`) {
		return e
	}
	return `"` + e + `"`
}

// AbortUpload discards a multipart upload and its parts.
func (s *Store) AbortUpload(ctx context.Context, bucket, key, uploadID string) error {
	ctx, cancel := s.short(ctx)
	defer cancel()
	_, err := s.api.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: &uploadID})
	return translate("store.AbortUpload", key, err)
}

// PresignPost signs a POST policy. The signature covers the key, policy and
// X-Amz-* fields; the fields for filegate's own conditions are added here so
// the answer holds every field the browser must send.
func (s *Store) PresignPost(ctx context.Context, bucket string, o filegate.PostOptions) (filegate.Post, error) {
	key := o.Key
	var conds []sigv4.Condition
	fields := map[string]string{}
	if o.KeyPrefix != "" {
		key = o.KeyPrefix
		conds = append(conds, sigv4.Condition{Op: "starts-with", Field: "key", Value: o.KeyPrefix})
	}
	switch {
	case o.ContentType != "":
		conds = append(conds, sigv4.Condition{Op: "eq", Field: "Content-Type", Value: o.ContentType})
		fields["Content-Type"] = o.ContentType
	case o.ContentTypePrefix != "":
		conds = append(conds, sigv4.Condition{Op: "starts-with", Field: "Content-Type", Value: o.ContentTypePrefix})
	}
	if o.MaxSize > 0 {
		conds = append(conds, sigv4.Condition{Op: "content-length-range", Min: o.MinSize, Max: o.MaxSize})
	}
	if o.SSE != "" {
		conds = append(conds, sigv4.Condition{Op: "eq", Field: "x-amz-server-side-encryption", Value: o.SSE})
		fields["x-amz-server-side-encryption"] = o.SSE
	}
	if o.ACL != "" {
		conds = append(conds, sigv4.Condition{Op: "eq", Field: "acl", Value: o.ACL})
		fields["acl"] = o.ACL
	}
	names := make([]string, 0, len(o.Metadata))
	for k := range o.Metadata {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		f := "x-amz-meta-" + k
		conds = append(conds, sigv4.Condition{Op: "eq", Field: f, Value: o.Metadata[k]})
		fields[f] = o.Metadata[k]
	}
	now := signingTime()
	p, err := s.signer.PresignPost(ctx, bucket, key, conds, o.Expires, now)
	if err != nil {
		return filegate.Post{}, filegate.NewError(filegate.Internal, "store.PresignPost", "", "").WithKey(key).Wrap(err)
	}
	for k, v := range p.Fields {
		fields[k] = v
	}
	return filegate.Post{URL: p.URL, Fields: fields, Expires: now.Add(o.Expires)}, nil
}

// ListUploads returns every multipart upload in progress under prefix,
// following the listing's pages (at most 100,000 uploads). The prefix is
// applied here, not by the store: MinIO lists uploads only by exact key or
// all of them (see docs/stores.md).
func (s *Store) ListUploads(ctx context.Context, bucket, prefix string) ([]filegate.Upload, error) {
	var out []filegate.Upload
	var keyMarker, idMarker *string
	for len(out) < 100_000 {
		cctx, cancel := s.short(ctx)
		page, err := s.api.ListMultipartUploads(cctx, &s3.ListMultipartUploadsInput{
			Bucket: &bucket, KeyMarker: keyMarker, UploadIdMarker: idMarker,
		})
		cancel()
		if err != nil {
			return nil, translate("store.ListUploads", prefix, err)
		}
		for _, u := range page.Uploads {
			if !strings.HasPrefix(aws.ToString(u.Key), prefix) {
				continue
			}
			out = append(out, filegate.Upload{Key: aws.ToString(u.Key), ID: aws.ToString(u.UploadId), Initiated: aws.ToTime(u.Initiated)})
		}
		if !aws.ToBool(page.IsTruncated) || page.NextKeyMarker == nil ||
			(aws.ToString(page.NextKeyMarker) == aws.ToString(keyMarker) && aws.ToString(page.NextUploadIdMarker) == aws.ToString(idMarker)) {
			break
		}
		keyMarker, idMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
	return out, nil
}
