package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/filegate/filegate/internal/harness"
)

type issuedCreds struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Expiration      time.Time `json:"expiration"`
	Region          string    `json:"region"`
	Endpoint        string    `json:"endpoint"`
	Bucket          string    `json:"bucket"`
	Prefix          string    `json:"prefix"`
}

func (c issuedCreds) client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(c.Endpoint), Region: c.Region, UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func accessDenied(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied"
}

func needMinio(t *testing.T) {
	if _, err := exec.LookPath("minio"); err != nil {
		t.Skip("STS is tested against MinIO, which is not on PATH (.ci/run builds it)")
	}
}

func TestCredentialsOnMinio(t *testing.T) {
	t.Parallel()
	needMinio(t)
	e := harness.Start(t, "minio")
	e.Put("users/bob/secret.txt", []byte("bob's"))
	e.Put("users/alice2/other.txt", []byte("alice2's"))
	e.Put("users/alice/mine.txt", []byte("alice's"))
	ctx := context.Background()

	alice := e.Token("alice", "users/alice/", 2*time.Hour, "list", "download", "upload")
	r := e.Call(alice, "POST", "/v1/credentials", map[string]any{"expires_in": 1800})
	harness.MustStatus(t, r, 200)
	var c issuedCreds
	r.JSON(t, &c)
	if c.Bucket != e.Bucket || c.Prefix != "users/alice/" || c.Endpoint == "" || c.SessionToken == "" {
		t.Fatalf("credentials %+v", c)
	}
	if d := time.Until(c.Expiration); d < 25*time.Minute || d > 31*time.Minute {
		t.Fatalf("asked 1800 s, expire in %v", d)
	}
	s3c := c.client()
	bucket := e.Bucket
	put := func(key string) error {
		_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader("x")})
		return err
	}
	get := func(key string) error {
		out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err == nil {
			out.Body.Close()
		}
		return err
	}
	list := func(prefix string) error {
		_, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
		return err
	}
	// Inside the prefix: list, read, write, multipart.
	if err := put("users/alice/new.txt"); err != nil {
		t.Fatalf("put inside: %v", err)
	}
	if err := get("users/alice/mine.txt"); err != nil {
		t.Fatalf("get inside: %v", err)
	}
	if err := list("users/alice/"); err != nil {
		t.Fatalf("list inside: %v", err)
	}
	key := "users/alice/multi.bin"
	mp, err := s3c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("multipart inside: %v", err)
	}
	if _, err := s3c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: mp.UploadId}); err != nil {
		t.Fatalf("abort inside: %v", err)
	}
	// Outside it, and a sibling prefix that shares its first characters.
	for _, k := range []string{"users/bob/x.txt", "users/alice2/x.txt", "users/alice", "top.txt"} {
		if err := put(k); !accessDenied(err) {
			t.Errorf("put %s: %v, want AccessDenied", k, err)
		}
	}
	for _, k := range []string{"users/bob/secret.txt", "users/alice2/other.txt"} {
		if err := get(k); !accessDenied(err) {
			t.Errorf("get %s: %v, want AccessDenied", k, err)
		}
	}
	for _, p := range []string{"users/", "users/bob/", "users/alice2/", ""} {
		if err := list(p); !accessDenied(err) {
			t.Errorf("list %q: %v, want AccessDenied", p, err)
		}
	}
	// Actions outside the scope: no delete at all, no write for a reader.
	k := "users/alice/mine.txt"
	if _, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &k}); !accessDenied(err) {
		t.Errorf("delete: %v, want AccessDenied", err)
	}
	reader := e.Token("reader", "users/alice/", 0, "list", "download")
	r = e.Call(reader, "POST", "/v1/credentials", nil)
	harness.MustStatus(t, r, 200)
	var rc issuedCreds
	r.JSON(t, &rc)
	s3c = rc.client()
	if err := get("users/alice/mine.txt"); err != nil {
		t.Fatalf("reader get: %v", err)
	}
	if err := put("users/alice/by-reader.txt"); !accessDenied(err) {
		t.Errorf("reader put: %v, want AccessDenied", err)
	}
	// Tampered credentials are refused.
	bad := c
	bad.SessionToken = c.SessionToken[:len(c.SessionToken)-4] + "AAAA"
	s3c = bad.client()
	if err := get("users/alice/mine.txt"); err == nil {
		t.Error("a tampered session token was accepted")
	}
	// Bounds: a token expiring within STS's 15-minute floor gets none; a
	// request under the floor is refused.
	short := e.Token("short", "users/alice/", 10*time.Minute, "download")
	if r := e.Call(short, "POST", "/v1/credentials", nil); r.Status != 403 || r.Problem(t)["code"] != "token_expires_too_soon" {
		t.Fatalf("token expiring in 10 min: %d %s", r.Status, r.Body)
	}
	if r := e.Call(alice, "POST", "/v1/credentials", map[string]any{"expires_in": 60}); r.Status != 400 {
		t.Fatalf("expires_in 60: %d %s", r.Status, r.Body)
	}
	// An expiring token bounds the credentials.
	soon := e.Token("soon", "users/alice/", 20*time.Minute, "download")
	r = e.Call(soon, "POST", "/v1/credentials", map[string]any{"expires_in": 3600})
	harness.MustStatus(t, r, 200)
	r.JSON(t, &rc)
	if d := time.Until(rc.Expiration); d > 20*time.Minute {
		t.Fatalf("a 20-minute token got credentials for %v", d)
	}
}

// TestCredentialProcessWithAwsCLI is README's worked example: an aws CLI
// profile whose credential_process is `filegate credentials`.
func TestCredentialProcessWithAwsCLI(t *testing.T) {
	t.Parallel()
	needMinio(t)
	awsCLI, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the aws CLI is not on PATH")
	}
	e := harness.Start(t, "minio")
	alice := e.Token("alice", "users/alice/", 0, "list", "download", "upload")
	r := e.Call(alice, "POST", "/v1/credentials", nil)
	harness.MustStatus(t, r, 200)
	var c issuedCreds
	r.JSON(t, &c)
	endpoint := c.Endpoint
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	writeFile(t, cfg, []byte("[profile filegate]\ncredential_process = "+os.Args[0]+" credentials\nregion = us-east-1\nendpoint_url = "+endpoint+"\n"))
	src := filepath.Join(dir, "hello.txt")
	writeFile(t, src, []byte("hello via STS"))
	env := append(os.Environ(), "AWS_CONFIG_FILE="+cfg, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"), "AWS_PROFILE=filegate",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_EC2_METADATA_DISABLED=true",
		"FILEGATE_TEST_AS_MAIN=1", "FILEGATE_URL="+e.Base, "FILEGATE_TOKEN="+alice, "HOME="+dir)
	aws := func(args ...string) (string, error) {
		cmd := exec.Command(awsCLI, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := aws("s3", "cp", src, "s3://"+e.Bucket+"/users/alice/hello.txt"); err != nil {
		t.Fatalf("aws s3 cp inside the prefix: %v\n%s", err, out)
	}
	if got, _ := e.Object("users/alice/hello.txt"); string(got) != "hello via STS" {
		t.Fatalf("stored %q", got)
	}
	if out, err := aws("s3", "ls", "s3://"+e.Bucket+"/users/alice/"); err != nil || !strings.Contains(out, "hello.txt") {
		t.Fatalf("aws s3 ls: %v\n%s", err, out)
	}
	if out, err := aws("s3", "cp", src, "s3://"+e.Bucket+"/users/bob/hello.txt"); err == nil || !strings.Contains(out, "AccessDenied") {
		t.Fatalf("aws s3 cp outside the prefix: %v\n%s", err, out)
	}
	// The output is the credential_process shape.
	cmd := exec.Command(os.Args[0], "credentials")
	cmd.Env = env
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var pc map[string]any
	if err := json.Unmarshal(b, &pc); err != nil || pc["Version"] != 1.0 || pc["AccessKeyId"] == "" || pc["SessionToken"] == "" || pc["Expiration"] == "" {
		t.Fatalf("credential_process output %s", b)
	}
}

func TestCredentialsOnTheEmbeddedStore(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	r := e.Call(e.Admin, "POST", "/v1/credentials", nil)
	if r.Status != 501 || r.Problem(t)["code"] != "sts_unavailable" || !strings.Contains(string(r.Body), "embedded store has no STS") {
		t.Fatalf("embedded store: %d %s", r.Status, r.Body)
	}
	u := newUser(t, e, e.Admin)
	if res := u.run("credentials"); res.code != 1 || !strings.Contains(res.stderr, "Not Implemented") {
		t.Fatalf("filegate credentials on the embedded store: exit %d %s", res.code, res.stderr)
	}
}

// TestCredentialsExpireOnMinio waits out the shortest credentials STS
// issues (15 minutes) and checks that MinIO then refuses them. It runs when
// FILEGATE_TEST_STS_EXPIRY=1 (CI sets it for the run without the race
// detector), in parallel with the other tests.
func TestCredentialsExpireOnMinio(t *testing.T) {
	t.Parallel()
	needMinio(t)
	if os.Getenv("FILEGATE_TEST_STS_EXPIRY") != "1" {
		t.Skip("waits 15 minutes: set FILEGATE_TEST_STS_EXPIRY=1 (CI does)")
	}
	e := harness.Start(t, "minio")
	e.Put("users/alice/a.txt", []byte("a"))
	alice := e.Token("alice", "users/alice/", 0, "download")
	r := e.Call(alice, "POST", "/v1/credentials", map[string]any{"expires_in": 900})
	harness.MustStatus(t, r, 200)
	var c issuedCreds
	r.JSON(t, &c)
	s3c, bucket, key := c.client(), e.Bucket, "users/alice/a.txt"
	get := func() error {
		out, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err == nil {
			out.Body.Close()
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("fresh credentials: %v", err)
	}
	time.Sleep(time.Until(c.Expiration) + 5*time.Second)
	err := get()
	var ae smithy.APIError
	if err == nil || !errors.As(err, &ae) {
		t.Fatalf("expired credentials: %v, want a refusal", err)
	}
	t.Logf("expired credentials refused: %s", ae.ErrorCode())
}
