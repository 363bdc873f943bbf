package memstore

import (
	"testing"

	"github.com/filegate/filegate/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, New("mem"), storetest.Deviations{})
}
