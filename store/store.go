// Package store is filegate's access to S3-compatible object storage over
// aws-sdk-go-v2. It declares only the S3 calls filegate makes, translates the
// SDK's errors into filegate error kinds in exactly one function (translate),
// and signs grants with a public endpoint that may differ from the endpoint
// filegate itself talks to.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/tracing/smithyoteltracing"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/internal/spans"
	"github.com/filegate/filegate/sigv4"
)

// Config says how to reach the store. Zero values mean the AWS defaults:
// Amazon S3, the region and credentials of the default chain (environment,
// shared files, SSO, IMDS...).
type Config struct {
	// Endpoint is the URL filegate uses to talk to the store ("" for Amazon
	// S3, or what AWS_ENDPOINT_URL_S3 says).
	Endpoint string
	// PublicEndpoint is the URL put into presigned grants, for when clients
	// reach the store under another name than filegate does ("" = Endpoint).
	PublicEndpoint string
	Region         string
	// PathStyle addresses buckets as https://host/bucket/key. Most
	// S3-compatible stores need it; it is forced on when an endpoint is set
	// unless VirtualHost is true.
	PathStyle   bool
	VirtualHost bool
	// Static credentials; when AccessKeyID is empty the default chain is used.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Bucket holds the users' files; BundleBucket receives generated objects.
	Bucket       string
	BundleBucket string

	// Timeout bounds every store call that moves no object body, retries
	// included, and the wait for a GET's response headers (default 5 s).
	// IdleTimeout fails a transfer that moves no byte for that long
	// (default 30 s). Transient failures are retried by the SDK's standard
	// retryer, on the SDK's calls and filegate's raw HEAD/GET paths alike.
	Timeout     time.Duration
	IdleTimeout time.Duration
	// MaxConns bounds filegate's connections to the store, in use and
	// idle (default DefaultMaxConns); a call beyond it waits for one,
	// within its deadline. Without it concurrent bundles (256 requests in
	// flight each) opened connections without limit, and the embedded
	// store, which serves 1,024 requests at once, answered 503: six of
	// eight bundles of 5,000 small objects failed (2026-12-03). GETs of
	// small objects over plain http have a pool of their own of three
	// quarters as many (GetSmall).
	MaxConns int

	HTTPClient     *http.Client
	TracerProvider trace.TracerProvider
}

// Store is a handle on the configured buckets. It is safe for concurrent use.
type Store struct {
	small      *small // GetSmall's client; nil: through net/http
	api        *s3.Client
	signer     *sigv4.Signer // grants, for the public endpoint
	direct     *sigv4.Signer // filegate's own fast calls, for the internal endpoint
	http       aws.HTTPClient
	transports *transports
	tracer     trace.Tracer
	creds      aws.CredentialsProvider
	region     string
	retryer    aws.Retryer
	timeout    time.Duration
	awsCfg     aws.Config // for the STS client (sts.go)
	endpoint   string     // "" for Amazon S3
	public     string     // the endpoint clients use
	// bodyOpts are the options of calls that send a body (PutObject,
	// UploadPart): unsigned payload where nothing on the way can change it.
	bodyOpts []func(*s3.Options)
	// streams: PutStream may send an unsigned payload to this endpoint.
	streams bool
	Bucket  string
	Bundles string
}

// New builds a Store from cfg. It does not contact the store; use Ping.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("store: no bucket configured")
	}
	if cfg.BundleBucket == "" {
		cfg.BundleBucket = cfg.Bucket
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	// The standard retryer without its client-side retry quota: a bundle
	// of 10,000 entries must ride out scattered 503s, each bounded by the
	// retryer's attempts and the call's deadline.
	// Backoff is capped at 1 s so that a few retries fit in a call's
	// deadline.
	retryer := retry.NewStandard(func(o *retry.StandardOptions) {
		o.RateLimiter = ratelimit.None
		o.MaxAttempts = 4
		o.MaxBackoff = time.Second
	})
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return retryer }),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	tr := &transports{}
	maxConns := cfg.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	} else {
		// The SDK keeps 10 idle connections per host by default: under
		// concurrent load most store calls would open a new connection.
		// The SDK builds its transport itself (and must: it installs a
		// custom CA bundle through it), so every transport it builds is
		// recorded, for Close to release their idle connections.
		opts = append(opts, config.WithHTTPClient(awshttp.NewBuildableClient().
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = cfg.Timeout }).
			WithTransportOptions(func(t *http.Transport) {
				// As many kept idle as may be open: a bundle's 256
				// requests in flight, or several bundles', reuse them
				// instead of closing and dialling again.
				t.MaxConnsPerHost = maxConns
				t.MaxIdleConnsPerHost = maxConns
				t.MaxIdleConns = max(1024, maxConns)
				// A small object's answer (headers and a 4 KiB body) in
				// one read: with the default 4 KiB buffer every such GET
				// a bundle makes took two read calls.
				t.ReadBufferSize = 8 << 10
				t.DialContext = dialWithIdle(t.DialContext, cfg.IdleTimeout)
				tr.add(t)
			})))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	endpoint := cfg.Endpoint
	if endpoint == "" && awsCfg.BaseEndpoint != nil {
		endpoint = *awsCfg.BaseEndpoint
	}
	custom := endpoint != ""
	if custom {
		// Since service/s3 v1.73 the SDK sends CRC32 checksums by default;
		// many S3-compatible stores refuse them.
		awsCfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		awsCfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	pathStyle := cfg.PathStyle || (custom && !cfg.VirtualHost)
	build := func(ep string) *s3.Client {
		return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			if ep != "" {
				o.BaseEndpoint = aws.String(ep)
			}
			o.UsePathStyle = pathStyle
			if cfg.TracerProvider != nil {
				o.TracerProvider = smithyoteltracing.Adapt(cfg.TracerProvider)
			}
		})
	}
	api := build(endpoint)
	public := endpoint
	if cfg.PublicEndpoint != "" {
		public = cfg.PublicEndpoint
	}
	signer, err := sigv4.New(awsCfg.Credentials, awsCfg.Region, public, pathStyle)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	internal := signer
	if public != endpoint {
		if internal, err = sigv4.New(awsCfg.Credentials, awsCfg.Region, endpoint, pathStyle); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	var tracer trace.Tracer = noop.NewTracerProvider().Tracer("")
	if cfg.TracerProvider != nil {
		tracer = cfg.TracerProvider.Tracer("github.com/filegate/filegate/store")
	}
	return &Store{
		small:      newSmall(endpoint, cfg, SmallConns(maxConns)),
		api:        api,
		signer:     signer,
		direct:     internal,
		http:       awsCfg.HTTPClient,
		transports: tr,
		tracer:     tracer,
		creds:      awsCfg.Credentials,
		region:     awsCfg.Region,
		retryer:    retryer,
		timeout:    cfg.Timeout,
		awsCfg:     awsCfg,
		endpoint:   endpoint,
		public:     public,
		bodyOpts:   bodyOptions(custom, endpoint),
		streams:    !custom || unsignedPayloadSafe(endpoint),
		Bucket:     cfg.Bucket,
		Bundles:    cfg.BundleBucket,
	}, nil
}

// bodyOptions picks how bodies sent to a custom endpoint are signed. The
// SDK signs a body's SHA-256 when the endpoint is plain HTTP, and the store
// hashes it again to check: for a 2.5 MB caption, 4.5 ms of a 14 ms PUT to
// the embedded store. Over TLS the connection already guards the body, and
// on a loopback address there is no network to tamper with it, so there the
// payload goes unsigned (the header and the length stay signed), as
// presigned URLs always send it. Plain HTTP to any other host keeps the
// signed payload. Amazon S3's own endpoint keeps the SDK's defaults.
func bodyOptions(custom bool, endpoint string) []func(*s3.Options) {
	if !custom || !unsignedPayloadSafe(endpoint) {
		return nil
	}
	return []func(*s3.Options){s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)}
}

// unsignedPayloadSafe reports whether endpoint is https or a loopback
// address (127.0.0.0/8, ::1, localhost).
func unsignedPayloadSafe(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		host := u.Hostname()
		if ip, err := netip.ParseAddr(host); err == nil {
			return ip.IsLoopback()
		}
		return host == "localhost"
	}
	return false
}

// Close releases idle connections to the store. A store shutting down
// gracefully waits for open connections, so close them before stopping it.
func (s *Store) Close() {
	s.transports.closeIdle()
	s.small.closeIdle()
}

// SmallConns is the size of GetSmall's own pool for a store bounded to
// maxConns connections: the same as the fetch turns serve gives bundles,
// so that a GET holding a turn never waits for a connection.
func SmallConns(maxConns int) int { return max(1, maxConns*3/4) }

// transports records the HTTP transports the SDK builds.
type transports struct {
	mu  sync.Mutex
	all []*http.Transport
}

func (t *transports) add(tr *http.Transport) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.all = append(t.all, tr)
}

func (t *transports) closeIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tr := range t.all {
		tr.CloseIdleConnections()
	}
}

// Region returns the region requests are signed for.
func (s *Store) Region() string { return s.region }

// PublicEndpoint is the endpoint clients reach the store at ("" for Amazon S3).
func (s *Store) PublicEndpoint() string { return s.public }

// CredentialsExpiry returns when the signing credentials expire, or the zero
// time if they do not. A grant must never outlive the credentials that sign it.
func (s *Store) CredentialsExpiry(ctx context.Context) (time.Time, error) {
	c, err := s.creds.Retrieve(ctx)
	if err != nil {
		return time.Time{}, filegate.NewError(filegate.Unavailable, "store.Credentials", "", "store credentials unavailable").Wrap(err)
	}
	if c.CanExpire {
		return c.Expires, nil
	}
	return time.Time{}, nil
}

// Head returns the object's metadata; NotFound when it does not exist.
//
// It is the existence check on the grant hot path, so it is not an SDK call:
// the SDK's middleware stack and signer cost about 35 µs of CPU per
// HeadObject here. Head sends a HEAD presigned by sigv4 (about 2 µs) over
// plain net/http and reads the answer's headers itself.
func (s *Store) Head(ctx context.Context, bucket, key string) (filegate.ObjectInfo, error) {
	const op = "store.Head"
	ctx, span := spans.Start(ctx, s.tracer, "S3.HeadObject", clientSpan)
	defer span.End()
	u, err := s.direct.Presign(ctx, &sigv4.Request{Method: http.MethodHead, Op: "HeadObject", Bucket: bucket, Key: key, Expires: time.Minute}, time.Now())
	if err != nil {
		return filegate.ObjectInfo{}, filegate.NewError(filegate.Internal, op, "", "").WithKey(key).Wrap(err)
	}
	ctx, cancel := s.short(ctx)
	defer cancel()
	resp, err := s.do(ctx, http.MethodHead, u)
	if err != nil {
		if se, ok := err.(statusError); !ok || se >= 500 {
			span.SetStatus(codes.Error, "store call failed")
		}
		return filegate.ObjectInfo{}, translateRaw(op, key, err)
	}
	resp.Body.Close()
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	}
	info := filegate.ObjectInfo{Key: key, Size: resp.ContentLength, ETag: strings.Trim(resp.Header.Get("ETag"), `"`), ContentType: resp.Header.Get("Content-Type")}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		info.LastModified = lm
	}
	return info, nil
}

// List returns one page of the objects under in.Prefix.
//
// Like Head and Get it is a sigv4-presigned request over plain net/http,
// and its answer is read by parseList rather than by the SDK, whose
// ListObjectsV2 took about 20 ms of CPU a page of 1,000 keys in a profile
// of a bundle (most of it encoding/xml); a bundle of a prefix lists its
// pages one after another before it can start writing.
func (s *Store) List(ctx context.Context, bucket string, in filegate.ListInput) (filegate.ListPage, error) {
	const op = "store.List"
	ctx, span := spans.Start(ctx, s.tracer, "S3.ListObjectsV2", clientSpan)
	defer span.End()
	// Keys come URL-encoded: XML 1.0 cannot carry control characters, and
	// stores answer U+FFFD for them otherwise, a key nobody can fetch.
	// Parameters in canonical (sorted) order.
	var q []sigv4.Param
	if in.Token != "" {
		q = append(q, sigv4.Param{Name: "continuation-token", Value: in.Token})
	}
	if in.Delimiter != "" {
		q = append(q, sigv4.Param{Name: "delimiter", Value: in.Delimiter})
	}
	q = append(q, sigv4.Param{Name: "encoding-type", Value: "url"}, sigv4.Param{Name: "list-type", Value: "2"})
	if in.Limit > 0 {
		q = append(q, sigv4.Param{Name: "max-keys", Value: strconv.Itoa(int(in.Limit))})
	}
	q = append(q, sigv4.Param{Name: "prefix", Value: in.Prefix})
	u, err := s.direct.Presign(ctx, &sigv4.Request{Method: http.MethodGet, Bucket: bucket, Query: q, Expires: time.Minute}, time.Now())
	if err != nil {
		return filegate.ListPage{}, filegate.NewError(filegate.Internal, op, "", "").WithKey(in.Prefix).Wrap(err)
	}
	ctx, cancel := s.short(ctx)
	defer cancel()
	resp, err := s.do(ctx, http.MethodGet, u)
	if err != nil {
		if se, ok := err.(statusError); !ok || se >= 500 {
			span.SetStatus(codes.Error, "store call failed")
		}
		return filegate.ListPage{}, translateRaw(op, in.Prefix, err)
	}
	defer resp.Body.Close()
	res, err := parseList(io.LimitReader(resp.Body, maxListBytes))
	if err != nil {
		if ctx.Err() != nil || !errors.Is(err, errListXML) {
			return filegate.ListPage{}, translateStatus(op, in.Prefix, 0, err)
		}
		return filegate.ListPage{}, filegate.NewError(filegate.Unavailable, op, "", "the store's listing could not be read").WithKey(in.Prefix).Wrap(err)
	}
	// Whatever follows the document, so that the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	page := filegate.ListPage{Objects: make([]filegate.ObjectInfo, 0, len(res.Contents))}
	for _, o := range res.Contents {
		key, err := urlDecoded(o.Key, res.EncodingType)
		if err != nil || o.Size < 0 {
			if err == nil {
				err = fmt.Errorf("size %d", o.Size)
			}
			return filegate.ListPage{}, filegate.NewError(filegate.Unavailable, op, "", "the store listed an object it cannot have").WithKey(o.Key).Wrap(err)
		}
		page.Objects = append(page.Objects, filegate.ObjectInfo{
			Key:          key,
			Size:         o.Size,
			ETag:         strings.Trim(o.ETag, `"`),
			LastModified: o.LastModified,
		})
	}
	for _, p := range res.Prefixes {
		f, err := urlDecoded(p, res.EncodingType)
		if err != nil {
			return filegate.ListPage{}, filegate.NewError(filegate.Unavailable, op, "", "the store listed a folder it cannot have").WithKey(p).Wrap(err)
		}
		page.Folders = append(page.Folders, f)
	}
	if res.IsTruncated {
		if res.Next == "" {
			return filegate.ListPage{}, filegate.NewError(filegate.Unavailable, op, "", "the store's listing is truncated without a continuation token").WithKey(in.Prefix)
		}
		page.Next = res.Next
	}
	return page, nil
}

// maxListBytes bounds one page of a listing: 1,000 keys of at most 1,024
// bytes, each URL-encoded (up to 3 bytes a byte) and XML-escaped, with
// their metadata, come to well under it.
const maxListBytes = 16 << 20

// urlDecoded decodes a key from a listing asked with EncodingType=url
// (form encoding: "+" is a space, as S3 sends it). A store that did not
// encode says so by not echoing the encoding type (the embedded store): its
// keys are taken as they are.
func urlDecoded(s string, enc string) (string, error) {
	if enc != string(types.EncodingTypeUrl) {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// Ping checks that the store answers and the source bucket exists.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.short(ctx)
	defer cancel()
	_, err := s.api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.Bucket})
	if err != nil {
		err = translate("store.Ping", "", err)
		if filegate.KindOf(err) == filegate.NotFound {
			return filegate.NewError(filegate.Unavailable, "store.Ping", "", "the bucket does not exist").Wrap(err)
		}
		return err
	}
	return nil
}

// EnsureBucket creates bucket if it does not exist yet.
func (s *Store) EnsureBucket(ctx context.Context, bucket string) error {
	_, err := s.api.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
	if err != nil {
		var owned *types.BucketAlreadyOwnedByYou
		var exists *types.BucketAlreadyExists
		if !errors.As(err, &owned) && !errors.As(err, &exists) {
			return translate("store.EnsureBucket", "", err)
		}
	}
	return nil
}

// SetCORS lets browsers from origins GET, PUT, POST and HEAD objects of
// bucket directly and read the ETag header (needed to complete multipart
// uploads from a browser; Uppy waits forever without it) and Location. Stores that configure CORS globally (MinIO)
// answer with an Unsupported error.
func (s *Store) SetCORS(ctx context.Context, bucket string, origins []string) error {
	_, err := s.api.PutBucketCors(ctx, &s3.PutBucketCorsInput{
		Bucket: &bucket,
		CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
			AllowedOrigins: origins,
			AllowedMethods: []string{"GET", "PUT", "POST", "HEAD"},
			AllowedHeaders: []string{"*"},
			ExposeHeaders:  []string{"ETag", "Location"},
			MaxAgeSeconds:  aws.Int32(3600),
		}}},
	})
	if err != nil {
		return translate("store.SetCORS", "", err)
	}
	return nil
}

// translateRaw is translate for the raw paths (Head, Get): a statusError,
// or a transport error.
func translateRaw(op, key string, err error) error {
	if se, ok := err.(statusError); ok {
		return translateStatus(op, key, int(se), nil)
	}
	return translateStatus(op, key, 0, err)
}

// translateStatus is translate for the calls filegate makes without the SDK
// (Head): an HTTP status, or 0 and the transport error.
func translateStatus(op, key string, status int, err error) error {
	switch {
	case status == 0:
		// A *url.Error's text holds the whole presigned URL, signature
		// included: keep only the cause, so no log line ever shows it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("%s %s: %w", ue.Op, redactURL(ue.URL), ue.Err)
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return filegate.NewError(filegate.Unavailable, op, "", "store request cancelled or timed out").WithKey(key).Wrap(err)
		}
		return filegate.NewError(filegate.Unavailable, op, "", "the store is unavailable").WithKey(key).Wrap(err)
	case status == http.StatusNotFound:
		return filegate.NewError(filegate.NotFound, op, "", "not found").WithKey(key).Wrap(fmt.Errorf("store answered %d", status))
	case status == http.StatusForbidden || status == http.StatusUnauthorized || status == http.StatusTooManyRequests || status >= 500:
		// 403: filegate's own credentials were refused, a configuration fault.
		return filegate.NewError(filegate.Unavailable, op, "", "the store is unavailable").WithKey(key).Wrap(fmt.Errorf("store answered %d", status))
	default:
		return filegate.NewError(filegate.Internal, op, "", "").WithKey(key).Wrap(fmt.Errorf("store answered %d", status))
	}
}

// redactURL drops a URL's query (where signatures live).
func redactURL(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i] + "?…"
	}
	return raw
}

// translate turns an SDK error into a *filegate.Error. It is the only place
// that knows the SDK's error shapes.
func translate(op, key string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return filegate.NewError(filegate.Unavailable, op, "", "store request cancelled or timed out").WithKey(key).Wrap(err)
	}
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) {
		return filegate.NewError(filegate.Unavailable, op, "", "the store is unavailable").WithKey(key).Wrap(err)
	}
	kind, code := filegate.Internal, ""
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
		switch code {
		case "NoSuchKey", "NotFound", "NoSuchUpload":
			kind = filegate.NotFound
		case "NoSuchBucket":
			kind = filegate.Unavailable
		case "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			kind = filegate.Unavailable // filegate's own credentials were refused
		case "EntityTooLarge":
			kind = filegate.TooLarge
		case "InvalidPart", "InvalidPartOrder", "EntityTooSmall", "InvalidRequest":
			kind = filegate.Invalid
		case "PreconditionFailed":
			kind = filegate.Conflict
		case "NotImplemented":
			kind = filegate.Unsupported
		case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout":
			kind = filegate.Unavailable
		}
	}
	var resp *awshttp.ResponseError
	if kind == filegate.Internal && errors.As(err, &resp) {
		switch status := resp.HTTPStatusCode(); {
		case status == http.StatusNotFound:
			kind = filegate.NotFound
		case status >= 500:
			kind = filegate.Unavailable
		}
	}
	msg := ""
	switch kind {
	case filegate.NotFound:
		msg = "not found"
	case filegate.Unavailable:
		msg = "the store is unavailable"
	}
	return filegate.NewError(kind, op, "", msg).WithKey(key).Wrap(err)
}

// clientSpan marks the spans of store calls; built once, as a bundle makes
// a call per entry.
var clientSpan = trace.WithSpanKind(trace.SpanKindClient)
