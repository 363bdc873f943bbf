package sigv4

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7/pkg/signer"
)

var benchCreds = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "")

const benchKey = "users/alice/photos/2026/summer holiday/IMG_0042.jpg"

func BenchmarkPresignGet(b *testing.B) {
	s, _ := New(aws.NewCredentialsCache(benchCreds), "us-east-1", "http://127.0.0.1:9000", true)
	req := &Request{Method: "GET", Op: "GetObject", Bucket: "filegate", Key: benchKey, Expires: 15 * time.Minute}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Presign(ctx, req, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPresignPut(b *testing.B) {
	s, _ := New(aws.NewCredentialsCache(benchCreds), "us-east-1", "http://127.0.0.1:9000", true)
	req := &Request{Method: "PUT", Op: "PutObject", Bucket: "filegate", Key: benchKey, Expires: 15 * time.Minute, ContentType: "image/jpeg", ContentLength: 123456}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Presign(ctx, req, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPresignPart(b *testing.B) {
	s, _ := New(aws.NewCredentialsCache(benchCreds), "us-east-1", "http://127.0.0.1:9000", true)
	req := &Request{Method: "PUT", Op: "UploadPart", Bucket: "filegate", Key: benchKey, Expires: 15 * time.Minute, PartNumber: 42, UploadID: "2~iCw_lDY8VZdBPL8ZSXrNRkTRVTr7Dk5"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Presign(ctx, req, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPresignPost(b *testing.B) {
	s, _ := New(aws.NewCredentialsCache(benchCreds), "us-east-1", "http://127.0.0.1:9000", true)
	conds := []Condition{{Op: "starts-with", Field: "key", Value: "users/alice/"}, {Op: "starts-with", Field: "Content-Type", Value: "image/"}, {Op: "content-length-range", Min: 0, Max: 10 << 20}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.PresignPost(ctx, "filegate", "users/alice/", conds, 15*time.Minute, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSDKPresignGet(b *testing.B) {
	client := s3.New(s3.Options{Region: "us-east-1", Credentials: aws.NewCredentialsCache(benchCreds), UsePathStyle: true, BaseEndpoint: aws.String("http://127.0.0.1:9000")})
	p := s3.NewPresignClient(client)
	ctx := context.Background()
	in := &s3.GetObjectInput{Bucket: aws.String("filegate"), Key: aws.String(benchKey)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.PresignGetObject(ctx, in, s3.WithPresignExpires(15*time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMinioPresignGet(b *testing.B) {
	req, _ := http.NewRequest("GET", "http://127.0.0.1:9000/filegate/"+benchKey, nil)
	b.ReportAllocs()
	for b.Loop() {
		// PreSignV4 writes into the request's URL: give it a fresh copy.
		u := *req.URL
		r := *req
		r.URL = &u
		_ = signer.PreSignV4(r, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", "us-east-1", 900).URL.String()
	}
}
