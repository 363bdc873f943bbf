package store

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/filegate/filegate"
)

// STS is the store's security token service: Amazon STS (regional
// endpoint), or the store's own endpoint for S3-compatible stores that
// serve AssumeRole there (MinIO). It uses the store's credentials.
type STS struct {
	api     *sts.Client
	timeout time.Duration
}

// STS returns the store's STS client; endpoint overrides where it is
// reached ("" for the store's endpoint, or Amazon's regional STS).
func (s *Store) STS(endpoint string) *STS {
	if endpoint == "" {
		endpoint = s.endpoint
	}
	api := sts.NewFromConfig(s.awsCfg, func(o *sts.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return &STS{api: api, timeout: s.timeout}
}

// AssumeRole asks for credentials limited by req.Policy.
func (s *STS) AssumeRole(ctx context.Context, req filegate.AssumeRequest) (filegate.TempCredentials, error) {
	const op = "store.AssumeRole"
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(req.RoleARN),
		RoleSessionName: aws.String(req.SessionName),
		Policy:          aws.String(req.Policy),
		DurationSeconds: aws.Int32(int32(req.Duration / time.Second)),
	}
	if req.RoleARN == "" {
		// MinIO ignores the role; the API still wants one.
		in.RoleArn = aws.String("arn:aws:iam::000000000000:role/filegate")
	}
	out, err := s.api.AssumeRole(ctx, in)
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return filegate.TempCredentials{}, filegate.NewError(filegate.Unavailable, op, "sts_refused",
				"the store's STS refused: "+ae.ErrorCode()).Wrap(err)
		}
		return filegate.TempCredentials{}, filegate.NewError(filegate.Unavailable, op, "", "the store's STS does not answer").Wrap(err)
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return filegate.TempCredentials{}, filegate.NewError(filegate.Internal, op, "", "").Wrap(errors.New("STS answered without credentials"))
	}
	return filegate.TempCredentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken, Expires: *c.Expiration}, nil
}
