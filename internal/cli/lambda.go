package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/datadir"
	"github.com/filegate/filegate/serverless"
	"github.com/filegate/filegate/telemetry"
)

// jobEvent is the payload of the asynchronous invocation running a job.
type jobEvent struct {
	Job string `json:"filegate_job"`
}

// maxInlineOnLambda keeps an inline caption, base64-encoded in a JSON
// answer, under API Gateway's 6 MB.
const maxInlineOnLambda = 4 << 20

// runLambda serves Lambda invocations: the API (FILEGATE_LAMBDA_ROLE=api,
// the default) or the API Gateway authorizer (FILEGATE_LAMBDA_ROLE=
// authorizer). The configuration is serve's, from the FILEGATE_* variables.
func runLambda(ctx context.Context, o serveOptions, getenv func(string) string, stderr io.Writer) error {
	api := getenv("AWS_LAMBDA_RUNTIME_API")
	h, cleanup, err := lambdaHandler(ctx, o, getenv, stderr)
	if err != nil {
		serverless.InitError(api, err) // Lambda shows it as the init failure
		return err
	}
	defer cleanup()
	return serverless.Serve(ctx, api, h)
}

// lambdaHandler builds the handler of the configured role; cleanup
// releases what it holds.
func lambdaHandler(ctx context.Context, o serveOptions, getenv func(string) string, stderr io.Writer) (h serverless.Handler, cleanup func(), err error) {
	cleanup = func() {}
	level, err := o.check()
	if err != nil {
		return nil, cleanup, err
	}
	log := telemetry.Logger(stderr, level)
	// The data directory holds only a token file; with an s3:// or ssm:
	// token store (the usual on Lambda, whose code directory is read-only)
	// none is opened.
	var data datadir.Dir
	if o.tokens == "" || strings.HasPrefix(o.tokens, "file:") {
		if data, err = datadir.Open(o.data); err != nil {
			return nil, cleanup, err
		}
	}
	role := getenv("FILEGATE_LAMBDA_ROLE")
	switch role {
	case "authorizer":
		_, authn, err := o.openAuth(ctx, data, nil)
		if err != nil {
			return nil, cleanup, err
		}
		a := &serverless.Authorizer{Tokens: authn}
		log.Info("lambda ready", "role", role)
		return a.Invoke, cleanup, nil
	case "", "api":
	default:
		return nil, cleanup, fmt.Errorf("FILEGATE_LAMBDA_ROLE=%q: want api or authorizer", role)
	}
	if o.bucket == "" {
		return nil, cleanup, errors.New("on Lambda, FILEGATE_BUCKET names the bucket (there is no embedded store)")
	}
	if o.sessionKey == "" {
		return nil, cleanup, errors.New("on Lambda, FILEGATE_SESSION_KEY must be set: every instance seals upload sessions with the same key")
	}
	o.lambda = true
	switch getenv("FILEGATE_LAMBDA_STREAMING") {
	case "1", "true": // a Function URL with InvokeMode RESPONSE_STREAM
		o.streaming = true
	default:
		o.captionMaxInline = sizeFlag(min(int64(o.captionMaxInline), maxInlineOnLambda))
	}
	switch getenv("FILEGATE_TRUST_AUTHORIZER") {
	case "1", "true":
		o.vouched = func(r *http.Request) (*filegate.Principal, bool, error) {
			c := serverless.AuthorizerContextOf(r.Context())
			if c == nil {
				return nil, false, nil
			}
			p, err := serverless.PrincipalFromContext(c, time.Now())
			if err != nil {
				return nil, true, filegate.NewError(filegate.Unauthenticated, "lambda.authorizer", "invalid_token", "the authorizer's context is not usable").Wrap(err)
			}
			return p, true, nil
		}
	}
	tp, stopTracing, err := telemetry.Tracing(ctx, getenv, Version)
	if err != nil {
		return nil, cleanup, fmt.Errorf("tracing: %w", err)
	}
	cleanup = func() { _ = stopTracing(context.WithoutCancel(ctx)) }
	cdn, err := cdnSigner(ctx, o)
	if err != nil {
		return nil, cleanup, err
	}
	st, _, closeStore, err := openStore(ctx, o, getenv, data, "", tp, log)
	if err != nil {
		return nil, cleanup, err
	}
	stopTracingOnly := cleanup
	cleanup = func() { closeStore(); stopTracingOnly() }
	tokens, authn, err := o.openAuth(ctx, data, st)
	if err != nil {
		return nil, cleanup, err
	}
	// Jobs run in an invocation of this function, or of the one
	// FILEGATE_JOB_FUNCTION names (the streaming function hands them to the API's).
	fn := getenv("FILEGATE_JOB_FUNCTION")
	if fn == "" {
		fn = getenv("AWS_LAMBDA_FUNCTION_NAME")
	}
	if fn == "" {
		return nil, cleanup, errors.New("AWS_LAMBDA_FUNCTION_NAME is not set (Lambda sets it)")
	}
	acc := awsAccess{region: o.region}
	awsCfg, err := acc.config(ctx)
	if err != nil {
		return nil, cleanup, err
	}
	invoker := awslambda.NewFromConfig(awsCfg)
	// An async bundle job runs in its own asynchronous invocation of this
	// function (up to its timeout, 15 minutes at most), not after the answer.
	o.dispatch = func(ctx context.Context, id string) error {
		payload, _ := json.Marshal(jobEvent{Job: id})
		_, err := invoker.Invoke(ctx, &awslambda.InvokeInput{FunctionName: &fn, InvocationType: lambdatypes.InvocationTypeEvent, Payload: payload})
		return err
	}
	handler, bundles, err := wire(ctx, o, data, tokens, authn, st, false, cdn, tp, log, io.Discard, "")
	if err != nil {
		return nil, cleanup, err
	}
	closeAll := cleanup
	cleanup = func() { bundles.Close(); closeAll() }
	invoke := (&serverless.Adapter{Handler: handler}).Invoke
	if o.streaming {
		invoke = serverless.NewStreamingAdapter(handler, getenv("AWS_LAMBDA_RUNTIME_API")).Invoke
	}
	log.Info("lambda ready", "role", "api", "bucket", st.Bucket)
	// Spans are flushed before each answer: a Lambda sandbox may be frozen
	// right after it, with the batch still unsent.
	flusher, _ := tp.(interface{ ForceFlush(context.Context) error })
	return func(ctx context.Context, ev json.RawMessage) (any, error) {
		var job jobEvent
		if json.Unmarshal(ev, &job) == nil && job.Job != "" {
			// An error makes Lambda retry the invocation, by then with the
			// lease of a dead attempt expired.
			err := bundles.Resume(ctx, job.Job)
			if flusher != nil {
				_ = flusher.ForceFlush(ctx)
			}
			return map[string]string{"job": job.Job}, err
		}
		out, err := invoke(ctx, ev)
		if flusher != nil {
			_ = flusher.ForceFlush(ctx)
		}
		return out, err
	}, cleanup, nil
}
