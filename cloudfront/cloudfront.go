// Package cloudfront signs CloudFront grants: signed URLs for one object
// (canned policy, or a custom policy with an IP range and a start time) and
// signed cookies covering a key prefix (custom policy with one wildcard),
// so that bytes go from a CloudFront distribution in front of the bucket.
// Signing is aws-sdk-go-v2's feature/cloudfront/sign (RSA-SHA1 and
// CloudFront's URL-safe base64, as CloudFront requires).
package cloudfront

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

// Config describes the distribution.
type Config struct {
	Domain string // the distribution's host name, such as d111111abcdef8.cloudfront.net
	KeyID  string // the public key's id in the distribution's key group
	Key    *rsa.PrivateKey
	// PathPrefix is the path the distribution maps onto the bucket's root:
	// key K is served at https://Domain/PathPrefix+K ("" when the origin
	// path is the bucket root).
	PathPrefix string
	// CookieDomain scopes the signed cookies (default Domain).
	CookieDomain string
}

// Signer signs URLs and cookies. It is safe for concurrent use.
type Signer struct {
	cfg     Config
	urls    *sign.URLSigner
	cookies *sign.CookieSigner
}

// New returns a Signer.
func New(cfg Config) (*Signer, error) {
	switch {
	case cfg.Domain == "" || strings.ContainsAny(cfg.Domain, "/:*? "):
		return nil, fmt.Errorf("cloudfront: domain %q: want a host name", cfg.Domain)
	case cfg.KeyID == "":
		return nil, errors.New("cloudfront: no key id")
	case cfg.Key == nil:
		return nil, errors.New("cloudfront: no private key")
	case strings.ContainsAny(cfg.PathPrefix, "*?") || strings.HasPrefix(cfg.PathPrefix, "/"):
		return nil, fmt.Errorf("cloudfront: path prefix %q: no leading slash, no wildcards", cfg.PathPrefix)
	}
	if cfg.CookieDomain == "" {
		cfg.CookieDomain = cfg.Domain
	}
	return &Signer{cfg: cfg, urls: sign.NewURLSigner(cfg.KeyID, cfg.Key), cookies: sign.NewCookieSigner(cfg.KeyID, cfg.Key)}, nil
}

// Conditions narrow a signed URL: with either set, a custom policy is used.
type Conditions struct {
	SourceIP  string    // CIDR, such as 192.0.2.0/24
	NotBefore time.Time // the URL does not work before this time
}

// ObjectURL is the unsigned URL of key on the distribution.
func (s *Signer) ObjectURL(key string) string {
	return "https://" + s.cfg.Domain + "/" + escapePath(s.cfg.PathPrefix+key)
}

// escapePath escapes each segment of a key, keeping the slashes.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// SignURL signs a GET of key until expires. disposition, when set, asks the
// origin for that Content-Disposition (the distribution must forward the
// response-content-disposition query string to S3).
func (s *Signer) SignURL(key, disposition string, expires time.Time, c Conditions) (string, error) {
	u := s.ObjectURL(key)
	if disposition != "" {
		u += "?response-content-disposition=" + url.QueryEscape(disposition)
	}
	if c.SourceIP == "" && c.NotBefore.IsZero() {
		return s.urls.Sign(u, expires) // canned policy
	}
	st := sign.Statement{Resource: u, Condition: sign.Condition{DateLessThan: sign.NewAWSEpochTime(expires)}}
	if c.SourceIP != "" {
		st.Condition.IPAddress = &sign.IPAddress{SourceIP: c.SourceIP}
	}
	if !c.NotBefore.IsZero() {
		st.Condition.DateGreaterThan = sign.NewAWSEpochTime(c.NotBefore)
	}
	return s.urls.SignWithPolicy(u, &sign.Policy{Statements: []sign.Statement{st}})
}

// Cookies are signed cookies' values and what they cover.
type Cookies struct {
	Policy, Signature, KeyPairID string
	Resource                     string // the policy's resource, ending in one "*"
	Domain                       string
	Expires                      time.Time
}

// SignCookies signs cookies covering every key under prefix until expires.
// The resource is the prefix followed by exactly one "*": a prefix
// "users/alice/" covers users/alice/… and never users/alice2/. A prefix
// holding CloudFront's wildcards (* ?) would widen the grant and is refused.
func (s *Signer) SignCookies(prefix string, expires time.Time) (Cookies, error) {
	if strings.ContainsAny(prefix, "*?") {
		return Cookies{}, errors.New("cloudfront: a prefix holding * or ? cannot be expressed in a policy")
	}
	resource := "https://" + s.cfg.Domain + "/" + escapePath(s.cfg.PathPrefix+prefix) + "*"
	p := &sign.Policy{Statements: []sign.Statement{{Resource: resource, Condition: sign.Condition{DateLessThan: sign.NewAWSEpochTime(expires)}}}}
	cs, err := s.cookies.SignWithPolicy(p)
	if err != nil {
		return Cookies{}, err
	}
	out := Cookies{Resource: resource, Domain: s.cfg.CookieDomain, Expires: expires}
	for _, c := range cs {
		switch c.Name {
		case sign.CookiePolicyName:
			out.Policy = c.Value
		case sign.CookieSignatureName:
			out.Signature = c.Value
		case sign.CookieKeyIDName:
			out.KeyPairID = c.Value
		}
	}
	return out, nil
}

// LengthParam is the query parameter of a CloudFront PUT URL that carries
// the exact body length. It is part of the signed resource, so a client
// cannot change it; the distribution's viewer-request function
// (deploy/template.yaml) refuses a PUT whose Content-Length differs, and
// removes the parameter before the request reaches the bucket.
const LengthParam = "x-filegate-length"

// SignPut signs a PUT of exactly size bytes to key until expires (custom
// policy on the one URL). CloudFront signatures do not cover the method or
// the body: the length is enforced by the distribution's function, which
// must be deployed with the distribution (see docs/cloudfront.md).
func (s *Signer) SignPut(key string, size int64, expires time.Time) (string, error) {
	u := s.ObjectURL(key) + "?" + LengthParam + "=" + fmt.Sprint(size)
	p := &sign.Policy{Statements: []sign.Statement{{Resource: u, Condition: sign.Condition{DateLessThan: sign.NewAWSEpochTime(expires)}}}}
	return s.urls.SignWithPolicy(u, p)
}

// Domain is the distribution's host name.
func (s *Signer) Domain() string { return s.cfg.Domain }
