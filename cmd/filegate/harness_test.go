package main

import (
	"os"
	"testing"

	"github.com/filegate/filegate/embedded/gateway"
)

func TestMain(m *testing.M) {
	gateway.StandIn() // the test binary is also the embedded store's helper
	if os.Getenv("FILEGATE_TEST_AS_MAIN") == "1" {
		main() // lifecycle tests run the test binary as the filegate command
		os.Exit(0)
	}
	os.Exit(m.Run())
}
