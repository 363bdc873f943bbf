package bundle

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestWorkers(t *testing.T) {
	w := newWorkers(4)
	var running, most, ran atomic.Int64
	for i := range 200 {
		w.Go(func() {
			n := running.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
			running.Add(-1)
			ran.Add(1)
		})
	}
	w.close()
	w.close() // a second close waits too, and does not panic
	if ran.Load() != 200 {
		t.Fatalf("close returned with %d of 200 functions run", ran.Load())
	}
	if most.Load() > 4 {
		t.Fatalf("%d functions ran at once, want at most 4", most.Load())
	}
	if w.n > 4 {
		t.Fatalf("%d workers started for 200 functions, want at most 4", w.n)
	}
}
