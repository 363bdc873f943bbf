package jpegcoef_test

import (
	"os"
	"testing"
	"time"

	"github.com/filegate/filegate/jpegcoef"
)

func TestTiming(t *testing.T) {
	data, _ := os.ReadFile("/tmp/p1080.jpg")
	for range 5 {
		t0 := time.Now()
		m, err := jpegcoef.Open(data)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		out, err := m.Encode()
		t2 := time.Now()
		m.Close()
		t.Log(len(data), len(out), t1.Sub(t0), t2.Sub(t1))
	}
}
