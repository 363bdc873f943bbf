package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/net/netutil"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/api"
	"github.com/filegate/filegate/auth"
	"github.com/filegate/filegate/browse"
	"github.com/filegate/filegate/bundle"
	"github.com/filegate/filegate/caption"
	"github.com/filegate/filegate/cloudfront"
	"github.com/filegate/filegate/companion"
	"github.com/filegate/filegate/compat"
	"github.com/filegate/filegate/datadir"
	"github.com/filegate/filegate/embedded"
	"github.com/filegate/filegate/grant"
	"github.com/filegate/filegate/jwtauth"
	"github.com/filegate/filegate/params"
	"github.com/filegate/filegate/store"
	"github.com/filegate/filegate/sweep"
	"github.com/filegate/filegate/telemetry"
	"github.com/filegate/filegate/tempcreds"
	"github.com/filegate/filegate/upload"
	"github.com/filegate/filegate/web"
	"github.com/filegate/filegate/websession"
)

type serveOptions struct {
	listen           string
	data             string
	endpoint         string
	publicEndpoint   string
	stsRoleARN       string
	tokens           string
	tokenCache       time.Duration
	sharedSecretSSM  string
	jwksURL          string
	jwtIssuer        string
	jwtAudience      string
	jwtLeeway        time.Duration
	cfDomain         string
	cfKeyID          string
	cfKey            string
	cfPathPrefix     string
	cfCookieDomain   string
	downloadsVia     string
	lambda           bool // running as a Lambda function (lambda.go)
	streaming        bool // Lambda answers are streamed (Function URL, RESPONSE_STREAM)
	jobLease         time.Duration
	dispatch         func(context.Context, string) error // runs async jobs elsewhere (Lambda)
	vouched          api.Vouched                         // principals a trusted authorizer vouched for (Lambda)
	cfUploads        bool
	stsEndpoint      string
	stsMaxDuration   time.Duration
	region           string
	pathStyle        bool
	bucket           string
	bundleBucket     string
	accessKeyID      string
	secretAccessKey  string
	createBuckets    bool
	storeAddr        string
	corsOrigins      []string
	defaultExpiry    time.Duration
	maxExpiry        time.Duration
	shutdownTimeout  time.Duration
	sessionKey       string
	threshold        int64
	partSize         int64
	debugAddr        string
	bundleMaxKeys    int
	compat           bool
	noWeb            bool
	captionMaxBytes  int64
	captionMaxPixels int64
	logLevel         string
	maxUploadSize    sizeFlag
	storeTimeout     time.Duration
	storeConns       int
	sweepAfter       time.Duration
	captionMemory    sizeFlag
	captionMaxOutput sizeFlag
	captionMaxInline sizeFlag
	bundleMemory     sizeFlag
	bundleStreamMax  sizeFlag
	memoryLimit      sizeFlag
	readTimeout      time.Duration
	maxConns         int
}

func serveCmd(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway (with an embedded S3 store unless --endpoint or AWS_ENDPOINT_URL_S3 names one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), o, getenv, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	f.StringVar(&o.data, "data", "./filegate-data", "directory for tokens, the admin token and the embedded store")
	f.StringVar(&o.endpoint, "endpoint", "", "S3 endpoint URL (default: the embedded store; AWS_ENDPOINT_URL_S3 is honoured)")
	f.StringVar(&o.publicEndpoint, "public-endpoint", "", "endpoint put into presigned URLs when clients reach the store under another name")
	f.StringVar(&o.region, "region", "", "S3 region (default: AWS_REGION, the AWS profile, or us-east-1)")
	f.BoolVar(&o.pathStyle, "path-style", false, "address buckets by path (always on for custom endpoints)")
	f.StringVar(&o.bucket, "bucket", "", `bucket holding users' files (embedded default "filegate")`)
	f.StringVar(&o.bundleBucket, "bundle-bucket", "", `bucket receiving generated files (embedded default "filegate-bundles"; otherwise --bucket)`)
	f.StringVar(&o.accessKeyID, "access-key-id", "", "static S3 access key (default: the AWS credential chain)")
	f.StringVar(&o.secretAccessKey, "secret-access-key", "", "static S3 secret key")
	f.BoolVar(&o.createBuckets, "create-buckets", false, "create the buckets and set CORS at start (always on for the embedded store)")
	f.StringVar(&o.storeAddr, "store-addr", "127.0.0.1:0", "address of the embedded store (port 0 picks a free port)")
	f.StringSliceVar(&o.corsOrigins, "cors-origin", nil, "other browser origins (besides filegate's own URL) allowed to call /v1 and /s3 with a bearer token and to PUT/POST/GET straight to the store")
	f.DurationVar(&o.defaultExpiry, "default-expiry", 15*time.Minute, "expiry of grants when a request names none")
	f.DurationVar(&o.maxExpiry, "max-expiry", grant.MaxExpiry, "longest expiry a request may ask for (at most 168h)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long in-flight requests may take to finish on SIGTERM")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.sessionKey, "session-key", "", "base64 32-byte key sealing upload session ids; replicas share it (default: generated once in <data>/session.key)")
	f.Int64Var(&o.threshold, "multipart-threshold", 64<<20, "uploads larger than this many bytes use multipart sessions")
	f.StringVar(&o.debugAddr, "debug-addr", "", "serve Go's pprof profiles on this separate address (off when empty; keep it on loopback)")
	f.BoolVar(&o.noWeb, "no-web", false, "do not serve the web app at /")
	f.BoolVar(&o.compat, "compat", false, "also serve the seed systems' routes (/zip, /list, /download, /sign-s3-request, /meme, /presigned-post, /download-url); see docs/compat.md")
	f.IntVar(&o.bundleMaxKeys, "bundle-max-keys", 10000, "most objects one bundle may hold")
	f.Int64Var(&o.captionMaxBytes, "caption-max-bytes", 25<<20, "largest image a caption reads, in bytes")
	f.Int64Var(&o.captionMaxPixels, "caption-max-pixels", 40_000_000, "largest image a caption decodes, in pixels (checked before decoding)")
	o.maxUploadSize = upload.DefaultMaxObjectSize
	f.Var(&o.maxUploadSize, "max-upload-size", "largest object any upload grant allows, such as 5GiB (tokens may have a lower --max-size)")
	o.captionMemory, o.bundleMemory, o.memoryLimit = 192<<20, 128<<20, 384<<20
	o.bundleStreamMax = 5 << 30
	o.captionMaxOutput, o.captionMaxInline = 64<<20, 8<<20
	f.Var(&o.captionMaxOutput, "caption-max-output", "largest captioned image filegate encodes and stores")
	f.Var(&o.captionMaxInline, "caption-max-inline", "largest captioned image returned inline in a response")
	f.Var(&o.captionMemory, "caption-memory", "memory all captions in progress may hold (decoded pixels, output); larger images get 413, more requests wait, then 429")
	f.Var(&o.bundleMemory, "bundle-memory", "memory all bundles in progress may hold for part buffers; more bundles wait, then get 429")
	f.Var(&o.bundleStreamMax, "bundle-stream-max", "largest bundle of known size (stored entries) streamed into one PUT; larger ones and deflated ones go up as multipart uploads (0: always multipart)")
	f.Var(&o.memoryLimit, "memory-limit", "soft limit of the Go heap (GOMEMLIMIT), so garbage is collected before memory grows past it; GOMEMLIMIT wins when set")
	f.DurationVar(&o.sweepAfter, "sweep-after", time.Hour, "age after which multipart uploads filegate started for bundles and no longer tracks are aborted (upload sessions: after their 7-day expiry)")
	f.DurationVar(&o.storeTimeout, "store-timeout", store.DefaultTimeout, "deadline of a store call that moves no object body, retries included; a stuck store gives 503 after it")
	f.IntVar(&o.storeConns, "store-connections", store.DefaultMaxConns, "most connections filegate opens to the store at once, and three quarters as many again for GETs of small objects over plain http; calls beyond wait for one (the embedded store serves 1,024 requests and 2,048 connections at once, clients' presigned transfers included)")
	f.DurationVar(&o.readTimeout, "read-timeout", 10*time.Second, "longest a client may take to send a whole request (filegate receives no file bodies, only JSON)")
	f.IntVar(&o.maxConns, "max-connections", 1024, "most client connections served at once; more wait to be accepted")
	f.StringVar(&o.cfDomain, "cloudfront-domain", "", "CloudFront distribution in front of the bucket, for signed URLs and cookies (such as d111111abcdef8.cloudfront.net)")
	f.StringVar(&o.cfKeyID, "cloudfront-key-id", "", "id of the public key (in the distribution's key group) matching --cloudfront-private-key")
	f.StringVar(&o.cfKey, "cloudfront-private-key", "", "PEM RSA private key signing CloudFront grants: a file, or ssm:NAME for an SSM SecureString parameter")
	f.StringVar(&o.cfPathPrefix, "cloudfront-path-prefix", "", `path under which the distribution serves the bucket's keys, such as "files/" (default: the root)`)
	f.StringVar(&o.cfCookieDomain, "cloudfront-cookie-domain", "", "Domain attribute of signed cookies (default: --cloudfront-domain; a parent domain shared with filegate's host lets browsers keep them)")
	f.BoolVar(&o.cfUploads, "cloudfront-uploads", false, `let POST /v1/uploads ask for "via": "cloudfront" (one PUT up to 5 GiB); the distribution must run filegate's length-checking function (docs/cloudfront.md)`)
	f.StringVar(&o.downloadsVia, "downloads-via", "s3", `default grant of POST /v1/downloads: "s3" or "cloudfront"`)
	f.DurationVar(&o.jobLease, "job-lease", 30*time.Second, "how long an async bundle job may go without its replica renewing it before another replica takes it over")
	f.StringVar(&o.tokens, "tokens", "", "token store: file:PATH (default <data>/tokens.json), s3://BUCKET/KEY (shared by replicas, conditional writes) or ssm:NAME")
	f.DurationVar(&o.tokenCache, "token-cache", 30*time.Second, "how long an s3:// or ssm: token store is trusted before it is read again (at most 1m: revocations reach every replica within it)")
	f.StringVar(&o.jwksURL, "jwks-url", "", "accept JWT/OIDC bearer tokens signed by the keys at this JWKS URL (claims mapped as README says)")
	f.StringVar(&o.jwtIssuer, "jwt-issuer", "", `the "iss" JWTs must carry (required with --jwks-url)`)
	f.StringVar(&o.jwtAudience, "jwt-audience", "", `an "aud" JWTs must carry (required with --jwks-url)`)
	f.DurationVar(&o.jwtLeeway, "jwt-leeway", time.Minute, "clock skew allowed on a JWT's exp, nbf and iat")
	f.StringVar(&o.sharedSecretSSM, "shared-secret-ssm", "", "SSM SecureString parameter holding seed 001's shared secret, which grants list and download on the whole bucket")
	f.StringVar(&o.stsRoleARN, "sts-role-arn", "", "role that POST /v1/credentials assumes (required on Amazon S3; MinIO ignores it)")
	f.StringVar(&o.stsEndpoint, "sts-endpoint", "", "STS endpoint (default: the store's endpoint for S3-compatible stores, Amazon's regional STS otherwise)")
	f.DurationVar(&o.stsMaxDuration, "sts-max-duration", time.Hour, "longest temporary credentials (the role's maximum session; at least 15m)")
	f.Int64Var(&o.partSize, "part-size", 8<<20, "smallest multipart part size in bytes (at least 5 MiB)")
	return cmd
}

func serve(ctx context.Context, o serveOptions, getenv func(string) string, stdout, stderr io.Writer) error {
	if getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		return runLambda(ctx, o, getenv, stderr)
	}
	start := time.Now()
	level, err := o.check()
	if err != nil {
		return err
	}
	log := telemetry.Logger(stderr, level)
	if getenv("GOMEMLIMIT") == "" && o.memoryLimit > 0 {
		debug.SetMemoryLimit(int64(o.memoryLimit))
	}
	data, err := datadir.Open(o.data)
	if err != nil {
		return err
	}
	tp, stopTracing, err := telemetry.Tracing(ctx, getenv, Version)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = stopTracing(c)
	}()

	cdn, err := cdnSigner(ctx, o)
	if err != nil {
		return err
	}

	// Listen first, so the UI origin (for CORS) is known when port 0 is asked.
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	baseURL := "http://" + ln.Addr().String()

	st, child, closeStore, err := openStore(ctx, o, getenv, data, baseURL, tp, log)
	if err != nil {
		return err
	}
	defer closeStore()
	tokens, authn, err := o.openAuth(ctx, data, st)
	if err != nil {
		return err
	}
	handler, bundles, err := wire(ctx, o, data, tokens, authn, st, child != nil, cdn, tp, log, stdout, baseURL+"/")
	if err != nil {
		return err
	}
	defer bundles.Close()
	srv := httpServer(ctx, o, handler, log)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(netutil.LimitListener(ln, o.maxConns)) }()
	if o.debugAddr != "" {
		defer debugServer(o.debugAddr, log).Close()
	}

	attrs := []any{"addr", ln.Addr().String(), "startup_ms", time.Since(start).Milliseconds(), "bucket", st.Bucket, "bundle_bucket", st.Bundles}
	if child != nil {
		attrs = append(attrs, "store", "embedded", "store_endpoint", child.Endpoint, "store_startup_ms", child.Startup.Milliseconds())
	} else {
		attrs = append(attrs, "store", "external")
	}
	log.Info("ready", attrs...)
	fmt.Fprintf(stdout, "filegate %s listening on %s\n", Version, baseURL)

	background, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	if child != nil {
		go child.Supervise(background)
	}
	sweeper := sweep.New(sweep.Config{Bundles: st.Output(), Source: st.Source(), BundleAge: o.sweepAfter, SessionAge: upload.MaxSessionAge, Log: log})
	go sweeper.Run(background)
	go bundles.Adopt(background) // jobs whose replica died
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", o.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("in-flight requests cut at the shutdown deadline", "err", err)
		_ = srv.Close()
	}
	log.Info("stopped")
	return nil
}

// check validates the options that need no I/O and returns the log level.
func (o serveOptions) check() (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return level, fmt.Errorf("--log-level: %w", err)
	}
	switch {
	case o.maxExpiry > grant.MaxExpiry || o.maxExpiry < time.Second:
		return level, fmt.Errorf("--max-expiry must be between 1s and %s", grant.MaxExpiry)
	case o.defaultExpiry < time.Second || o.defaultExpiry > o.maxExpiry:
		return level, errors.New("--default-expiry must be between 1s and --max-expiry")
	case o.stsMaxDuration < tempcreds.MinDuration || o.stsMaxDuration > 12*time.Hour:
		return level, errors.New("--sts-max-duration must be between 15m and 12h")
	case o.sweepAfter < time.Second:
		return level, errors.New("--sweep-after must be at least 1s")
	case o.readTimeout < 100*time.Millisecond || o.maxConns < 1:
		return level, errors.New("--read-timeout must be at least 100ms and --max-connections at least 1")
	case o.storeConns < 16:
		return level, errors.New("--store-connections must be at least 16")
	}
	return level, nil
}

// openStore starts the embedded store (no endpoint or bucket given) or
// configures an external one, creates the buckets with CORS for the given
// origin where asked, and returns the store and the function that closes
// it (idle connections first, then the embedded store).
func openStore(ctx context.Context, o serveOptions, getenv func(string) string, data datadir.Dir, baseURL string, tp trace.TracerProvider, log *slog.Logger) (*store.Store, *embedded.Server, func(), error) {
	// The web app's own origin, and the pages that upload from elsewhere.
	origins := append([]string{baseURL}, o.corsOrigins...)
	cfg := store.Config{
		Endpoint: o.endpoint, PublicEndpoint: o.publicEndpoint, Region: o.region, PathStyle: o.pathStyle,
		AccessKeyID: o.accessKeyID, SecretAccessKey: o.secretAccessKey,
		Bucket: o.bucket, BundleBucket: o.bundleBucket, TracerProvider: tp, Timeout: o.storeTimeout, MaxConns: o.storeConns,
	}
	embeddedStore := o.endpoint == "" && getenv("AWS_ENDPOINT_URL_S3") == "" && getenv("AWS_ENDPOINT_URL") == "" && o.bucket == ""
	var child *embedded.Server
	stopChild := func() {}
	if embeddedStore {
		var err error
		if child, cfg, err = startEmbedded(ctx, o, data, cfg, log); err != nil {
			return nil, nil, nil, err
		}
		stopChild = func() {
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := child.Stop(c); err != nil {
				log.Warn("stopping the embedded store", "err", err)
			}
		}
	} else if cfg.Bucket == "" {
		return nil, nil, nil, errors.New("--bucket is required with an external store")
	}
	st, err := store.New(ctx, cfg)
	if err != nil {
		stopChild()
		return nil, nil, nil, err
	}
	closeAll := func() { st.Close(); stopChild() } // idle connections closed before the store stops
	if embeddedStore || o.createBuckets {
		for _, b := range []string{st.Bucket, st.Bundles} {
			if err := st.EnsureBucket(ctx, b); err != nil {
				closeAll()
				return nil, nil, nil, fmt.Errorf("create bucket %s: %w", b, err)
			}
			if err := st.SetCORS(ctx, b, origins); filegate.KindOf(err) == filegate.Unsupported {
				log.Warn("the store does not take per-bucket CORS rules; configure CORS on the store itself for browser uploads", "bucket", b)
			} else if err != nil {
				closeAll()
				return nil, nil, nil, fmt.Errorf("set CORS on bucket %s: %w", b, err)
			}
		}
	}
	return st, child, closeAll, nil
}

// wire builds the services over the store's buckets and the HTTP handler
// over them; the returned function stops the bundle jobs.
func wire(ctx context.Context, o serveOptions, data datadir.Dir, tokens *auth.Tokens, authn api.Authenticator, st *store.Store, embeddedStore bool, cdn *cloudfront.Signer, tp trace.TracerProvider, log *slog.Logger, stdout io.Writer, appURL string) (http.Handler, *bundle.Service, error) {
	if !o.lambda { // on Lambda, tokens are made with `filegate token create` beforehand
		if o.noWeb {
			appURL = ""
		}
		if err := data.BootstrapAdmin(tokens, stdout, appURL); err != nil {
			return nil, nil, err
		}
	}
	key, err := data.SessionKey(o.sessionKey, upload.KeySize)
	if err != nil {
		return nil, nil, err
	}
	sealer, err := upload.NewSealer(key)
	if err != nil {
		return nil, nil, err
	}
	src, out := st.Source(), st.Output()
	grants := grant.New(src, grant.Limits{DefaultExpiry: o.defaultExpiry, MaxExpiry: o.maxExpiry})
	if cdn != nil {
		grants.WithCDN(cdn, o.downloadsVia == "cloudfront")
	}
	uploads, err := upload.New(src, grants, sealer, upload.Config{Threshold: o.threshold, PartSize: o.partSize, MaxObjectSize: int64(o.maxUploadSize)})
	if err != nil {
		return nil, nil, err
	}
	if cdn != nil && o.cfUploads {
		uploads.WithCDN(cdn)
	}
	metrics := telemetry.NewMetrics()
	bundles := bundle.New(src, out, grants, bundle.Config{
		Jobs: st.Documents(st.Bundles), Lease: o.jobLease, Dispatch: o.dispatch,
		MaxKeys: o.bundleMaxKeys, MemoryBudget: int64(o.bundleMemory), StreamMax: streamMax(int64(o.bundleStreamMax)), Tracer: tp.Tracer("github.com/filegate/filegate/bundle"),
		// Three quarters of the store connections: the rest stay free for
		// the HEADs, listings and uploads that fetches must not starve.
		Fetches: o.storeConns * 3 / 4,
		OnEntry: func(n int64) { metrics.BundleBytes.Add(float64(n)); metrics.BundleEntries.Inc() },
	})
	services := compat.Services{
		Browse: browse.New(src), Grants: grants, Uploads: uploads, Bundles: bundles,
		Captions: caption.New(src, grants, caption.Config{
			MaxBytes: o.captionMaxBytes, MaxPixels: o.captionMaxPixels, MemoryBudget: int64(o.captionMemory),
			MaxOutput: int64(o.captionMaxOutput), MaxInline: int64(o.captionMaxInline), Tracer: tp.Tracer("github.com/filegate/filegate/caption"),
			InlineFallback: o.lambda && !o.streaming,
		}),
	}
	creds := credentialService(o, st, embeddedStore)
	extensions := []api.Extension{companion.New(companion.Services{Uploads: uploads, Grants: grants, Credentials: creds}, log)}
	if o.compat {
		extensions = append(extensions, compat.New(services, log))
	}
	sessions, err := websession.New(key)
	if err != nil {
		return nil, nil, err
	}
	deps := api.Deps{
		Tokens: authn, Browse: services.Browse, Grants: grants, Uploads: uploads, Bundles: bundles, Captions: services.Captions,
		Extensions: extensions, Ready: st.Ping, Log: log, Metrics: metrics, Tracing: tp,
		Credentials: creds, Sessions: sessions, Origins: o.corsOrigins,
		NoStreaming: o.lambda && !o.streaming, Vouched: o.vouched,
	}
	if !o.noWeb {
		origins, err := grantOrigins(ctx, src, cdn)
		if err != nil {
			return nil, nil, err
		}
		if deps.Web, err = web.New(web.Config{StoreOrigins: origins}); err != nil {
			return nil, nil, err
		}
	}
	return api.NewServer(deps), bundles, nil
}

// openAuth opens the token store (--tokens) and the authenticator in front
// of it: the store, or seed 001's shared secret in SSM and then the store.
func (o serveOptions) openAuth(ctx context.Context, data datadir.Dir, st *store.Store) (*auth.Tokens, api.Authenticator, error) {
	acc := awsAccess{endpoint: o.endpoint, region: o.region, accessKeyID: o.accessKeyID, secretAccessKey: o.secretAccessKey}
	tokens, err := openTokens(ctx, o.tokens, data, o.tokenCache, st, acc)
	if err != nil {
		return nil, nil, err
	}
	var authn api.Authenticator = tokens
	if o.sharedSecretSSM != "" {
		c, err := awsAccess{region: o.region}.ssmClient(ctx)
		if err != nil {
			return nil, nil, err
		}
		authn = auth.SharedSecret{Secret: params.NewSecret(c, o.sharedSecretSSM, o.tokenCache), Next: authn}
	}
	if o.jwksURL != "" {
		v, err := jwtauth.New(ctx, jwtauth.Config{JWKSURL: o.jwksURL, Issuer: o.jwtIssuer, Audience: o.jwtAudience, Leeway: o.jwtLeeway})
		if err != nil {
			return nil, nil, err
		}
		authn = jwtauth.Chain{JWT: v, Next: authn}
	}
	return tokens, authn, nil
}

// cdnSigner loads the CloudFront key and returns the signer, or nil when no
// distribution is configured.
func cdnSigner(ctx context.Context, o serveOptions) (*cloudfront.Signer, error) {
	switch o.downloadsVia {
	case "s3", "cloudfront":
	default:
		return nil, fmt.Errorf("--downloads-via %q: want s3 or cloudfront", o.downloadsVia)
	}
	if o.cfDomain == "" {
		if o.cfKeyID != "" || o.cfKey != "" || o.downloadsVia == "cloudfront" || o.cfUploads {
			return nil, errors.New("--cloudfront-key-id, --cloudfront-private-key, --cloudfront-uploads and --downloads-via cloudfront need --cloudfront-domain")
		}
		return nil, nil
	}
	if o.cfKeyID == "" || o.cfKey == "" {
		return nil, errors.New("--cloudfront-domain needs --cloudfront-key-id and --cloudfront-private-key")
	}
	var params cloudfront.ParameterStore
	if strings.HasPrefix(o.cfKey, "ssm:") {
		var opts []func(*config.LoadOptions) error
		if o.region != "" {
			opts = append(opts, config.WithRegion(o.region))
		}
		awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("--cloudfront-private-key: %w", err)
		}
		params = ssm.NewFromConfig(awsCfg)
	}
	key, err := cloudfront.LoadKey(ctx, o.cfKey, params)
	if err != nil {
		return nil, err
	}
	return cloudfront.New(cloudfront.Config{Domain: o.cfDomain, KeyID: o.cfKeyID, Key: key, PathPrefix: o.cfPathPrefix, CookieDomain: o.cfCookieDomain})
}

// credentialService issues STS credentials through the store's STS, except
// on the embedded store, which has none.
func credentialService(o serveOptions, st *store.Store, embeddedStore bool) *tempcreds.Service {
	cfg := tempcreds.Config{RoleARN: o.stsRoleARN, Bucket: st.Bucket, Region: st.Region(), Endpoint: st.PublicEndpoint(), MaxDuration: o.stsMaxDuration}
	switch {
	case embeddedStore:
		cfg.Unavailable = "the embedded store has no STS: temporary credentials need MinIO or Amazon S3 (--endpoint)"
	case st.PublicEndpoint() == "" && o.stsRoleARN == "":
		cfg.Unavailable = "temporary credentials on Amazon S3 need a role to assume: start filegate with --sts-role-arn"
	}
	return tempcreds.New(st.STS(o.stsEndpoint), cfg)
}

// httpServer bounds what clients may hold. They send small JSON bodies only
// (file bytes go to the store), so a whole request must arrive within
// --read-timeout, headers within 5 s at most. Responses (a streamed zip)
// have no write deadline.
func httpServer(ctx context.Context, o serveOptions, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(o.readTimeout, 5*time.Second),
		ReadTimeout:       o.readTimeout,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// debugServer serves Go's pprof profiles on addr (keep it on loopback).
func debugServer(addr string, log *slog.Logger) *http.Server {
	dbg := http.NewServeMux()
	dbg.HandleFunc("/debug/pprof/", pprof.Index)
	dbg.HandleFunc("/debug/pprof/profile", pprof.Profile)
	dbg.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: dbg, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("debug listener", "err", err)
		}
	}()
	return srv
}

// startEmbedded starts the embedded store with root credentials generated
// once and kept in <data>/store.json, on the port it had before, and returns
// the store configuration.
func startEmbedded(ctx context.Context, o serveOptions, data datadir.Dir, cfg store.Config, log *slog.Logger) (*embedded.Server, store.Config, error) {
	sf, err := data.StoreCredentials()
	if err != nil {
		return nil, cfg, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	host, port, err := net.SplitHostPort(o.storeAddr)
	if err != nil {
		return nil, cfg, fmt.Errorf("--store-addr: %w", err)
	}
	opts := embedded.Options{
		Dir: data.StorePath(), Host: host, Port: port, Region: cfg.Region,
		AccessKey: sf.AccessKeyID, SecretKey: sf.SecretAccessKey, Log: log,
	}
	// The store keeps the port it had (store.json), so that links handed
	// out before a restart keep working until they expire.
	var srv *embedded.Server
	if prev := persistedPort(sf.Endpoint, host); (port == "" || port == "0") && prev != "" {
		opts.Port = prev
		if srv, err = embedded.Start(ctx, opts); err != nil {
			log.Warn("the embedded store's previous port is taken; links signed before this restart stop working", "port", prev, "err", err.Error())
			opts.Port = port
		}
	}
	if srv == nil {
		if srv, err = embedded.Start(ctx, opts); err != nil {
			return nil, cfg, err
		}
	}
	cfg.Endpoint = srv.Endpoint
	cfg.AccessKeyID, cfg.SecretAccessKey = sf.AccessKeyID, sf.SecretAccessKey
	if cfg.Bucket == "" {
		cfg.Bucket = "filegate"
	}
	if cfg.BundleBucket == "" {
		cfg.BundleBucket = "filegate-bundles"
	}
	sf.Endpoint, sf.Region = srv.Endpoint, cfg.Region
	sf.Buckets = map[string]string{"source": cfg.Bucket, "bundles": cfg.BundleBucket}
	if err := data.WriteStoreFile(sf); err != nil {
		_ = srv.Stop(ctx)
		return nil, cfg, err
	}
	return srv, cfg, nil
}

// persistedPort returns the port of a store endpoint written earlier, if it
// was on the same host.
func persistedPort(endpoint, host string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Hostname() != host {
		return ""
	}
	return u.Port()
}

// grantOrigins are the origins the grants point at (the store's public
// endpoint, the CloudFront domain): the web app's pages may talk to them.
// They are read off a signed URL, so every addressing style is covered.
func grantOrigins(ctx context.Context, src filegate.Bucket, cdn *cloudfront.Signer) ([]string, error) {
	g, err := src.PresignGet(ctx, "filegate-origin-probe", filegate.GetOptions{Expires: time.Minute})
	if err != nil {
		return nil, fmt.Errorf("web app: %w", err)
	}
	u, err := url.Parse(g.URL)
	if err != nil {
		return nil, fmt.Errorf("web app: %w", err)
	}
	origins := []string{u.Scheme + "://" + u.Host}
	if cdn != nil {
		origins = append(origins, "https://"+cdn.Domain())
	}
	return origins, nil
}

// streamMax maps --bundle-stream-max to bundle.Config.StreamMax (0 there
// is the default; here it turns streaming off).
func streamMax(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}
