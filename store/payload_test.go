package store

import "testing"

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
