package store_test

import (
	"context"
	"os"
	"testing"

	"github.com/filegate/filegate/embedded/gateway"
	"github.com/filegate/filegate/store"
	"github.com/filegate/filegate/storetest"
)

func TestMain(m *testing.M) {
	gateway.StandIn() // the test binary is also the embedded store's helper
	os.Exit(m.Run())
}

// deviations are each real store's documented differences from S3 in what
// the conformance suite checks (see docs/stores.md).
var deviations = map[string]storetest.Deviations{
	"embedded": {},
	"minio":    {EmptyLastPage: true, AbortMissingIsOK: true},
}

// TestConformance runs the suite through the S3 adapter on every real
// store this machine has.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, srv := range storetest.Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			st, err := store.New(context.Background(), store.Config{Endpoint: srv.Endpoint, Region: "us-east-1",
				AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, Bucket: "conformance"})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.EnsureBucket(context.Background(), "conformance"); err != nil {
				t.Fatal(err)
			}
			storetest.Run(t, st.Source(), deviations[srv.Name])
		})
	}
}
