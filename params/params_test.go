package params

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/auth"
	"github.com/filegate/filegate/internal/motoserver"
)

func client(t *testing.T) *ssm.Client {
	return ssm.New(ssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(motoserver.Start(t)),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
}

func TestDocumentOnMoto(t *testing.T) {
	ctx := context.Background()
	d := NewDocument(client(t), "/filegate/tokens")
	if b, v, err := d.Load(ctx, ""); b != nil || v != "" || err != nil {
		t.Fatalf("missing: %q %q %v", b, v, err)
	}
	v1, err := d.Save(ctx, []byte(`{"a":1}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Save(ctx, []byte(`{"a":2}`), ""); filegate.KindOf(err) != filegate.Conflict {
		t.Fatalf("create over an existing parameter: %v", err)
	}
	v2, err := d.Save(ctx, []byte(`{"a":3}`), v1)
	if err != nil || v2 == v1 {
		t.Fatalf("update: %q %v", v2, err)
	}
	if _, err := d.Save(ctx, []byte(`{"a":4}`), v1); filegate.KindOf(err) != filegate.Conflict {
		t.Fatalf("a stale update: %v", err)
	}
	if b, v, _ := d.Load(ctx, v2); b != nil || v != v2 {
		t.Fatalf("unchanged: %q %q", b, v)
	}
	if b, _, _ := d.Load(ctx, ""); string(b) != `{"a":3}` {
		t.Fatalf("content %q", b)
	}
}

// The token store over an SSM parameter: tokens made by one instance are
// honoured by another, and a revocation reaches it within the cache TTL.
func TestTokensInSSM(t *testing.T) {
	c := client(t)
	a := auth.OpenDocument(NewDocument(c, "/filegate/tokens"), 200*time.Millisecond)
	b := auth.OpenDocument(NewDocument(c, "/filegate/tokens"), 200*time.Millisecond)
	tok, _, err := a.Create(auth.NewSpec{Name: "alice", Actions: []filegate.Action{filegate.ActDownload}, Prefix: "users/alice/"})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := b.Authenticate(tok); err != nil || p.Name != "alice" {
		t.Fatalf("the other instance: %v", err)
	}
	if _, err := a.Revoke("alice"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	if _, err := b.Authenticate(tok); err == nil {
		t.Fatal("a revoked token is honoured after the TTL")
	}
	// Sequential writers from both instances lose nothing.
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			inst := a
			if i%2 == 1 {
				inst = b
			}
			if _, _, err := inst.Create(auth.NewSpec{Name: "t", Actions: []filegate.Action{filegate.ActList}}); err != nil {
				t.Error(err)
			}
		})
		wg.Wait() // SSM has no conditional write: concurrent writers may lose one (documented)
	}
	recs, err := a.List()
	if err != nil || len(recs) != 6 {
		t.Fatalf("%d tokens, want 6 (%v)", len(recs), err)
	}
}

func TestSecretRotation(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	put := func(v string) {
		if _, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/seed/secret"), Value: aws.String(v), Type: types.ParameterTypeSecureString, Overwrite: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
	put("first-secret")
	s := NewSecret(c, "/seed/secret", time.Hour)
	if ok, err := s.Matches(ctx, "first-secret"); !ok || err != nil {
		t.Fatalf("first: %v %v", ok, err)
	}
	if ok, _ := s.Matches(ctx, "wrong"); ok {
		t.Fatal("a wrong secret matches")
	}
	put("second-secret")
	time.Sleep(1100 * time.Millisecond) // a mismatch re-reads at most once a second
	if ok, err := s.Matches(ctx, "second-secret"); !ok || err != nil {
		t.Fatalf("after rotation: %v %v", ok, err)
	}
	if ok, _ := s.Matches(ctx, "first-secret"); ok {
		t.Fatal("the old secret still matches after rotation")
	}
	// As an authenticator: the secret stands for list and download on the
	// whole bucket; filegate tokens go to the store.
	ss := auth.SharedSecret{Secret: s, Next: auth.Open(t.TempDir() + "/tokens.json")}
	p, err := ss.Authenticate("second-secret")
	if err != nil || p.Prefix != "" || !p.Can(filegate.ActDownload) || p.Can(filegate.ActUpload) {
		t.Fatalf("shared secret principal %+v %v", p, err)
	}
	if _, err := ss.Authenticate("fg_0123456789abcdef_nope"); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Fatalf("a bad filegate token: %v", err)
	}
}
