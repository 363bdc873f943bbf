//go:build cgo && libjpeg

package jpegcoef

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The JPEG standard's DCT (ITU T.81, A.3.3), computed from its definition.
func refFDCT(s *[64]float64) (F [64]float64) {
	for u := range 8 {
		for v := range 8 {
			var sum float64
			for y := range 8 {
				for x := range 8 {
					sum += s[y*8+x] * math.Cos(float64(2*x+1)*float64(v)*math.Pi/16) * math.Cos(float64(2*y+1)*float64(u)*math.Pi/16)
				}
			}
			F[u*8+v] = sum * refC(u) * refC(v) / 4
		}
	}
	return F
}

func refIDCT(F *[64]float64) (s [64]float64) {
	for y := range 8 {
		for x := range 8 {
			var sum float64
			for u := range 8 {
				for v := range 8 {
					sum += refC(u) * refC(v) * F[u*8+v] * math.Cos(float64(2*x+1)*float64(v)*math.Pi/16) * math.Cos(float64(2*y+1)*float64(u)*math.Pi/16)
				}
			}
			s[y*8+x] = sum / 4
		}
	}
	return s
}

func refC(u int) float64 {
	if u == 0 {
		return 1 / math.Sqrt2
	}
	return 1
}

// TestDCTsMatchTheStandard checks the transforms against the definition
// on random blocks and quantization tables, each block at a random place
// among others not wanted: coefficients within one quantization step's
// rounding (plus single precision's error), samples within one level, and
// the blocks not wanted left alone.
func TestDCTsMatchTheStandard(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const bw, bh, stride = 3, 2, 3*8 + 5
	for range 300 {
		var q [64]uint16
		for k := range q {
			q[k] = uint16(1 + rng.IntN(40))
		}
		d := NewDCT(&q)
		bx, by := rng.IntN(bw), rng.IntN(bh)
		want := make([]bool, bw*bh)
		want[by*bw+bx] = true
		pix := make([]uint8, bh*8*stride)
		for k := range pix {
			pix[k] = uint8(rng.IntN(256))
		}
		var s [64]float64
		for y := range 8 {
			for x := range 8 {
				s[y*8+x] = float64(pix[(by*8+y)*stride+bx*8+x]) - 128
			}
		}
		coefs := make([]int16, bw*bh*64)
		for k := range coefs {
			coefs[k] = 7777
		}
		d.Forward(pix, stride, want, bw, 0, bw, bh, coefs)
		F := refFDCT(&s)
		for k := range coefs {
			i := k / 64
			if i != by*bw+bx {
				if coefs[k] != 7777 {
					t.Fatalf("block %d, not wanted, was written", i)
				}
				continue
			}
			got, w := float64(coefs[k]), F[k%64]/float64(q[k%64])
			if math.Abs(got-w) > 0.5+1e-3 {
				t.Fatalf("fdct coefficient %d: %v, want %.4f (q %d)", k%64, got, w, q[k%64])
			}
		}

		var G [64]float64
		blk := coefs[(by*bw+bx)*64:][:64]
		for k := range blk {
			blk[k] = int16(rng.IntN(41) - 20)
			if k > 20 && rng.IntN(2) == 0 {
				blk[k] = 0
			}
			G[k] = float64(blk[k]) * float64(q[k])
		}
		before := append([]uint8(nil), pix...)
		d.Inverse(coefs, want, bw, 0, bw, bh, pix, stride)
		ref := refIDCT(&G)
		for i := range pix {
			y, x := i/stride, i%stride
			if y/8 != by || x/8 != bx || x >= bw*8 {
				if pix[i] != before[i] {
					t.Fatalf("sample (%d, %d) outside the wanted block changed", x, y)
				}
				continue
			}
			w := math.Max(0, math.Min(255, ref[(y%8)*8+x%8]+128))
			if math.Abs(float64(pix[i])-w) > 1 {
				t.Fatalf("idct sample %d: %d, want %.2f", (y%8)*8+x%8, pix[i], w)
			}
		}
	}
}

// TestDCTBounds: buffers too small for the blocks named are refused
// before any C code runs.
func TestDCTBounds(t *testing.T) {
	d := NewDCT(&[64]uint16{1})
	for _, c := range []struct {
		ncoef, nwant, bw, bx0, bx1, bh, npix, stride int
	}{
		{64 * 4, 4, 2, 0, 2, 2, 16 * 16, 15}, // stride below the columns
		{64 * 3, 4, 2, 0, 2, 2, 16 * 16, 16}, // coefficients short
		{64 * 4, 3, 2, 0, 2, 2, 16 * 16, 16}, // want short
		{64 * 4, 4, 2, 0, 2, 2, 16*16 - 1, 16},
		{64 * 4, 4, 2, 0, 3, 2, 16 * 16, 16}, // columns past bw
		{64 * 4, 4, 2, -1, 2, 2, 16 * 16, 16},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v: not refused", c)
				}
			}()
			d.Forward(make([]uint8, c.npix), c.stride, make([]bool, c.nwant), c.bw, c.bx0, c.bx1, c.bh, make([]int16, c.ncoef))
		}()
	}
	// Exactly large enough: accepted.
	d.Inverse(make([]int16, 64*4), make([]bool, 4), 2, 0, 2, 2, make([]uint8, 15*16+16), 16)
}

func BenchmarkDCT(b *testing.B) {
	var q [64]uint16
	for k := range q {
		q[k] = uint16(2 + k/4)
	}
	d := NewDCT(&q)
	const bw, bh = 64, 8
	rng := rand.New(rand.NewPCG(1, 2))
	pix := make([]uint8, bw*8*bh*8)
	for i := range pix {
		pix[i] = uint8(100 + rng.IntN(50))
	}
	want := make([]bool, bw*bh)
	for i := range want {
		want[i] = true
	}
	coefs := make([]int16, bw*bh*64)
	for b.Loop() {
		d.Forward(pix, bw*8, want, bw, 0, bw, bh, coefs)
		d.Inverse(coefs, want, bw, 0, bw, bh, pix, bw*8)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bw*bh), "ns/block")
}
