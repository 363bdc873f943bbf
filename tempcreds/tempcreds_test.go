package tempcreds

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate"
)

func principal(prefix string, acts ...filegate.Action) *filegate.Principal {
	return &filegate.Principal{ID: "t1", Name: "alice smith", Prefix: prefix, Actions: acts}
}

func TestPolicyConfinesToThePrefix(t *testing.T) {
	pol, err := Policy("files", "users/alice/", principal("users/alice/", filegate.ActList, filegate.ActDownload, filegate.ActUpload))
	if err != nil {
		t.Fatal(err)
	}
	var doc document
	if err := json.Unmarshal([]byte(pol), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) != 2 {
		t.Fatalf("policy %s", pol)
	}
	list, objs := doc.Statement[0], doc.Statement[1]
	if list.Resource != "arn:aws:s3:::files" || strings.Join(list.Action, ",") != "s3:ListBucket" {
		t.Fatalf("list statement %+v", list)
	}
	cond, _ := json.Marshal(list.Condition)
	if string(cond) != `{"StringLike":{"s3:prefix":["users/alice/*"]}}` {
		t.Fatalf("list condition %s", cond)
	}
	// One wildcard, after the whole prefix: users/alice2/ is not matched.
	if objs.Resource != "arn:aws:s3:::files/users/alice/*" {
		t.Fatalf("object resource %s", objs.Resource)
	}
	if strings.Join(objs.Action, ",") != "s3:GetObject,s3:PutObject,s3:AbortMultipartUpload,s3:ListMultipartUploadParts" {
		t.Fatalf("object actions %v", objs.Action)
	}
	if strings.ContainsAny(pol, " \n") {
		t.Fatalf("policy is not compact: %q", pol)
	}
}

func TestPolicyActions(t *testing.T) {
	pol, err := Policy("files", "", principal("", filegate.ActDownload))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(pol, "PutObject") || strings.Contains(pol, "ListBucket") || !strings.Contains(pol, `"arn:aws:s3:::files/*"`) {
		t.Fatalf("download-only policy %s", pol)
	}
	if _, err := Policy("files", "p/", principal("p/", filegate.ActBundle, filegate.ActCaption)); filegate.KindOf(err) != filegate.Forbidden {
		t.Fatalf("bundle/caption only: %v, want forbidden", err)
	}
	// Admin implies list, download and upload, nothing more (no delete).
	pol, _ = Policy("files", "", principal("", filegate.ActAdmin))
	if !strings.Contains(pol, "s3:PutObject") || strings.Contains(pol, "Delete") || strings.Contains(pol, `"s3:*"`) {
		t.Fatalf("admin policy %s", pol)
	}
}

func TestPolicyRefusesWhatItCannotExpress(t *testing.T) {
	for _, prefix := range []string{"users/*/", "a?b/", "${aws:username}/"} {
		if _, err := Policy("files", prefix, principal(prefix, filegate.ActDownload)); filegate.KindOf(err) != filegate.Invalid {
			t.Errorf("prefix %q: %v, want invalid", prefix, err)
		}
	}
	long := strings.Repeat("a", 1000) + "/"
	if _, err := Policy("files", long, principal(long, filegate.ActList, filegate.ActDownload)); filegate.KindOf(err) != filegate.Invalid {
		t.Errorf("a policy over 2,048 characters: %v", err)
	}
	pol, err := Policy("files", strings.Repeat("a", 700)+"/", principal("", filegate.ActList, filegate.ActDownload, filegate.ActUpload))
	if err != nil || len(pol) > MaxPolicySize {
		t.Fatalf("a 701-character prefix: %d characters, %v", len(pol), err)
	}
}

// recorder is an Assumer that records what it was asked: service logic only;
// enforcement is tested against MinIO in cmd/filegate.
type recorder struct{ got filegate.AssumeRequest }

func (r *recorder) AssumeRole(_ context.Context, req filegate.AssumeRequest) (filegate.TempCredentials, error) {
	r.got = req
	return filegate.TempCredentials{AccessKeyID: "AK", Expires: time.Now().Add(req.Duration)}, nil
}

func TestIssueBoundsTheLifetime(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := &recorder{}
	s := New(rec, Config{Bucket: "files", MaxDuration: 2 * time.Hour, RoleARN: "arn:aws:iam::1:role/r"})
	s.now = func() time.Time { return now }
	p := principal("u/", filegate.ActDownload)
	cases := []struct {
		ask, want time.Duration
		expires   time.Time
	}{
		{0, time.Hour, time.Time{}},                                    // the default
		{30 * time.Minute, 30 * time.Minute, time.Time{}},              // asked
		{5 * time.Hour, 2 * time.Hour, time.Time{}},                    // the role's maximum
		{time.Hour, 20 * time.Minute, now.Add(20*time.Minute + 500e6)}, // the token's expiry
	}
	for _, c := range cases {
		p.Expires = c.expires
		if _, err := s.Issue(context.Background(), p, c.ask); err != nil {
			t.Fatal(err)
		}
		if rec.got.Duration != c.want {
			t.Errorf("asked %v (token expiry %v): %v, want %v", c.ask, c.expires, rec.got.Duration, c.want)
		}
	}
	if rec.got.RoleARN != "arn:aws:iam::1:role/r" || rec.got.SessionName != "filegate-alice-smith" {
		t.Fatalf("request %+v", rec.got)
	}
	p.Expires = now.Add(10 * time.Minute)
	if _, err := s.Issue(context.Background(), p, 0); filegate.KindOf(err) != filegate.Forbidden {
		t.Fatalf("a token expiring within STS's 15-minute floor: %v", err)
	}
	p.Expires = time.Time{}
	if _, err := s.Issue(context.Background(), p, 10*time.Minute); filegate.KindOf(err) != filegate.Invalid {
		t.Fatalf("10 minutes: %v", err)
	}
	if _, err := New(nil, Config{Unavailable: "no STS here"}).Issue(context.Background(), p, 0); filegate.KindOf(err) != filegate.NotImplemented {
		t.Fatalf("no STS: %v", err)
	}
}
