package store

import (
	"context"
	"testing"

	"github.com/filegate/filegate"
)

func TestUnsignedPayloadSafe(t *testing.T) {
	for ep, want := range map[string]bool{
		"https://s3.example.com": true, "https://10.0.0.5:9000": true,
		"http://127.0.0.1:9000": true, "http://127.8.9.10": true, "http://[::1]:9000": true, "http://localhost:9000": true,
		"http://10.0.0.5:9000": false, "http://minio.internal:9000": false, "http://[::ffff:10.0.0.5]": false,
		"http://localhost.example.com": false, "http://127.0.0.1.example.com": false, "ftp://127.0.0.1": false, "::": false,
	} {
		if got := unsignedPayloadSafe(ep); got != want {
			t.Errorf("unsignedPayloadSafe(%q) = %v, want %v", ep, got, want)
		}
	}
}

// A bucket streams PUTs only where the payload may go unsigned: Amazon S3,
// https and loopback endpoints.
func TestStreamPutterOnlyWhereUnsignedIsSafe(t *testing.T) {
	for ep, want := range map[string]bool{
		"": true, "https://s3.example.com": true, "http://127.0.0.1:9000": true,
		"http://10.0.0.5:9000": false, "http://minio.internal:9000": false,
	} {
		st, err := New(context.Background(), Config{Endpoint: ep, Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s", Bucket: "b"})
		if err != nil {
			t.Fatal(err)
		}
		if _, got := st.Source().(filegate.StreamPutter); got != want {
			t.Errorf("endpoint %q: the bucket is a StreamPutter: %v, want %v", ep, got, want)
		}
	}
}
