package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/pkg/xattr"
	"github.com/segmentio/encoding/json"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/s3response"
)

// TestListingMatchesBackend: lister answers every listing exactly as the
// posix backend's own ListObjectsV2 does, over objects with and without
// checksums and ETags, folder objects, nested keys and pages; and no
// bucket of a store opened as gateway.go opens it can be versioned (so no
// delete markers, which lister does not look for, can exist).
func TestListingMatchesBackend(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(wd) }) // posix.New changes directory
	dir := t.TempDir()
	be, err := posix.New(dir, meta.XattrMeta{}, posix.PosixOpts{NewDirPerm: 0o700, NewFilePerm: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Shutdown()
	ctx := context.Background()
	bucket := "b"
	if err := be.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket), CreateBucketConfiguration: &types.CreateBucketConfiguration{}}, []byte(`{"owner":"root"}`)); err != nil {
		t.Fatal(err)
	}
	if err := be.PutBucketVersioning(ctx, bucket, types.BucketVersioningStatusEnabled); err == nil {
		t.Fatal("versioning was enabled: delete markers could exist, and lister would list them")
	}
	put := func(key string, body []byte, sha bool) {
		t.Helper()
		in := s3response.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body)))}
		if sha {
			sum := sha256.Sum256(body)
			in.ChecksumSHA256 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
			in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256
		}
		if _, err := be.PutObject(ctx, in); err != nil {
			t.Fatalf("put %q: %v", key, err)
		}
	}
	for i := range 30 {
		put(fmt.Sprintf("a/%02d", i), []byte(fmt.Sprint("object ", i)), i%3 == 0)
	}
	put("a/sub/x", []byte("x"), false)
	put("a/sub/y", []byte("yy"), true)
	put("a/empty/", nil, false) // a folder object
	put("b/z", []byte("z"), false)
	// Objects written before checksums, or without an ETag.
	if err := xattr.Remove(filepath.Join(dir, bucket, "a/05"), "user.checksums"); err != nil {
		t.Fatal(err)
	}
	if err := xattr.Remove(filepath.Join(dir, bucket, "a/07"), "user.etag"); err != nil {
		t.Fatal(err)
	}
	l := lister{p: be}
	for _, in := range []*s3.ListObjectsV2Input{
		{},
		{Prefix: aws.String("a/")},
		{Prefix: aws.String("a/"), Delimiter: aws.String("/")},
		{Prefix: aws.String("a/"), MaxKeys: aws.Int32(7)},
		{Prefix: aws.String("a/"), MaxKeys: aws.Int32(7), ContinuationToken: aws.String("a/06")},
		{Prefix: aws.String("a/"), StartAfter: aws.String("a/2")},
		{Prefix: aws.String("a/s")},
		{Prefix: aws.String("none/")},
		{FetchOwner: aws.Bool(true), Prefix: aws.String("a/0")},
	} {
		in.Bucket = aws.String(bucket)
		if in.StartAfter == nil {
			in.StartAfter = aws.String("") // as versitygw's controller passes it
		}
		if in.MaxKeys == nil {
			in.MaxKeys = aws.Int32(1000)
		}
		want, werr := be.ListObjectsV2(ctx, in)
		got, gerr := l.ListObjectsV2(ctx, in)
		if (werr != nil) != (gerr != nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("listing %s: got %s (%v), want %s (%v)", show(in), show(got), gerr, show(want), werr)
		}
		if len(want.Contents) == 0 && in.Prefix != nil && *in.Prefix == "a/" {
			t.Fatalf("listing %s: nothing listed", show(in))
		}
	}
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
