// Package params keeps filegate's small shared state in AWS Systems Manager
// Parameter Store: the token document (a SecureString holding the token
// records) and secrets read with a cache (seed 001's shared secret).
package params

import (
	"context"
	"crypto/subtle"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/filegate/filegate"
)

// API is the part of the SSM client filegate uses.
type API interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

// Document is a SecureString parameter used as the token document. SSM
// has no conditional write: Save checks the version just before writing
// and reports a Conflict when it moved, which narrows, but cannot close,
// the window in which two concurrent writers lose one update. Token
// changes are rare administrative acts; use an s3:// document where
// several writers act at once.
type Document struct {
	api  API
	name string
}

// NewDocument returns the parameter name as a Document.
func NewDocument(api API, name string) *Document { return &Document{api: api, name: name} }

func (d *Document) String() string { return "ssm:" + d.name }

func notFound(err error) bool {
	var nf *types.ParameterNotFound
	return errors.As(err, &nf)
}

// Load returns the parameter's value and version.
func (d *Document) Load(ctx context.Context, known string) ([]byte, string, error) {
	out, err := d.api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(d.name), WithDecryption: aws.Bool(true)})
	if notFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	v := strconv.FormatInt(out.Parameter.Version, 10)
	if v == known {
		return nil, known, nil
	}
	return []byte(aws.ToString(out.Parameter.Value)), v, nil
}

// Save writes the value if the version is still version.
func (d *Document) Save(ctx context.Context, content []byte, version string) (string, error) {
	const op = "params.Document.Save"
	_, cur, err := d.Load(ctx, "\x00") // never a real version: always read
	if err != nil {
		return "", err
	}
	if cur != version {
		return "", filegate.NewError(filegate.Conflict, op, "", "the parameter changed")
	}
	tier := types.ParameterTierStandard
	if len(content) > 4096 {
		tier = types.ParameterTierAdvanced // up to 8 KB
	}
	out, err := d.api.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(d.name), Value: aws.String(string(content)), Type: types.ParameterTypeSecureString,
		Overwrite: aws.Bool(version != ""), Tier: tier,
	})
	if err != nil {
		var exists *types.ParameterAlreadyExists
		if errors.As(err, &exists) {
			return "", filegate.NewError(filegate.Conflict, op, "", "the parameter was created meanwhile")
		}
		return "", err
	}
	return strconv.FormatInt(out.Version, 10), nil
}

// Secret is a SecureString read through a cache: at most every TTL, and
// again (at most once a second) when a presented value does not match, so
// that a rotated secret is honoured at once.
type Secret struct {
	api  API
	name string
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	value   string
	fetched time.Time
}

// NewSecret returns the parameter name as a cached Secret (ttl 0: 60 s).
func NewSecret(api API, name string, ttl time.Duration) *Secret {
	if ttl <= 0 {
		ttl = time.Minute
	}
	return &Secret{api: api, name: name, ttl: ttl, now: time.Now}
}

func (s *Secret) fetch(ctx context.Context) error {
	out, err := s.api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(s.name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return err
	}
	s.value, s.fetched = aws.ToString(out.Parameter.Value), s.now()
	return nil
}

// Matches reports whether presented is the secret, comparing in constant
// time.
func (s *Secret) Matches(ctx context.Context, presented string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	age := s.now().Sub(s.fetched)
	if s.fetched.IsZero() || age >= s.ttl {
		if err := s.fetch(ctx); err != nil {
			return false, err
		}
		age = 0
	}
	eq := func() bool {
		return s.value != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(s.value)) == 1
	}
	if eq() {
		return true, nil
	}
	if age >= time.Second { // perhaps rotated since the last read
		if err := s.fetch(ctx); err != nil {
			return false, err
		}
		return eq(), nil
	}
	return false, nil
}
