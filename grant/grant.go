// Package grant hands out short-lived signed grants (presigned URLs) so that
// bytes go straight between clients and the store. Every grant is confined to
// the caller's scope and its expiry is bounded: by the configured maximum
// (never above 7 days, the SigV4 limit) and by the lifetime of the
// credentials that sign it.
package grant

import (
	"context"
	"mime"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/cloudfront"
)

// MaxExpiry is the longest a SigV4 presigned URL may be valid.
const MaxExpiry = 7 * 24 * time.Hour

// Limits bound the grants the service hands out.
type Limits struct {
	DefaultExpiry time.Duration // used when a request names none; default 15 min
	MaxExpiry     time.Duration // requests above it are refused; default and cap 7 days
}

// Service signs grants. It is safe for concurrent use.
type Service struct {
	src    filegate.Bucket
	limits Limits
	now    func() time.Time
	cdn    *cloudfront.Signer
	viaCDN bool // downloads go through the CDN unless a request says "s3"
}

// WithCDN makes s sign downloads through a CloudFront distribution when a
// request asks for it, or by default when byDefault is set; it also enables
// Cookies. Call it before s is used.
func (s *Service) WithCDN(c *cloudfront.Signer, byDefault bool) *Service {
	s.cdn, s.viaCDN = c, byDefault
	return s
}

// New returns a Service signing with st. Zero limits take their defaults.
func New(src filegate.Bucket, l Limits) *Service {
	if l.MaxExpiry <= 0 || l.MaxExpiry > MaxExpiry {
		l.MaxExpiry = MaxExpiry
	}
	if l.DefaultExpiry <= 0 {
		l.DefaultExpiry = 15 * time.Minute
	}
	if l.DefaultExpiry > l.MaxExpiry {
		l.DefaultExpiry = l.MaxExpiry
	}
	return &Service{src: src, limits: l, now: time.Now}
}

// Limits returns the limits in force.
func (s *Service) Limits() Limits { return s.limits }

// Expiry resolves a requested expiry (0 = default) against the limits and the
// lifetime of the signing credentials.
func (s *Service) Expiry(ctx context.Context, op string, requested time.Duration) (time.Duration, error) {
	d := requested
	switch {
	case d == 0:
		d = s.limits.DefaultExpiry
	case d < time.Second:
		return 0, filegate.NewError(filegate.Invalid, op, "invalid_expiry", "expires_in must be at least 1 second")
	case d > s.limits.MaxExpiry:
		return 0, filegate.NewError(filegate.Invalid, op, "invalid_expiry",
			"expires_in exceeds the maximum of "+s.limits.MaxExpiry.String())

	}
	credsEnd, err := s.src.CredentialsExpiry(ctx)
	if err != nil {
		return 0, err
	}
	if !credsEnd.IsZero() {
		left := credsEnd.Sub(s.now()).Truncate(time.Second)
		if left < time.Second {
			return 0, filegate.NewError(filegate.Unavailable, op, "", "signing credentials have expired")
		}
		d = min(d, left)
	}
	return d, nil
}

// DownloadRequest asks for a download grant.
type DownloadRequest struct {
	Key         string
	ExpiresIn   time.Duration // 0: default
	Filename    string        // file name the browser saves under; "" keeps the key's
	Disposition string        // "attachment" or "inline"; "" with a Filename means attachment
	// SkipCheck signs without checking that the object exists (no HEAD);
	// Size and ETag are then unknown.
	SkipCheck bool
	// Via is "s3" (a presigned S3 URL), "cloudfront" (a CloudFront signed
	// URL), or "" for the server's default.
	Via string
	// SourceIP and NotBefore narrow a CloudFront URL (custom policy).
	SourceIP  string
	NotBefore time.Time
}

// Download is a signed download grant.
type Download struct {
	URL       string
	Method    string
	ExpiresAt time.Time
	Size      int64
	ETag      string
}

// Download checks that p may read the key, that the object exists (NotFound
// otherwise, with no URL), and signs a GET.
func (s *Service) Download(ctx context.Context, p *filegate.Principal, req DownloadRequest) (Download, error) {
	const op = "grant.Download"
	if err := filegate.ValidateKey(op, req.Key); err != nil {
		return Download{}, err
	}
	if err := p.Authorize(op, filegate.ActDownload, req.Key); err != nil {
		return Download{}, err
	}
	disp, err := contentDisposition(op, req.Disposition, req.Filename)
	if err != nil {
		return Download{}, err
	}
	cdn, err := s.via(op, req)
	if err != nil {
		return Download{}, err
	}
	exp, err := s.Expiry(ctx, op, req.ExpiresIn)
	if err != nil {
		return Download{}, err
	}
	var info filegate.ObjectInfo
	if !req.SkipCheck {
		info, err = s.src.Head(ctx, req.Key)
		if err != nil {
			return Download{}, err
		}
	}
	if cdn {
		expires := s.now().Add(exp).Truncate(time.Second)
		u, err := s.cdn.SignURL(req.Key, disp, expires, cloudfront.Conditions{SourceIP: req.SourceIP, NotBefore: req.NotBefore})
		if err != nil {
			return Download{}, filegate.NewError(filegate.Internal, op, "", "").Wrap(err)
		}
		return Download{URL: u, Method: "GET", ExpiresAt: expires, Size: info.Size, ETag: info.ETag}, nil
	}
	g, err := s.src.PresignGet(ctx, req.Key, filegate.GetOptions{Expires: exp, ContentDisposition: disp})
	if err != nil {
		return Download{}, err
	}
	return Download{URL: g.URL, Method: g.Method, ExpiresAt: g.Expires, Size: info.Size, ETag: info.ETag}, nil
}

// via resolves where a download goes: true for the CDN.
func (s *Service) via(op string, req DownloadRequest) (bool, error) {
	var cdn bool
	switch req.Via {
	case "":
		cdn = s.viaCDN
	case "s3":
	case "cloudfront":
		if s.cdn == nil {
			return false, filegate.NewError(filegate.NotImplemented, op, "cloudfront_unavailable", "no CloudFront distribution is configured (serve --cloudfront-domain)")
		}
		cdn = true
	default:
		return false, filegate.NewError(filegate.Invalid, op, "invalid_via", `via must be "s3" or "cloudfront"`)
	}
	if !cdn && (req.SourceIP != "" || !req.NotBefore.IsZero()) {
		return false, filegate.NewError(filegate.Invalid, op, "invalid_condition", "source_ip and not_before apply to CloudFront URLs only")
	}
	if req.SourceIP != "" {
		if _, err := netip.ParsePrefix(req.SourceIP); err != nil {
			return false, filegate.NewError(filegate.Invalid, op, "invalid_source_ip", "source_ip must be a CIDR range, such as 192.0.2.0/24")
		}
	}
	return cdn, nil
}

// CookieRequest asks for CloudFront signed cookies.
type CookieRequest struct {
	Prefix    string // "" for the caller's whole prefix; must lie inside it
	ExpiresIn time.Duration
}

// Cookies signs CloudFront cookies covering every key under a prefix inside
// the caller's scope, so that a browser fetches many files with one grant.
func (s *Service) Cookies(ctx context.Context, p *filegate.Principal, req CookieRequest) (cloudfront.Cookies, error) {
	const op = "grant.Cookies"
	if s.cdn == nil {
		return cloudfront.Cookies{}, filegate.NewError(filegate.NotImplemented, op, "cloudfront_unavailable", "no CloudFront distribution is configured (serve --cloudfront-domain)")
	}
	prefix := req.Prefix
	if prefix == "" {
		prefix = p.Prefix
	}
	if err := filegate.ValidatePrefix(op, prefix); err != nil {
		return cloudfront.Cookies{}, err
	}
	if err := p.Authorize(op, filegate.ActDownload, prefix); err != nil {
		return cloudfront.Cookies{}, err
	}
	if strings.ContainsAny(prefix, "*?") {
		return cloudfront.Cookies{}, filegate.NewError(filegate.Invalid, op, "prefix_not_expressible", "a prefix holding * or ? would widen a CloudFront policy")
	}
	exp, err := s.Expiry(ctx, op, req.ExpiresIn)
	if err != nil {
		return cloudfront.Cookies{}, err
	}
	c, err := s.cdn.SignCookies(prefix, s.now().Add(exp).Truncate(time.Second))
	if err != nil {
		return cloudfront.Cookies{}, filegate.NewError(filegate.Internal, op, "", "").Wrap(err)
	}
	return c, nil
}

// contentDisposition builds the response-content-disposition value. Non-ASCII
// names are encoded as RFC 2231/5987 filename* by mime.FormatMediaType.
func contentDisposition(op, disposition, filename string) (string, error) {
	switch disposition {
	case "", "attachment", "inline":
	default:
		return "", filegate.NewError(filegate.Invalid, op, "invalid_disposition", `disposition must be "attachment" or "inline"`)
	}
	if filename == "" {
		if disposition == "" {
			return "", nil
		}
		return disposition, nil
	}
	if disposition == "" {
		disposition = "attachment"
	}
	if len(filename) > 255 || !utf8.ValidString(filename) {
		return "", filegate.NewError(filegate.Invalid, op, "invalid_filename", "filename must be UTF-8 and at most 255 bytes")
	}
	// Browsers save under this name: no separators, drive letters, control
	// or bidi characters, leading spaces or device names.
	if filename = filegate.SafeName(filename); filename == "" {
		return "", filegate.NewError(filegate.Invalid, op, "invalid_filename", "filename has no usable characters")
	}
	v := mime.FormatMediaType(disposition, map[string]string{"filename": filename})
	if v == "" {
		return "", filegate.NewError(filegate.Invalid, op, "invalid_filename", "filename cannot be encoded")
	}
	return v, nil
}
