package store

import (
	"context"
	"net/http"
	"time"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/sigv4"
)

// signingTime is the clock of every grant; X-Amz-Date has second precision.
func signingTime() time.Time { return time.Now().Truncate(time.Second) }

func (s *Store) presign(ctx context.Context, op string, r *sigv4.Request) (filegate.Grant, error) {
	now := signingTime()
	u, err := s.signer.Presign(ctx, r, now)
	if err != nil {
		return filegate.Grant{}, filegate.NewError(filegate.Internal, op, "", "").WithKey(r.Key).Wrap(err)
	}
	return filegate.Grant{URL: u, Method: r.Method, Expires: now.Add(r.Expires)}, nil
}

// PresignGet signs a GET of bucket/key valid for opts.Expires.
func (s *Store) PresignGet(ctx context.Context, bucket, key string, opts filegate.GetOptions) (filegate.Grant, error) {
	return s.presign(ctx, "store.PresignGet", &sigv4.Request{
		Method: http.MethodGet, Op: "GetObject", Bucket: bucket, Key: key, Expires: opts.Expires,
		ResponseContentDisposition: opts.ContentDisposition,
	})
}
