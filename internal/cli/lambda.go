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

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/datadir"
	"github.com/filegate/filegate/serverless"
	"github.com/filegate/filegate/telemetry"
)

// maxInlineOnLambda keeps an inline caption, base64-encoded in a JSON
// answer, under API Gateway's 6 MB.
const maxInlineOnLambda = 4 << 20

// runLambda serves Lambda invocations: the API (FILEGATE_LAMBDA_ROLE=api,
// the default) or the API Gateway authorizer (FILEGATE_LAMBDA_ROLE=
// authorizer). The configuration is serve's, from the FILEGATE_* variables.
func runLambda(ctx context.Context, o serveOptions, getenv func(string) string, stderr io.Writer) error {
	level, err := o.check()
	if err != nil {
		return err
	}
	log := telemetry.Logger(stderr, level)
	// The data directory holds only a token file; with an s3:// or ssm:
	// token store (the usual on Lambda, whose code directory is read-only)
	// none is opened.
	var data datadir.Dir
	if o.tokens == "" || strings.HasPrefix(o.tokens, "file:") {
		if data, err = datadir.Open(o.data); err != nil {
			return err
		}
	}
	role := getenv("FILEGATE_LAMBDA_ROLE")
	switch role {
	case "authorizer":
		_, authn, err := o.openAuth(ctx, data, nil)
		if err != nil {
			return err
		}
		a := &serverless.Authorizer{Tokens: authn}
		log.Info("lambda ready", "role", role)
		lambda.StartWithOptions(a.Invoke, lambda.WithContext(ctx))
		return nil
	case "", "api":
	default:
		return fmt.Errorf("FILEGATE_LAMBDA_ROLE=%q: want api or authorizer", role)
	}
	if o.bucket == "" {
		return errors.New("on Lambda, FILEGATE_BUCKET names the bucket (there is no embedded store)")
	}
	if o.sessionKey == "" {
		return errors.New("on Lambda, FILEGATE_SESSION_KEY must be set: every instance seals upload sessions with the same key")
	}
	o.lambda = true
	o.captionMaxInline = sizeFlag(min(int64(o.captionMaxInline), maxInlineOnLambda))
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
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() { _ = stopTracing(context.WithoutCancel(ctx)) }()
	cdn, err := cdnSigner(ctx, o)
	if err != nil {
		return err
	}
	st, _, closeStore, err := openStore(ctx, o, getenv, data, "", tp, log)
	if err != nil {
		return err
	}
	defer closeStore()
	tokens, authn, err := o.openAuth(ctx, data, st)
	if err != nil {
		return err
	}
	handler, closeServices, err := wire(o, data, tokens, authn, st, false, cdn, tp, log, io.Discard)
	if err != nil {
		return err
	}
	defer closeServices()
	a := &serverless.Adapter{Handler: handler}
	log.Info("lambda ready", "role", "api", "bucket", st.Bucket)
	// Spans are flushed before each answer: a Lambda sandbox may be frozen
	// right after it, with the batch still unsent.
	flusher, _ := tp.(interface{ ForceFlush(context.Context) error })
	lambda.StartWithOptions(func(ctx context.Context, ev json.RawMessage) (any, error) {
		out, err := a.Invoke(ctx, ev)
		if flusher != nil {
			_ = flusher.ForceFlush(ctx)
		}
		return out, err
	}, lambda.WithContext(ctx))
	return nil
}
