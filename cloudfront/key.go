package cloudfront

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// ParameterStore reads a parameter (SSM GetParameter with decryption).
type ParameterStore interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// LoadKey reads an RSA private key (PEM, PKCS#1 or PKCS#8) from a file, or
// from an SSM SecureString parameter when ref is "ssm:NAME".
func LoadKey(ctx context.Context, ref string, params ParameterStore) (*rsa.PrivateKey, error) {
	var pemBytes []byte
	if name, ok := strings.CutPrefix(ref, "ssm:"); ok {
		if params == nil {
			return nil, errors.New("cloudfront: no SSM client for " + ref)
		}
		out, err := params.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("cloudfront: read the private key from SSM parameter %s: %w", name, err)
		}
		if out.Parameter == nil || out.Parameter.Value == nil {
			return nil, fmt.Errorf("cloudfront: SSM parameter %s has no value", name)
		}
		pemBytes = []byte(*out.Parameter.Value)
	} else {
		b, err := os.ReadFile(ref)
		if err != nil {
			return nil, fmt.Errorf("cloudfront: %w", err)
		}
		pemBytes = b
	}
	if k, err := sign.LoadPEMPrivKey(bytes.NewReader(pemBytes)); err == nil {
		return k, nil
	}
	k, err := sign.LoadPEMPrivKeyPKCS8(bytes.NewReader(pemBytes))
	if err != nil {
		return nil, fmt.Errorf("cloudfront: the private key is not a PEM RSA key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("cloudfront: the private key is not RSA (CloudFront signs with RSA-SHA1)")
	}
	return rk, nil
}
