package cloudfront

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// The verifier below is written from CloudFront's documentation, not from
// the signer: CloudFront checks an RSA-SHA1 PKCS#1 v1.5 signature of the
// policy, both in its URL-safe base64 (+ → -, = → _, / → ~).
func cfDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := cfDecodeErr(s)
	if err != nil {
		t.Fatalf("not CloudFront base64: %q: %v", s, err)
	}
	return b
}

func cfDecodeErr(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.NewReplacer("-", "+", "_", "=", "~", "/").Replace(s))
}

func verify(pub *rsa.PublicKey, policy, sig []byte) error {
	h := sha1.Sum(policy)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA1, h[:], sig)
}

// cannedPolicy is the policy CloudFront rebuilds for a canned-policy URL.
func cannedPolicy(resource string, expires int64) []byte {
	return fmt.Appendf(nil, `{"Statement":[{"Resource":"%s","Condition":{"DateLessThan":{"AWS:EpochTime":%d}}}]}`, resource, expires)
}

// matches is CloudFront's wildcard match of a policy resource: * any run
// of characters, ? one character.
func matches(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if matches(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && matches(pattern[1:], s[1:])
	}
	return s != "" && s[0] == pattern[0] && matches(pattern[1:], s[1:])
}

var testKey, _ = rsa.GenerateKey(rand.Reader, 2048)

func newSigner(t *testing.T, prefix string) *Signer {
	t.Helper()
	s, err := New(Config{Domain: "d111.cloudfront.net", KeyID: "K2JCJMDEHXQW5F", Key: testKey, PathPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type verifiedURL struct {
	base   string
	policy []byte
}

// verifyURL checks a signed URL as CloudFront would and returns its policy.
func verifyURL(t *testing.T, signed string) (verifiedURL, error) {
	t.Helper()
	u, err := url.Parse(signed)
	if err != nil {
		return verifiedURL{}, err
	}
	q := u.Query()
	if q.Get("Key-Pair-Id") != "K2JCJMDEHXQW5F" {
		return verifiedURL{}, fmt.Errorf("key pair id %q", q.Get("Key-Pair-Id"))
	}
	sig, err := cfDecodeErr(q.Get("Signature"))
	if err != nil {
		return verifiedURL{}, err
	}
	// The resource is the URL without CloudFront's own parameters.
	for _, k := range []string{"Expires", "Signature", "Key-Pair-Id", "Policy"} {
		q.Del(k)
	}
	base := *u
	base.RawQuery = q.Encode()
	resource := base.String()
	var policy []byte
	if p := u.Query().Get("Policy"); p != "" {
		policy = cfDecode(t, p)
		// CloudFront serves the request only if its URL matches the
		// policy's resource (wildcards allowed).
		var doc struct{ Statement []struct{ Resource string } }
		if err := json.Unmarshal(policy, &doc); err != nil || len(doc.Statement) != 1 {
			return verifiedURL{}, fmt.Errorf("policy %s", policy)
		}
		if !matches(doc.Statement[0].Resource, resource) {
			return verifiedURL{}, fmt.Errorf("URL %s is outside the policy's resource %s", resource, doc.Statement[0].Resource)
		}
	} else {
		var exp int64
		fmt.Sscan(u.Query().Get("Expires"), &exp)
		policy = cannedPolicy(resource, exp)
	}
	if err := verify(&testKey.PublicKey, policy, sig); err != nil {
		return verifiedURL{}, err
	}
	return verifiedURL{base: resource, policy: policy}, nil
}

func TestCannedURL(t *testing.T) {
	s := newSigner(t, "")
	exp := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	signed, err := s.SignURL("users/alice/photo é.jpg", "", exp, Conditions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifyURL(t, signed)
	if err != nil {
		t.Fatalf("signature does not verify: %v (%s)", err, signed)
	}
	if v.base != "https://d111.cloudfront.net/users/alice/photo%20%C3%A9.jpg" {
		t.Fatalf("resource %s", v.base)
	}
	if !strings.Contains(signed, fmt.Sprintf("Expires=%d", exp.Unix())) || strings.Contains(signed, "Policy=") {
		t.Fatalf("not a canned-policy URL: %s", signed)
	}
	// Tampering with the path, the expiry or the signature breaks it.
	for _, bad := range []string{
		strings.Replace(signed, "alice", "alicf", 1),
		strings.Replace(signed, fmt.Sprintf("Expires=%d", exp.Unix()), fmt.Sprintf("Expires=%d", exp.Unix()+3600), 1),
		strings.Replace(signed, "Signature=", "Signature=A", 1),
	} {
		if _, err := verifyURL(t, bad); err == nil {
			t.Errorf("a tampered URL verifies: %s", bad)
		}
	}
}

func TestCustomPolicyURL(t *testing.T) {
	s := newSigner(t, "files/")
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	start := time.Now().Add(time.Minute).Truncate(time.Second)
	signed, err := s.SignURL("k.txt", `attachment; filename="a.txt"`, exp, Conditions{SourceIP: "192.0.2.0/24", NotBefore: start})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifyURL(t, signed)
	if err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	var p struct {
		Statement []struct {
			Resource  string
			Condition struct {
				DateLessThan struct {
					EpochTime int64 `json:"AWS:EpochTime"`
				}
				DateGreaterThan struct {
					EpochTime int64 `json:"AWS:EpochTime"`
				}
				IPAddress struct {
					SourceIP string `json:"AWS:SourceIp"`
				} `json:"IpAddress"`
			}
		}
	}
	if err := json.Unmarshal(v.policy, &p); err != nil || len(p.Statement) != 1 {
		t.Fatalf("policy %s: %v", v.policy, err)
	}
	st := p.Statement[0]
	if st.Resource != v.base || !strings.HasPrefix(st.Resource, "https://d111.cloudfront.net/files/k.txt?response-content-disposition=") {
		t.Fatalf("resource %s (URL %s)", st.Resource, v.base)
	}
	if st.Condition.DateLessThan.EpochTime != exp.Unix() || st.Condition.DateGreaterThan.EpochTime != start.Unix() || st.Condition.IPAddress.SourceIP != "192.0.2.0/24" {
		t.Fatalf("conditions %+v", st.Condition)
	}
	// A policy swapped for a wider one no longer matches the signature.
	wider := strings.Replace(string(v.policy), "192.0.2.0/24", "0.0.0.0/0", 1)
	q, _ := url.Parse(signed)
	if err := verify(&testKey.PublicKey, []byte(wider), cfDecode(t, q.Query().Get("Signature"))); err == nil {
		t.Fatal("a widened policy verifies")
	}
}

func TestCookiesCoverThePrefixOnly(t *testing.T) {
	s := newSigner(t, "")
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	c, err := s.SignCookies("users/alice/", exp)
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyPairID != "K2JCJMDEHXQW5F" || c.Domain != "d111.cloudfront.net" || !c.Expires.Equal(exp) {
		t.Fatalf("cookies %+v", c)
	}
	policy := cfDecode(t, c.Policy)
	if err := verify(&testKey.PublicKey, policy, cfDecode(t, c.Signature)); err != nil {
		t.Fatalf("cookie signature does not verify: %v", err)
	}
	var p struct {
		Statement []struct {
			Resource  string
			Condition struct {
				DateLessThan struct {
					EpochTime int64 `json:"AWS:EpochTime"`
				}
			}
		}
	}
	if err := json.Unmarshal(policy, &p); err != nil || len(p.Statement) != 1 {
		t.Fatalf("policy %s", policy)
	}
	res := p.Statement[0].Resource
	if res != "https://d111.cloudfront.net/users/alice/*" || c.Resource != res || p.Statement[0].Condition.DateLessThan.EpochTime != exp.Unix() {
		t.Fatalf("resource %s, policy %s", res, policy)
	}
	for u, want := range map[string]bool{
		"https://d111.cloudfront.net/users/alice/a.jpg":        true,
		"https://d111.cloudfront.net/users/alice/deep/b.jpg":   true,
		"https://d111.cloudfront.net/users/alice2/a.jpg":       false,
		"https://d111.cloudfront.net/users/alice":              false,
		"https://d111.cloudfront.net/users/bob/a.jpg":          false,
		"https://d111.cloudfront.net/users/alicex/../alice2/x": false,
	} {
		if matches(res, u) != want {
			t.Errorf("%s: covered %v, want %v", u, !want, want)
		}
	}
	tampered := strings.Replace(string(policy), "users/alice/", "users/", 1)
	if err := verify(&testKey.PublicKey, []byte(tampered), cfDecode(t, c.Signature)); err == nil {
		t.Fatal("a widened cookie policy verifies")
	}
	if _, err := s.SignCookies("users/*/", exp); err == nil {
		t.Fatal("a wildcard prefix was signed")
	}
}

func pemKey(t *testing.T) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testKey)}))
}

func TestLoadKeyFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, []byte(pemKey(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKey(context.Background(), p, nil)
	if err != nil || !k.Equal(testKey) {
		t.Fatalf("LoadKey file: %v", err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(testKey)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadKey(context.Background(), p, nil); err != nil || !k.Equal(testKey) {
		t.Fatalf("LoadKey PKCS#8: %v", err)
	}
	if err := os.WriteFile(p, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(context.Background(), p, nil); err == nil {
		t.Fatal("garbage loaded as a key")
	}
}

// TestLoadKeyFromSSM reads the key from an SSM SecureString parameter
// served by moto_server.
func TestLoadKeyFromSSM(t *testing.T) {
	motoBin, err := exec.LookPath("moto_server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("moto_server is not installed")
		}
		t.Skip("moto_server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(motoBin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	client := ssm.New(ssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	ctx := context.Background()
	if _, err := client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/filegate/cloudfront-key"), Value: aws.String(pemKey(t)), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKey(ctx, "ssm:/filegate/cloudfront-key", client)
	if err != nil || !k.Equal(testKey) {
		t.Fatalf("LoadKey ssm: %v", err)
	}
	if _, err := LoadKey(ctx, "ssm:/filegate/missing", client); err == nil || !strings.Contains(err.Error(), "/filegate/missing") {
		t.Fatalf("a missing parameter: %v", err)
	}
}

func TestSignedPutCarriesItsLength(t *testing.T) {
	s := newSigner(t, "")
	exp := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	signed, err := s.SignPut("users/alice/up.bin", 1234, exp)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifyURL(t, signed)
	if err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	if v.base != "https://d111.cloudfront.net/users/alice/up.bin?x-filegate-length=1234" || !strings.Contains(string(v.policy), `"Resource":"`+v.base+`"`) {
		t.Fatalf("resource %s, policy %s", v.base, v.policy)
	}
	// Another length, or another key, breaks the signature.
	for _, bad := range []string{
		strings.Replace(signed, "x-filegate-length=1234", "x-filegate-length=99999999", 1),
		strings.Replace(signed, "up.bin", "up2.bin", 1),
	} {
		if _, err := verifyURL(t, bad); err == nil {
			t.Errorf("a tampered PUT URL verifies: %s", bad)
		}
	}
}
