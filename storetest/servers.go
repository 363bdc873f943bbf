package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/filegate/filegate/embedded"
)

// Server is a running S3 server for tests.
type Server struct {
	Name      string // "embedded" or "minio"
	Endpoint  string
	AccessKey string
	SecretKey string
}

// Servers starts every real S3 server this machine has, each on port 0:
// the embedded store always (the test binary must call gateway.StandIn in
// TestMain), and MinIO when a minio binary is on PATH.
func Servers(t *testing.T) []Server {
	out := []Server{StartEmbedded(t)}
	if _, err := exec.LookPath("minio"); err == nil {
		out = append(out, StartMinio(t))
	}
	return out
}

// StartEmbedded starts the embedded store in a temporary directory.
func StartEmbedded(t *testing.T) Server {
	t.Helper()
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	s := Server{Name: "embedded", AccessKey: "TESTKEY", SecretKey: hex.EncodeToString(secret)}
	srv, err := embedded.Start(context.Background(), embedded.Options{Dir: t.TempDir(), AccessKey: s.AccessKey, SecretKey: s.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	s.Endpoint = srv.Endpoint
	return s
}

// StartMinio starts MinIO in a temporary directory. SSE-S3 works (a KMS
// key is set).
func StartMinio(t *testing.T) Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := Server{Name: "minio", Endpoint: "http://" + addr, AccessKey: "minioadmin", SecretKey: "minio-secret-for-tests"}
	cmd := exec.Command("minio", "server", t.TempDir(), "--address", addr, "--console-address", "127.0.0.1:0", "--quiet")
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey, "MINIO_BROWSER=off", "MINIO_UPDATE=off",
		// SSE-S3 (x-amz-server-side-encryption: AES256) needs a KMS key in MinIO.
		"MINIO_KMS_SECRET_KEY=filegate-test-key:"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("minio did not become ready")
	return s
}
