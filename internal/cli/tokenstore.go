package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/filegate/filegate/auth"
	"github.com/filegate/filegate/datadir"
	"github.com/filegate/filegate/params"
	"github.com/filegate/filegate/store"
)

// maxTokenCache bounds --token-cache: a revocation must reach every
// replica within a minute.
const maxTokenCache = time.Minute

// awsAccess is how filegate reaches AWS services besides the bucket (SSM)
// and, for token commands, the bucket that holds an s3:// token document.
type awsAccess struct {
	endpoint, region, accessKeyID, secretAccessKey string
}

func (a awsAccess) config(ctx context.Context) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if a.region != "" {
		opts = append(opts, config.WithRegion(a.region))
	}
	if a.accessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(a.accessKeyID, a.secretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err == nil && cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, err
}

// ssmClient is an SSM client (AWS_ENDPOINT_URL_SSM is honoured by the SDK).
func (a awsAccess) ssmClient(ctx context.Context) (*ssm.Client, error) {
	cfg, err := a.config(ctx)
	if err != nil {
		return nil, err
	}
	return ssm.NewFromConfig(cfg), nil
}

// openTokens opens the token store spec names: "" or file:PATH (default
// <data>/tokens.json), s3://BUCKET/KEY, or ssm:NAME. st, when given, is
// the store an s3:// document is read through; otherwise one is opened
// with acc.
func openTokens(ctx context.Context, spec string, data datadir.Dir, cache time.Duration, st *store.Store, acc awsAccess) (*auth.Tokens, error) {
	if cache <= 0 || cache > maxTokenCache {
		return nil, fmt.Errorf("--token-cache must be between 1ns and %s", maxTokenCache)
	}
	switch {
	case spec == "":
		return data.Tokens(), nil
	case strings.HasPrefix(spec, "file:"):
		return auth.Open(strings.TrimPrefix(spec, "file:")), nil
	case strings.HasPrefix(spec, "s3://"):
		bucket, key, ok := strings.Cut(strings.TrimPrefix(spec, "s3://"), "/")
		if !ok || bucket == "" || key == "" {
			return nil, fmt.Errorf("--tokens %q: want s3://BUCKET/KEY", spec)
		}
		if st == nil {
			var err error
			st, err = store.New(ctx, store.Config{Endpoint: acc.endpoint, Region: acc.region, AccessKeyID: acc.accessKeyID, SecretAccessKey: acc.secretAccessKey, Bucket: bucket})
			if err != nil {
				return nil, err
			}
		}
		return auth.OpenDocument(st.Document(bucket, key), cache), nil
	case strings.HasPrefix(spec, "ssm:"):
		c, err := acc.ssmClient(ctx)
		if err != nil {
			return nil, err
		}
		return auth.OpenDocument(params.NewDocument(c, strings.TrimPrefix(spec, "ssm:")), cache), nil
	}
	return nil, fmt.Errorf("--tokens %q: want file:PATH, s3://BUCKET/KEY or ssm:NAME", spec)
}
