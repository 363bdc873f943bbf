// Package upload signs uploads that go straight from clients to the store:
// single presigned PUTs whose content type and exact length are signed,
// resumable multipart sessions whose part URLs are signed in batches on
// demand, and browser POST policies whose conditions the store enforces.
//
// A multipart session id is opaque, sealed with AES-GCM, and bound to its
// key and to the principal that made it; the parts themselves live in the
// filegate. filegate keeps no session state, so sessions survive restarts and
// any replica can serve them.
package upload

import (
	"context"
	"fmt"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/cloudfront"
	"github.com/filegate/filegate/grant"
)

// S3's limits.
const (
	MinPartSize   = 5 << 20
	MaxPartSize   = 5 << 30
	MaxParts      = 10000
	MaxObjectSize = 5 << 40
	MaxPutSize    = 5 << 30
	// MaxBatch is the most part URLs signed in one request.
	MaxBatch = 100
	// DefaultMaxObjectSize is the server-wide upload limit unless configured.
	DefaultMaxObjectSize = 100 << 30
	// MaxSessionAge is how long a multipart session can be resumed.
	MaxSessionAge = 7 * 24 * time.Hour
)

// Config tunes the service; zero values take the defaults.
type Config struct {
	Threshold   int64 // sizes above it use multipart; default 64 MiB, at most 5 GiB
	PartSize    int64 // smallest part size; default 8 MiB, at least 5 MiB
	FirstBatch  int   // part URLs signed with a new session; default 10
	MaxFormSize int64 // largest size a POST policy allows; default 5 GiB
	// MaxObjectSize is the server-wide limit on one uploaded object; a
	// token's own MaxSize may lower it. Default 100 GiB, at most 5 TiB.
	MaxObjectSize int64
}

// Service signs uploads. It is safe for concurrent use.
type Service struct {
	src    filegate.Bucket
	grants *grant.Service
	sealer *Sealer
	cfg    Config
	now    func() time.Time
	cdn    *cloudfront.Signer // uploads through CloudFront, when enabled
}

// WithCDN lets requests ask for single PUTs through a CloudFront
// distribution (Request.Via "cloudfront"). Call it before s is used.
func (s *Service) WithCDN(c *cloudfront.Signer) *Service {
	s.cdn = c
	return s
}

// New returns a Service.
func New(src filegate.Bucket, g *grant.Service, sealer *Sealer, cfg Config) (*Service, error) {
	if cfg.Threshold == 0 {
		cfg.Threshold = 64 << 20
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = 8 << 20
	}
	if cfg.FirstBatch == 0 {
		cfg.FirstBatch = 10
	}
	if cfg.MaxObjectSize == 0 {
		cfg.MaxObjectSize = DefaultMaxObjectSize
	}
	if cfg.MaxFormSize == 0 {
		cfg.MaxFormSize = MaxPutSize
	}
	switch {
	case cfg.Threshold < 0 || cfg.Threshold > MaxPutSize:
		return nil, fmt.Errorf("upload: threshold must be between 0 and 5 GiB")
	case cfg.PartSize < MinPartSize || cfg.PartSize > MaxPartSize:
		return nil, fmt.Errorf("upload: part size must be between 5 MiB and 5 GiB")
	case cfg.MaxObjectSize < 0 || cfg.MaxObjectSize > MaxObjectSize:
		return nil, fmt.Errorf("upload: the object size limit must be between 0 and 5 TiB")
	case cfg.FirstBatch < 0 || cfg.FirstBatch > MaxBatch:
		return nil, fmt.Errorf("upload: first batch must be between 0 and %d", MaxBatch)
	}
	return &Service{src: src, grants: g, sealer: sealer, cfg: cfg, now: time.Now}, nil
}

// Request asks to upload an object.
type Request struct {
	Key         string
	Size        int64
	ContentType string // default application/octet-stream
	Metadata    map[string]string
	ExpiresIn   time.Duration
	// Via "cloudfront" asks for a CloudFront signed PUT (one request, up to
	// 5 GiB) instead of a presigned S3 PUT or multipart session.
	Via string
}

// Put is a single presigned PUT: send Header with exactly Size bytes.
type Put struct {
	URL     string
	Method  string
	Header  map[string]string
	Expires time.Time
}

// PartURL is a presigned URL for one part.
type PartURL struct {
	Number int32
	URL    string
	Size   int64
}

// Multipart is a new multipart session.
type Multipart struct {
	ID        string
	PartSize  int64
	PartCount int32
	Parts     []PartURL
	Expires   time.Time
}

// Begin is the answer to Start: exactly one of Put and Multipart is set.
type Begin struct {
	Key       string
	Put       *Put
	Multipart *Multipart
}

// Start signs a single PUT for sizes up to the threshold, and opens a
// multipart session (with its first part URLs) above it.
func (s *Service) Start(ctx context.Context, p *filegate.Principal, req Request) (Begin, error) {
	const op = "upload.Start"
	if err := filegate.ValidateKey(op, req.Key); err != nil {
		return Begin{}, err
	}
	if err := p.Authorize(op, filegate.ActUpload, req.Key); err != nil {
		return Begin{}, err
	}
	if err := fileKey(op, req.Key); err != nil {
		return Begin{}, err
	}
	if req.Size < 0 {
		return Begin{}, filegate.NewError(filegate.Invalid, op, "invalid_size", "size must not be negative")
	}
	if limit := s.limit(p); req.Size > limit {
		return Begin{}, filegate.NewError(filegate.TooLarge, op, "object_too_large", fmt.Sprintf("size exceeds this token's upload limit of %d bytes", limit))
	}
	ct, err := contentType(op, req.ContentType)
	if err != nil {
		return Begin{}, err
	}
	if err := ValidateMetadata(op, req.Metadata); err != nil {
		return Begin{}, err
	}
	exp, err := s.grants.Expiry(ctx, op, req.ExpiresIn)
	if err != nil {
		return Begin{}, err
	}
	switch req.Via {
	case "", "s3":
	case "cloudfront":
		return s.cdnPut(op, req, ct, exp)
	default:
		return Begin{}, filegate.NewError(filegate.Invalid, op, "invalid_via", `via must be "s3" or "cloudfront"`)
	}
	if req.Size <= s.cfg.Threshold {
		g, err := s.src.PresignPut(ctx, req.Key, filegate.PutOptions{
			Expires: exp, ContentType: ct, ContentLength: req.Size, Metadata: req.Metadata,
		})
		if err != nil {
			return Begin{}, err
		}
		h := map[string]string{}
		for k, v := range g.Header {
			h[k] = strings.Join(v, ",")
		}
		h["Content-Length"] = fmt.Sprint(req.Size)
		h["Content-Type"] = ct
		return Begin{Key: req.Key, Put: &Put{URL: g.URL, Method: g.Method, Header: h, Expires: g.Expires}}, nil
	}
	partSize := PartSizeFor(req.Size, s.cfg.PartSize)
	uploadID, err := s.src.CreateUpload(ctx, req.Key, ct, req.Metadata)
	if err != nil {
		return Begin{}, err
	}
	sess := session{UploadID: uploadID, Key: req.Key, Owner: p.ID, Size: req.Size, PartSize: partSize, Created: s.now().Unix()}
	id, err := s.sealer.seal(sess)
	if err != nil {
		_ = s.src.AbortUpload(context.WithoutCancel(ctx), req.Key, uploadID)
		return Begin{}, err
	}
	count := partCount(sess)
	first := make([]int32, 0, s.cfg.FirstBatch)
	for n := int32(1); n <= count && len(first) < s.cfg.FirstBatch; n++ {
		first = append(first, n)
	}
	parts, expires, err := s.signParts(ctx, sess, first, exp)
	if err != nil {
		_ = s.src.AbortUpload(context.WithoutCancel(ctx), req.Key, uploadID)
		return Begin{}, err
	}
	if len(first) == 0 {
		expires = s.now().Add(exp)
	}
	return Begin{Key: req.Key, Multipart: &Multipart{ID: id, PartSize: partSize, PartCount: count, Parts: parts, Expires: expires}}, nil
}

// OpenRequest asks for a multipart session whose size is not declared
// (Uppy's S3 protocol sends none).
type OpenRequest struct {
	Key         string
	ContentType string
	Metadata    map[string]string
}

// StartOpen opens a multipart session of undeclared size. Its part URLs
// carry no signed length; the size limit is enforced on the stored parts
// when more URLs are signed and when the object is assembled (an oversized
// upload is aborted, never assembled).
func (s *Service) StartOpen(ctx context.Context, p *filegate.Principal, req OpenRequest) (id string, err error) {
	const op = "upload.StartOpen"
	if err := filegate.ValidateKey(op, req.Key); err != nil {
		return "", err
	}
	if err := p.Authorize(op, filegate.ActUpload, req.Key); err != nil {
		return "", err
	}
	if err := fileKey(op, req.Key); err != nil {
		return "", err
	}
	ct, err := contentType(op, req.ContentType)
	if err != nil {
		return "", err
	}
	if err := ValidateMetadata(op, req.Metadata); err != nil {
		return "", err
	}
	uploadID, err := s.src.CreateUpload(ctx, req.Key, ct, req.Metadata)
	if err != nil {
		return "", err
	}
	sess := session{UploadID: uploadID, Key: req.Key, Owner: p.ID, Size: openSize, PartSize: MinPartSize, Created: s.now().Unix()}
	id, err = s.sealer.seal(sess)
	if err != nil {
		_ = s.src.AbortUpload(context.WithoutCancel(ctx), req.Key, uploadID)
		return "", err
	}
	return id, nil
}

// Key returns the key of session id after checking that p owns it; it
// makes no store call.
func (s *Service) Key(p *filegate.Principal, id string) (string, error) {
	sess, err := s.session("upload.Key", p, id)
	if err != nil {
		return "", err
	}
	return sess.Key, nil
}

// cdnPut signs a single PUT through CloudFront; its length is in the signed
// URL and enforced by the distribution's function.
func (s *Service) cdnPut(op string, req Request, ct string, exp time.Duration) (Begin, error) {
	if s.cdn == nil {
		return Begin{}, filegate.NewError(filegate.NotImplemented, op, "cloudfront_unavailable", "uploads through CloudFront are not enabled (serve --cloudfront-uploads)")
	}
	if req.Size > MaxPutSize {
		return Begin{}, filegate.NewError(filegate.TooLarge, op, "object_too_large", "an upload through CloudFront is one PUT of at most 5 GiB")
	}
	if len(req.Metadata) > 0 {
		return Begin{}, filegate.NewError(filegate.Invalid, op, "invalid_metadata", "metadata is not carried by uploads through CloudFront")
	}
	expires := s.now().Add(exp).Truncate(time.Second)
	u, err := s.cdn.SignPut(req.Key, req.Size, expires)
	if err != nil {
		return Begin{}, filegate.NewError(filegate.Internal, op, "", "").Wrap(err)
	}
	h := map[string]string{"Content-Length": fmt.Sprint(req.Size), "Content-Type": ct}
	return Begin{Key: req.Key, Put: &Put{URL: u, Method: "PUT", Header: h, Expires: expires}}, nil
}

// Limit is the largest object p may upload: the server's limit, lowered
// by the token's own.
func (s *Service) Limit(p *filegate.Principal) int64 { return s.limit(p) }

func (s *Service) limit(p *filegate.Principal) int64 {
	if p.MaxSize > 0 {
		return min(p.MaxSize, s.cfg.MaxObjectSize)
	}
	return s.cfg.MaxObjectSize
}

// PartSizeFor chooses the part size for an object: at least min, and large
// enough (in whole MiB) that the object fits in 10,000 parts.
func PartSizeFor(size, min int64) int64 {
	ps := max(min, MinPartSize)
	if need := (size + MaxParts - 1) / MaxParts; need > ps {
		ps = (need + (1<<20 - 1)) &^ (1<<20 - 1)
	}
	return ps
}

// openSize marks a session whose size was not declared (Uppy's protocol
// sends none): its parts are signed without a length, and the size limit
// is checked against the stored parts when signing and completing.
const openSize = -1

func partCount(s session) int32 {
	if s.Size == openSize {
		return MaxParts
	}
	return int32((s.Size + s.PartSize - 1) / s.PartSize)
}

// partSize is the exact size of part n; -1 (unsigned) in an open session.
func partSize(s session, n int32) int64 {
	if s.Size == openSize {
		return -1
	}
	if n < partCount(s) {
		return s.PartSize
	}
	return s.Size - int64(n-1)*s.PartSize
}

func (s *Service) signParts(ctx context.Context, sess session, numbers []int32, exp time.Duration) ([]PartURL, time.Time, error) {
	out := make([]PartURL, 0, len(numbers))
	var expires time.Time
	for _, n := range numbers {
		g, err := s.src.PresignPart(ctx, sess.Key, sess.UploadID, n, partSize(sess, n), exp)
		if err != nil {
			return nil, time.Time{}, err
		}
		expires = g.Expires
		out = append(out, PartURL{Number: n, URL: g.URL, Size: partSize(sess, n)})
	}
	return out, expires, nil
}

// session opens id and checks that p owns it and may still upload to its key.
func (s *Service) session(op string, p *filegate.Principal, id string) (session, error) {
	sess, err := s.sealer.open(op, id)
	if err != nil {
		return session{}, err
	}
	if sess.Owner != p.ID {
		return session{}, filegate.NewError(filegate.Forbidden, op, "upload_not_yours", "this upload session belongs to another token")
	}
	if err := p.Authorize(op, filegate.ActUpload, sess.Key); err != nil {
		return session{}, err
	}
	if s.now().Sub(time.Unix(sess.Created, 0)) > MaxSessionAge {
		return session{}, filegate.NewError(filegate.Expired, op, "upload_expired", "this upload session is older than 7 days")
	}
	return sess, nil
}

// SignParts signs more part URLs for a session.
func (s *Service) SignParts(ctx context.Context, p *filegate.Principal, id string, numbers []int32, expiresIn time.Duration) ([]PartURL, time.Time, error) {
	const op = "upload.SignParts"
	sess, err := s.session(op, p, id)
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(numbers) == 0 || len(numbers) > MaxBatch {
		return nil, time.Time{}, filegate.NewError(filegate.Invalid, op, "invalid_parts", fmt.Sprintf("ask for 1 to %d part numbers", MaxBatch))
	}
	count := partCount(sess)
	for _, n := range numbers {
		if n < 1 || n > count {
			return nil, time.Time{}, filegate.NewError(filegate.Invalid, op, "invalid_parts", fmt.Sprintf("part numbers run from 1 to %d", count))
		}
	}
	exp, err := s.grants.Expiry(ctx, op, expiresIn)
	if err != nil {
		return nil, time.Time{}, err
	}
	// The upload must still exist: no URLs for a completed or aborted one.
	stored, err := s.src.ListParts(ctx, sess.Key, sess.UploadID)
	if err != nil {
		return nil, time.Time{}, err
	}
	if sess.Size == openSize {
		var total int64
		for _, sp := range stored {
			total += sp.Size
		}
		if limit := s.limit(p); total >= limit {
			return nil, time.Time{}, filegate.NewError(filegate.TooLarge, op, "object_too_large", fmt.Sprintf("the parts stored already reach this token's upload limit of %d bytes", limit))
		}
	}
	return s.signParts(ctx, sess, numbers, exp)
}

// Status is a session and the parts already stored. Size, PartSize and
// PartCount are 0 for a session opened without a size (StartOpen).
type Status struct {
	ID        string
	Key       string
	Size      int64
	PartSize  int64
	PartCount int32
	Parts     []filegate.Part
}

// Status lists the parts already stored, so a client can resume.
func (s *Service) Status(ctx context.Context, p *filegate.Principal, id string) (Status, error) {
	const op = "upload.Status"
	sess, err := s.session(op, p, id)
	if err != nil {
		return Status{}, err
	}
	parts, err := s.src.ListParts(ctx, sess.Key, sess.UploadID)
	if err != nil {
		return Status{}, err
	}
	st := Status{ID: id, Key: sess.Key, Size: sess.Size, PartSize: sess.PartSize, PartCount: partCount(sess), Parts: parts}
	if sess.Size == openSize {
		st.Size, st.PartSize, st.PartCount = 0, 0, 0 // not declared
	}
	return st, nil
}

// Complete assembles the object from the listed parts. The parts must be
// every part of the session, in order, with the ETags the store returned,
// and their sizes must add up to the declared size; otherwise nothing is
// assembled and the session stays open.
func (s *Service) Complete(ctx context.Context, p *filegate.Principal, id string, parts []filegate.Part) (filegate.ObjectInfo, error) {
	const op = "upload.Complete"
	sess, err := s.session(op, p, id)
	if err != nil {
		return filegate.ObjectInfo{}, err
	}
	count := partCount(sess)
	open := sess.Size == openSize
	switch {
	case open && (len(parts) == 0 || len(parts) > MaxParts):
		return filegate.ObjectInfo{}, filegate.NewError(filegate.Invalid, op, "invalid_parts", fmt.Sprintf("complete needs 1 to %d parts", MaxParts))
	case !open && len(parts) != int(count):
		return filegate.ObjectInfo{}, filegate.NewError(filegate.Invalid, op, "invalid_parts", fmt.Sprintf("complete needs all %d parts, got %d", count, len(parts)))
	}
	for i, pt := range parts {
		if pt.Number != int32(i+1) || pt.ETag == "" {
			return filegate.ObjectInfo{}, filegate.NewError(filegate.Invalid, op, "invalid_parts", "parts must be numbered 1..n in order, each with its etag")
		}
	}
	stored, err := s.src.ListParts(ctx, sess.Key, sess.UploadID)
	if err != nil {
		return filegate.ObjectInfo{}, err
	}
	byNumber := make(map[int32]filegate.Part, len(stored))
	for _, sp := range stored {
		byNumber[sp.Number] = sp
	}
	for _, pt := range parts {
		sp, ok := byNumber[pt.Number]
		if !ok {
			return filegate.ObjectInfo{}, filegate.NewError(filegate.Conflict, op, "part_missing", fmt.Sprintf("part %d has not been uploaded", pt.Number))
		}
		if strings.Trim(pt.ETag, `"`) != sp.ETag {
			return filegate.ObjectInfo{}, filegate.NewError(filegate.Conflict, op, "etag_mismatch", fmt.Sprintf("part %d: etag does not match the stored part", pt.Number))
		}
		if want := partSize(sess, pt.Number); want >= 0 && sp.Size != want {
			return filegate.ObjectInfo{}, filegate.NewError(filegate.Conflict, op, "part_size_mismatch", fmt.Sprintf("part %d is %d bytes, want %d", pt.Number, sp.Size, want))
		}
	}
	if open {
		var total int64
		for i, pt := range parts {
			sp := byNumber[pt.Number]
			if i < len(parts)-1 && sp.Size < MinPartSize {
				return filegate.ObjectInfo{}, filegate.NewError(filegate.Conflict, op, "part_too_small", fmt.Sprintf("part %d is %d bytes: every part but the last needs at least 5 MiB", pt.Number, sp.Size))
			}
			total += sp.Size
		}
		if limit := s.limit(p); total > limit {
			// Never assembled; the parts are dropped so they hold no space.
			_ = s.src.AbortUpload(context.WithoutCancel(ctx), sess.Key, sess.UploadID)
			return filegate.ObjectInfo{}, filegate.NewError(filegate.TooLarge, op, "object_too_large", fmt.Sprintf("the upload is %d bytes, over this token's upload limit of %d bytes; it was aborted", total, limit))
		}
	}
	return s.src.CompleteUpload(ctx, sess.Key, sess.UploadID, parts)
}

// Abort discards the session and every stored part.
func (s *Service) Abort(ctx context.Context, p *filegate.Principal, id string) error {
	const op = "upload.Abort"
	sess, err := s.session(op, p, id)
	if err != nil {
		return err
	}
	return s.src.AbortUpload(ctx, sess.Key, sess.UploadID)
}

// FormRequest asks for a browser POST policy.
type FormRequest struct {
	Key               string // exact key, or
	KeyPrefix         string // a prefix the browser completes
	ContentType       string
	ContentTypePrefix string
	MinSize, MaxSize  int64
	Metadata          map[string]string
	SSE               string // "" or "AES256"
	ACL               string // a required acl field ("private"), when set
	ExpiresIn         time.Duration
}

// Form signs a browser POST policy confined to the caller's scope.
func (s *Service) Form(ctx context.Context, p *filegate.Principal, req FormRequest) (filegate.Post, error) {
	const op = "upload.Form"
	bad := func(code, msg string) (filegate.Post, error) {
		return filegate.Post{}, filegate.NewError(filegate.Invalid, op, code, msg)
	}
	if (req.Key == "") == (req.KeyPrefix == "") {
		return bad("invalid_key", "give exactly one of key and key_prefix")
	}
	target := req.Key
	if req.Key != "" {
		if err := filegate.ValidateKey(op, req.Key); err != nil {
			return filegate.Post{}, err
		}
		if err := fileKey(op, req.Key); err != nil {
			return filegate.Post{}, err
		}
	} else {
		if err := filegate.ValidatePrefix(op, req.KeyPrefix); err != nil {
			return filegate.Post{}, err
		}
		target = req.KeyPrefix
	}
	if err := p.Authorize(op, filegate.ActUpload, target); err != nil {
		return filegate.Post{}, err
	}
	if req.ContentType != "" && req.ContentTypePrefix != "" {
		return bad("invalid_content_type", "give at most one of content_type and content_type_prefix")
	}
	if req.ContentType != "" {
		if _, err := contentType(op, req.ContentType); err != nil {
			return filegate.Post{}, err
		}
	}
	if req.ContentTypePrefix != "" && (len(req.ContentTypePrefix) > 255 || strings.ContainsFunc(req.ContentTypePrefix, func(r rune) bool { return r < 0x21 || r > 0x7e })) {
		return bad("invalid_content_type", "content_type_prefix must be printable ASCII without spaces")
	}
	// Every form binds a size range: the caller's, or up to the limit.
	limit := min(s.cfg.MaxFormSize, s.limit(p))
	if req.MaxSize == 0 {
		req.MaxSize = limit
	}
	if req.MaxSize > limit {
		return filegate.Post{}, filegate.NewError(filegate.TooLarge, op, "object_too_large", fmt.Sprintf("max_size exceeds this token's form upload limit of %d bytes", limit))
	}
	if req.MinSize < 0 || req.MaxSize < req.MinSize {
		return bad("invalid_size", "need 0 <= min_size <= max_size")
	}
	if req.SSE != "" && req.SSE != "AES256" {
		return bad("invalid_sse", `server_side_encryption must be "AES256" or empty`)
	}
	if err := ValidateMetadata(op, req.Metadata); err != nil {
		return filegate.Post{}, err
	}
	switch req.ACL {
	case "", "private", "public-read", "bucket-owner-full-control":
	default:
		return bad("invalid_acl", `acl must be "private", "public-read" or "bucket-owner-full-control"`)
	}
	exp, err := s.grants.Expiry(ctx, op, req.ExpiresIn)
	if err != nil {
		return filegate.Post{}, err
	}
	return s.src.PresignPost(ctx, filegate.PostOptions{ACL: req.ACL,
		Expires: exp, Key: req.Key, KeyPrefix: req.KeyPrefix,
		ContentType: req.ContentType, ContentTypePrefix: req.ContentTypePrefix,
		MinSize: req.MinSize, MaxSize: req.MaxSize, SSE: req.SSE, Metadata: req.Metadata,
	})
}

// fileKey refuses a key that names a folder ("photos/"): stores that keep
// objects as files cannot hold a multipart object there, and no upload
// needs one.
func fileKey(op, key string) error {
	if strings.HasSuffix(key, "/") {
		return filegate.NewError(filegate.Invalid, op, "invalid_key", "key ends in / (a folder): uploads need a file name").WithKey(key)
	}
	return nil
}

func contentType(op, ct string) (string, error) {
	if ct == "" {
		return "application/octet-stream", nil
	}
	if len(ct) > 255 || strings.ContainsFunc(ct, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return "", filegate.NewError(filegate.Invalid, op, "invalid_content_type", "content_type must be printable ASCII, at most 255 bytes")
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		return "", filegate.NewError(filegate.Invalid, op, "invalid_content_type", "content_type is not a media type")
	}
	return ct, nil
}

// ValidateMetadata checks user metadata: names of lowercase letters, digits
// and '-', values of printable ASCII (they travel as HTTP headers), at most
// 2 KiB in all (S3's limit).
func ValidateMetadata(op string, m map[string]string) error {
	total := 0
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := m[k]
		if k == "" || len(k) > 128 || strings.ContainsFunc(k, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') }) {
			return filegate.NewError(filegate.Invalid, op, "invalid_metadata", fmt.Sprintf("metadata name %q must be lowercase letters, digits and '-'", k))
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			return filegate.NewError(filegate.Invalid, op, "invalid_metadata", fmt.Sprintf("metadata %q must be printable ASCII", k))
		}
		total += len(k) + len(v)
	}
	if total > 2048 {
		return filegate.NewError(filegate.Invalid, op, "invalid_metadata", "metadata exceeds 2 KiB")
	}
	return nil
}

// InProgress lists every multipart upload in the bucket under prefix, whoever
// started it (a revoked token's sessions too). Admins only.
func (s *Service) InProgress(ctx context.Context, p *filegate.Principal, prefix string) ([]filegate.Upload, error) {
	const op = "upload.InProgress"
	if !p.Can(filegate.ActAdmin) {
		return nil, filegate.NewError(filegate.Forbidden, op, "action_not_allowed", "only admin tokens list every upload")
	}
	if err := filegate.ValidatePrefix(op, prefix); err != nil {
		return nil, err
	}
	return s.src.ListUploads(ctx, prefix)
}

// AbortAny aborts any multipart upload in the bucket by key and store
// upload id. Admins only.
func (s *Service) AbortAny(ctx context.Context, p *filegate.Principal, key, uploadID string) error {
	const op = "upload.AbortAny"
	if !p.Can(filegate.ActAdmin) {
		return filegate.NewError(filegate.Forbidden, op, "action_not_allowed", "only admin tokens abort any upload")
	}
	if err := filegate.ValidateKey(op, key); err != nil {
		return err
	}
	if uploadID == "" || len(uploadID) > 1024 {
		return filegate.NewError(filegate.Invalid, op, "invalid_upload_id", "upload_id is required")
	}
	if _, err := s.src.ListParts(ctx, key, uploadID); err != nil {
		return err // NotFound when there is no such upload
	}
	return s.src.AbortUpload(ctx, key, uploadID)
}
