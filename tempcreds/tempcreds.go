// Package tempcreds hands callers temporary store credentials (STS
// AssumeRole) confined to their scope, for clients that want to use an S3
// SDK or the aws CLI directly: an inline session policy intersects the
// role's permissions with the caller's bucket, key prefix and actions, and
// the lifetime is bounded by the caller's token and the role's maximum.
package tempcreds

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/filegate/filegate"
)

// STS's limits on AssumeRole.
const (
	MinDuration = 15 * time.Minute // STS refuses shorter sessions
	// MaxPolicySize is the longest inline session policy AssumeRole takes
	// (packed by Amazon; MinIO takes the same 2,048 characters).
	MaxPolicySize = 2048
)

// Assumer asks a store's STS for credentials (package store implements it).
type Assumer interface {
	AssumeRole(ctx context.Context, req filegate.AssumeRequest) (filegate.TempCredentials, error)
}

// Config describes the store the credentials are for.
type Config struct {
	RoleARN  string // required on Amazon; MinIO ignores it
	Bucket   string
	Region   string
	Endpoint string // what clients use to reach the store ("" for Amazon S3)
	// MaxDuration is the role's maximum session (default 1 h); Default is
	// the lifetime when a request names none (default 1 h, at most Max).
	MaxDuration time.Duration
	Default     time.Duration
	// Unavailable, when set, is why this deployment issues no credentials
	// (answered 501), such as "the embedded store has no STS".
	Unavailable string
}

// Service issues credentials. It is safe for concurrent use.
type Service struct {
	sts Assumer
	cfg Config
	now func() time.Time
}

// New returns a Service; a nil Assumer answers every request with 501.
func New(a Assumer, cfg Config) *Service {
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = time.Hour
	}
	if cfg.Default <= 0 || cfg.Default > cfg.MaxDuration {
		cfg.Default = min(time.Hour, cfg.MaxDuration)
	}
	if a == nil && cfg.Unavailable == "" {
		cfg.Unavailable = "this store offers no temporary credentials"
	}
	return &Service{sts: a, cfg: cfg, now: time.Now}
}

// Issued are credentials and where to use them.
type Issued struct {
	filegate.TempCredentials
	Region   string
	Endpoint string
	Bucket   string
	Prefix   string
}

// Issue returns credentials confined to p's scope, valid for expiresIn (0:
// the default), never past p's own expiry nor the role's maximum.
func (s *Service) Issue(ctx context.Context, p *filegate.Principal, expiresIn time.Duration) (Issued, error) {
	const op = "tempcreds.Issue"
	if s.sts == nil || s.cfg.Unavailable != "" {
		return Issued{}, filegate.NewError(filegate.NotImplemented, op, "sts_unavailable", s.cfg.Unavailable)
	}
	policy, err := Policy(s.cfg.Bucket, p.Prefix, p)
	if err != nil {
		return Issued{}, err
	}
	d := expiresIn
	if d == 0 {
		d = s.cfg.Default
	}
	if d < MinDuration {
		return Issued{}, filegate.NewError(filegate.Invalid, op, "invalid_expiry", "expires_in must be at least 900 seconds (STS's shortest session)")
	}
	d = min(d, s.cfg.MaxDuration)
	if !p.Expires.IsZero() {
		left := p.Expires.Sub(s.now()).Truncate(time.Second)
		if left < MinDuration {
			return Issued{}, filegate.NewError(filegate.Forbidden, op, "token_expires_too_soon",
				"the token expires in less than 15 minutes, STS's shortest session: credentials would outlive it")
		}
		d = min(d, left)
	}
	creds, err := s.sts.AssumeRole(ctx, filegate.AssumeRequest{
		RoleARN: s.cfg.RoleARN, SessionName: SessionName(p.Name), Policy: policy, Duration: d,
	})
	if err != nil {
		return Issued{}, err
	}
	return Issued{TempCredentials: creds, Region: s.cfg.Region, Endpoint: s.cfg.Endpoint, Bucket: s.cfg.Bucket, Prefix: p.Prefix}, nil
}

// SessionName makes a role session name from a principal's name: STS takes
// 2 to 64 characters of [A-Za-z0-9+=,.@-]; it shows in CloudTrail.
func SessionName(name string) string {
	var b strings.Builder
	b.WriteString("filegate-")
	for _, r := range name {
		if b.Len() >= 64 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("+=,.@-", r):
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// statement and document are an IAM policy, written compactly: STS counts
// the characters of the inline policy.
type statement struct {
	Effect    string         `json:"Effect"`
	Action    []string       `json:"Action"`
	Resource  string         `json:"Resource"`
	Condition map[string]any `json:"Condition,omitempty"`
}

type document struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

// Policy is the session policy for a caller with prefix and p's actions on
// bucket: list maps to s3:ListBucket with an s3:prefix condition; download
// to s3:GetObject; upload to s3:PutObject and the multipart part actions.
// The object resource and the prefix condition end in exactly one "*"
// after the prefix, so "users/alice/" never matches "users/alice2/". A
// prefix holding IAM's wildcard or variable characters (* ? $) cannot be
// expressed and is refused rather than widened.
func Policy(bucket, prefix string, p *filegate.Principal) (string, error) {
	const op = "tempcreds.Policy"
	if strings.ContainsAny(prefix, "*?$") {
		return "", filegate.NewError(filegate.Invalid, op, "prefix_not_expressible",
			"the token's prefix holds *, ? or $, which an IAM policy would read as wildcards; no credentials are issued for it")
	}
	if strings.ContainsAny(bucket, "*?$/") || bucket == "" {
		return "", fmt.Errorf("tempcreds: bucket %q", bucket)
	}
	objects := "arn:aws:s3:::" + bucket + "/" + prefix + "*"
	var doc document
	doc.Version = "2012-10-17"
	if p.Can(filegate.ActList) {
		st := statement{Effect: "Allow", Action: []string{"s3:ListBucket"}, Resource: "arn:aws:s3:::" + bucket}
		if prefix != "" {
			st.Condition = map[string]any{"StringLike": map[string][]string{"s3:prefix": {prefix + "*"}}}
		}
		doc.Statement = append(doc.Statement, st)
	}
	var objActions []string
	if p.Can(filegate.ActDownload) {
		objActions = append(objActions, "s3:GetObject")
	}
	if p.Can(filegate.ActUpload) {
		objActions = append(objActions, "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
	}
	if len(objActions) > 0 {
		doc.Statement = append(doc.Statement, statement{Effect: "Allow", Action: objActions, Resource: objects})
	}
	if len(doc.Statement) == 0 {
		return "", filegate.NewError(filegate.Forbidden, op, "action_not_allowed", "the token may not list, download or upload: no store credentials can serve it")
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return "", err
	}
	b := strings.TrimSuffix(buf.String(), "\n")
	if len(b) > MaxPolicySize {
		return "", filegate.NewError(filegate.Invalid, op, "prefix_too_long", "the token's prefix makes a session policy longer than STS takes (2,048 characters)")
	}
	return b, nil
}
